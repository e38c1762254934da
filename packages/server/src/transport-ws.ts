import type { WebSocket } from 'ws';
import type { Transport } from './transport.js';

const TEXT = { binary: false } as const;

/** A `ws` WebSocket as a Transport. */
export class WsTransport implements Transport {
  constructor(readonly ws: WebSocket, readonly remoteAddress: string | undefined) {}

  write(message: Buffer): void {
    if (this.ws.readyState === 1) this.ws.send(message, TEXT);
  }

  writeMany(messages: readonly Buffer[]): void {
    if (this.ws.readyState !== 1) return;
    // Corked: the frames leave in one write instead of one system call each.
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket?.cork();
    for (const m of messages) this.ws.send(m, TEXT);
    socket?.uncork();
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  ping(): void {
    if (this.ws.readyState === 1) this.ws.ping();
  }

  close(code: number, reason: string): void {
    const rs = this.ws.readyState;
    if (rs === 0 || rs === 1) {
      // Close reasons must fit a control frame: 123 bytes.
      this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
      // A peer that never answers the close handshake is cut off.
      setTimeout(() => this.ws.terminate(), 5_000).unref();
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}
