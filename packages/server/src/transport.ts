/**
 * What a connection needs from the wire: write whole messages, know how much is still buffered,
 * close. The WebSocket transport is the only one today; the interface keeps protocols from
 * depending on `ws`.
 */
export interface Transport {
  /** Write one text message now. */
  write(message: Buffer): void;
  /** Write several text messages in one go (corked where the transport can). */
  writeMany(messages: readonly Buffer[]): void;
  /** Write a message whose bytes go to many connections (a publication): may be framed once for all. */
  writeShared?(message: Buffer): void;
  /** Write `messages` joined by `separator` as one text message, without joining them first. */
  writeJoined?(messages: readonly Buffer[], separator: Buffer): void;
  /** Bytes accepted by write() that the kernel has not taken yet. */
  readonly bufferedAmount: number;
  /** Protocol-level ping (WebSocket ping frame). */
  ping(): void;
  close(code: number, reason: string): void;
  /** Drop the connection without a close handshake. */
  terminate(): void;
  readonly remoteAddress: string | undefined;
}
