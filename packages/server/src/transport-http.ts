import type { ServerResponse } from 'node:http';
import type { Transport, TransportHandlers, TransportMode } from './transport.js';

const NL = Buffer.from('\n');
const SSE_DATA = Buffer.from('data: ');
const SSE_END = Buffer.from('\n\n');
const SSE_COMMENT = Buffer.from(':\n\n');

/**
 * How messages are laid on the response: one JSON text per line, one SSE `data:` event each, or
 * (`binary`, Centrifugo's Protobuf) back to back as they are (each message carries its own varint
 * length prefix). `binary` also marks the client's messages as binary for the protocol.
 */
export type StreamFraming = 'lines' | 'sse' | 'binary';

/** Inbound messages held while the connection is paused, per connection; past it the request is refused (busy). */
export const MAX_HELD_MESSAGES = 64;

export interface HttpStreamTransportOptions {
  /** `http_stream`, `sse`, `uni_http_stream`, `uni_sse` (logs, metrics). */
  readonly kind: string;
  readonly framing: StreamFraming;
  readonly mode: TransportMode;
  readonly session: { readonly id: string; readonly node: string };
  readonly remoteAddress: string | undefined;
  /** Maps each outbound message before framing (Centrifugo's unidirectional framing strips the push envelope). */
  readonly map?: ((message: Buffer) => Buffer) | undefined;
}

/**
 * A connection carried by one long-lived HTTP response (HTTP-streaming or Server-Sent Events):
 * outbound messages are written to the response as they come (the response is never buffered by
 * Node: each write goes to the socket, Nagle off), inbound ones arrive through `deliver` (the
 * emulation endpoint, or the opening request's body), held while paused. `close` ends the response;
 * the protocol wrote the code in a last message first (`closeInBand`).
 */
export class HttpStreamTransport implements Transport {
  readonly kind: string;
  readonly mode: TransportMode;
  readonly session: { readonly id: string; readonly node: string };
  readonly closeInBand = true;
  readonly remoteAddress: string | undefined;
  readonly #res: ServerResponse;
  readonly #sse: boolean;
  readonly #binary: boolean;
  readonly #map: ((message: Buffer) => Buffer) | undefined;
  #handlers: TransportHandlers | undefined;
  #paused = false;
  #held: Buffer[] = [];
  #done = false;
  /** Called once when the stream is over, whichever side ended it. */
  onDone: (() => void) | undefined;

  constructor(res: ServerResponse, o: HttpStreamTransportOptions) {
    this.#res = res;
    this.kind = o.kind;
    this.mode = o.mode;
    this.session = o.session;
    this.remoteAddress = o.remoteAddress;
    this.#sse = o.framing === 'sse';
    this.#binary = o.framing === 'binary';
    this.#map = o.map;
    res.on('close', () => this.#gone());
    res.on('error', () => this.#gone());
  }

  open(h: TransportHandlers): void {
    this.#handlers = h;
  }

  #gone(): void {
    if (this.#done) return;
    this.#done = true;
    this.#held = [];
    this.onDone?.();
    this.#handlers?.closed(1006, 'stream closed');
  }

  /**
   * One inbound client message (already size-checked). False when it cannot be taken: the stream
   * is over, or too many are held while the connection is paused.
   */
  deliver(data: Buffer): boolean {
    if (this.#done || this.#handlers === undefined) return false;
    if (this.#paused) {
      if (this.#held.length >= MAX_HELD_MESSAGES) return false;
      this.#held.push(data);
      return true;
    }
    this.#handlers.message(data, this.#binary);
    return true;
  }

  #frame(parts: Buffer[], m: Buffer): void {
    const msg = this.#map === undefined ? m : this.#map(m);
    if (this.#sse) parts.push(SSE_DATA, msg, SSE_END);
    else if (this.#binary) parts.push(msg);
    else parts.push(msg, NL);
  }

  #writeParts(parts: Buffer[]): void {
    if (this.#done || !this.#res.writable) return;
    this.#res.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  write(message: Buffer): void {
    const parts: Buffer[] = [];
    this.#frame(parts, message);
    this.#writeParts(parts);
  }

  writeMany(messages: readonly Buffer[]): void {
    const parts: Buffer[] = [];
    for (const m of messages) this.#frame(parts, m);
    this.#writeParts(parts);
  }

  /** Joined messages are framed one by one (a line, an event, or as they are), in one write. */
  writeJoined(messages: readonly Buffer[]): void {
    this.writeMany(messages);
  }

  get bufferedAmount(): number {
    return this.#res.writableLength;
  }

  /** No transport-level probe exists on a response: an SSE comment keeps proxies from idling it out. */
  ping(): void {
    if (this.#sse) this.#writeParts([SSE_COMMENT]);
    this.#handlers?.pong();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const m of held) {
      if (this.#paused || this.#done) {
        this.#held.push(m);
        continue;
      }
      this.#handlers?.message(m, this.#binary);
    }
  }

  close(): void {
    if (this.#done) return;
    this.#res.end();
    // A client that stops reading cannot hold the socket: it is cut off after a grace period.
    const res = this.#res;
    setTimeout(() => res.destroy(), 5_000).unref();
  }

  terminate(): void {
    this.#res.destroy();
  }
}
