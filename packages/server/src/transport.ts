/** What a connection knows of the HTTP request that opened it (whatever the transport). */
export interface ConnectionRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly remoteAddress: string | undefined;
  readonly query: URLSearchParams;
}

/** What a transport reports to its connection. Called only after `open`. */
export interface TransportHandlers {
  /**
   * One whole client message: a WebSocket message; for a request-based transport, the body of one
   * client request (e.g. one POST of an HTTP-streaming or SSE session). Already size-checked.
   */
  message(data: Buffer, isBinary: boolean): void;
  /** The answer to `ping` (a WebSocket pong; a transport without one reports it once the ping is written). */
  pong(): void;
  /** An inbound message was over the size limit; the transport closes itself with `code` (1009). */
  oversized?(code: number): void;
  /** The transport is gone (peer closed, network error): no more writes will reach the client. */
  closed(code: number, reason: string): void;
}

/**
 * The byte pipe under a connection. Sessions and the core never see `ws` or HTTP objects, only this:
 * a duplex of whole messages with flow control. Two shapes fit it:
 *
 * - a **socket** (WebSocket, `transport-ws.ts`): messages arrive on one socket; `pause`/`resume`
 *   stop reading it (TCP pushes back on the client); `ping` is the WebSocket ping.
 * - a **request-based stream** (HTTP-streaming / SSE, next transports issue): outbound messages go
 *   down one long-lived response (`write` frames them as chunks / `data:` lines, `bufferedAmount`
 *   is the response's `writableLength`); inbound messages arrive as separate POST requests that the
 *   endpoint routes to the connection by its session id and hands to `message`. `pause` makes the
 *   endpoint hold (not read) further POST bodies until `resume`; `ping` writes a heartbeat and
 *   reports `pong` when written; `close` ends the response (the code travels in a last frame).
 */
/**
 * How a protocol must frame its messages on a transport, in Centrifugo's terms: `emulation`
 * (server→client on this stream, client→server as separate requests addressed to `session`),
 * `unidirectional` (server→client only; the connect request came with the opening request or as
 * the first message). Absent: an ordinary bidirectional socket.
 */
export type TransportMode = 'emulation' | 'unidirectional';

export interface Transport {
  /** Short name for logs and metrics (`websocket`, `http_stream`, `sse`, `uni_websocket`, `uni_sse`, `uni_http_stream`). */
  readonly kind: string;
  /** See TransportMode; absent for a bidirectional socket. */
  readonly mode?: TransportMode;
  /** Emulation and unidirectional: the secret id the client names the session by, and the node holding it. */
  readonly session?: { readonly id: string; readonly node: string };
  /**
   * The transport cannot carry a close code (an HTTP response just ends; Centrifugo's
   * unidirectional WebSocket): the protocol writes the code and reason in a last message first.
   */
  readonly closeInBand?: boolean;
  readonly remoteAddress: string | undefined;
  /** Start delivering inbound events to `handlers` (once, when the connection exists). */
  open(handlers: TransportHandlers): void;
  /** Write one text message now. */
  write(message: Buffer): void;
  /** Write several text messages in one go (corked where the transport can). */
  writeMany(messages: readonly Buffer[]): void;
  /** Write a message whose bytes go to many connections (a publication): may be framed once for all. */
  writeShared?(message: Buffer): void;
  /** Write `messages` joined by `separator` as one text message, without joining them first. */
  writeJoined?(messages: readonly Buffer[], separator: Buffer): void;
  /** Bytes accepted by write() that the kernel (or the response) has not taken yet. */
  readonly bufferedAmount: number;
  /** Transport-level liveness probe; its answer comes back as `handlers.pong`. */
  ping(): void;
  /** Stop delivering inbound messages (inbound backpressure) until `resume`. A few already read may still arrive. */
  pause(): void;
  resume(): void;
  close(code: number, reason: string): void;
  /** Drop the connection without a close handshake. */
  terminate(): void;
}
