import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Transport, TransportHandlers, TransportMode } from './transport.js';
import { joinedTextFrame, rawSocketOf, senderIdle, sharedTextFrame, textFrame } from './ws-frames.js';

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;
/** Larger messages go through ws.send (no copy into a frame buffer). */
const MAX_COPY = 16 * 1024;

const HANDLERS = Symbol('switchboard.transportHandlers');
type EventsOf = WebSocket & { [HANDLERS]: TransportHandlers };
const handlersOf = (ws: WebSocket): TransportHandlers => (ws as EventsOf)[HANDLERS];
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  handlersOf(this).message(data, isBinary);
}
function onPong(this: WebSocket): void {
  handlersOf(this).pong();
}
function onError(this: WebSocket, err: Error & { code?: string }): void {
  // ws reports oversized frames as errors and then closes with 1009.
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') handlersOf(this).oversized?.(1009);
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  handlersOf(this).closed(code, reason.toString());
}

/**
 * A `ws` WebSocket as a Transport. Where no extension was negotiated, text frames are built here
 * and written to the TCP socket in one write (a publication's frame once for all its recipients);
 * otherwise, and whenever ws has writes of its own queued, `ws.send` does the framing.
 */
export class WsTransport implements Transport {
  readonly kind: string = 'websocket';
  readonly #raw: Duplex | undefined;
  readonly #opts: { readonly binary: boolean };

  /** `binary`: every message goes out as a binary frame (a binary protocol encoding such as Centrifugo's Protobuf). */
  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string | undefined,
    readonly binary = false,
  ) {
    this.#raw = rawSocketOf(ws);
    this.#opts = binary ? BINARY : TEXT;
  }

  open(h: TransportHandlers): void {
    // Listeners shared by every connection (`this` is the socket), the handlers kept on the socket:
    // no closures per connection.
    const ws = this.ws as EventsOf;
    ws[HANDLERS] = h;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  pause(): void {
    if (this.ws.readyState === 1) this.ws.pause();
  }

  resume(): void {
    if (this.ws.readyState === 1) this.ws.resume();
  }

  write(message: Buffer): void {
    if (this.ws.readyState !== 1) return;
    if (this.#raw !== undefined && message.length <= MAX_COPY && senderIdle(this.ws)) this.#raw.write(textFrame(message, this.binary));
    else this.ws.send(message, this.#opts);
  }

  writeShared(message: Buffer): void {
    if (this.ws.readyState !== 1) return;
    if (this.#raw !== undefined && senderIdle(this.ws)) this.#raw.write(sharedTextFrame(message, this.binary));
    else this.ws.send(message, this.#opts);
  }

  writeJoined(messages: readonly Buffer[], separator: Buffer): void {
    if (this.ws.readyState !== 1) return;
    if (this.#raw !== undefined && senderIdle(this.ws)) this.#raw.write(joinedTextFrame(messages, separator, this.binary));
    else this.ws.send(Buffer.concat(messages.flatMap((m, i) => (i === 0 ? [m] : [separator, m]))), this.#opts);
  }

  writeMany(messages: readonly Buffer[]): void {
    if (this.ws.readyState !== 1) return;
    const raw = this.#raw;
    if (raw !== undefined && senderIdle(this.ws)) {
      // Mostly publications queued in one tick: their frames are shared with the other recipients.
      raw.cork();
      for (const m of messages) raw.write(m.length <= MAX_COPY ? sharedTextFrame(m, this.binary) : textFrame(m, this.binary));
      raw.uncork();
      return;
    }
    // Corked: the frames leave in one write instead of one system call each.
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket?.cork();
    for (const m of messages) this.ws.send(m, this.#opts);
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
      this.ws.close(code, fitCloseReason(reason));
      // A peer that never answers the close handshake is cut off. The timer goes once the socket
      // closes, so it does not keep a closed connection (and its session) alive for 5 s.
      const cut = setTimeout(() => this.ws.terminate(), 5_000).unref();
      this.ws.once('close', () => clearTimeout(cut));
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Centrifugo's unidirectional WebSocket: the server only pushes, one push per WebSocket message,
 * each mapped (the push envelope stripped) before it is framed; the close code also travels in a
 * last disconnect push (`closeInBand`), as Centrifugo sends it.
 */
export class UniWsTransport extends WsTransport {
  override readonly kind: string = 'uni_websocket';
  readonly mode: TransportMode = 'unidirectional';
  readonly closeInBand = true;

  constructor(
    ws: WebSocket,
    remoteAddress: string | undefined,
    readonly session: { readonly id: string; readonly node: string },
    readonly map: (message: Buffer) => Buffer,
  ) {
    super(ws, remoteAddress);
  }

  override write(message: Buffer): void {
    super.write(this.map(message));
  }

  override writeShared(message: Buffer): void {
    super.write(this.map(message));
  }

  override writeJoined(messages: readonly Buffer[]): void {
    super.writeMany(messages.map(this.map));
  }

  override writeMany(messages: readonly Buffer[]): void {
    super.writeMany(messages.map(this.map));
  }
}

/**
 * A close reason cut to fit a control frame (123 bytes of UTF-8) at a character boundary. A cut by
 * bytes could split a character, whose replacement (3 bytes) may push the reason past 123, which
 * `ws` refuses by throwing.
 */
export function fitCloseReason(reason: string): string {
  if (reason.length * 3 <= 123) return reason; // no UTF-16 unit takes more than 3 bytes
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  const last = r.charCodeAt(r.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? r.slice(0, -1) : r; // not half a surrogate pair
}
