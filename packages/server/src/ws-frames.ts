import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * Prepared WebSocket frames: a publication's frame is built once and the same bytes are written to
 * every subscriber's TCP socket, instead of `ws.send` framing it again for each one.
 *
 * This is the one place that reaches into `ws` internals (`_socket`, `_sender`, `_extensions`,
 * stable across ws 8.x): `rawSocketOf` checks their shape once per connection and returns
 * undefined when anything differs (another ws version, permessage-deflate negotiated), and then
 * the transport uses the public `ws.send` (counted in `wsFrameStats()`; another shape of ws
 * internals also warns once). `ws` is pinned to a minor range for this reason, and a test asserts
 * the fast path is taken with the installed version. Writing to the socket directly is only correct while
 * ws's own sender has nothing queued (it queues while compressing or reading a Blob), so
 * `senderIdle` is checked before every direct write; ws's `bufferedAmount` keeps counting our
 * bytes because it reads the socket's own write buffer.
 */

interface WsInternals {
  _socket?: Duplex & { _writableState?: unknown };
  _sender?: { _state?: unknown; _queue?: unknown };
  _extensions?: Record<string, unknown>;
}

/**
 * How often this process took the prepared-frame path and why it fell back to `ws.send`, counted
 * here because the `ws` version (and so the shape of its internals) is the whole process's:
 * `connections` took the fast path; `internals` connections found ws internals of another shape (a
 * `ws` version this code does not know: also warned about once); `compression` connections
 * negotiated an extension (by design: ws compresses); `senderBusy` writes found ws's own sender busy
 * and went through `ws.send` to keep the order. The standalone server exports them on /metrics.
 */
export interface WsFrameStats {
  connections: number;
  fallback: { internals: number; compression: number; senderBusy: number };
}

const stats: WsFrameStats = { connections: 0, fallback: { internals: 0, compression: 0, senderBusy: 0 } };
let warned = false;

/** A snapshot of the prepared-frame counters of this process. */
export function wsFrameStats(): WsFrameStats {
  return { connections: stats.connections, fallback: { ...stats.fallback } };
}

/** The TCP socket of a server-side `ws` connection we may frame for ourselves, or undefined. */
export function rawSocketOf(ws: WebSocket): Duplex | undefined {
  const w = ws as unknown as WsInternals;
  const s = w._socket;
  const sender = w._sender;
  if (!s || typeof s.write !== 'function' || !s._writableState || !sender || typeof sender._state !== 'number' || !Array.isArray(sender._queue) || !w._extensions) {
    stats.fallback.internals++;
    if (!warned) {
      warned = true;
      process.emitWarning('switchboard: this version of ws has internals of another shape; every frame goes through ws.send (slower fan-out). Pin ws to the range @switchboard/server declares.', { code: 'SWITCHBOARD_WS_FRAME_FALLBACK' });
    }
    return undefined;
  }
  if (Object.keys(w._extensions).length > 0) {
    stats.fallback.compression++;
    return undefined;
  }
  stats.connections++;
  return s;
}

/** ws's sender has nothing of its own in flight, so our bytes cannot overtake its own. */
export function senderIdle(ws: WebSocket): boolean {
  const sender = (ws as unknown as WsInternals)._sender!;
  if (sender._state === 0 && (sender._queue as unknown[]).length === 0) return true;
  stats.fallback.senderBusy++;
  return false;
}

function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65_536 ? 4 : 10;
}

/** FIN + opcode: text (0x1) or binary (0x2). Server frames are not masked. */
const TEXT_OP = 0x81;
const BINARY_OP = 0x82;

function writeHeader(buf: Buffer, len: number, binary: boolean): number {
  buf[0] = binary ? BINARY_OP : TEXT_OP;
  if (len < 126) {
    buf[1] = len;
    return 2;
  }
  if (len < 65_536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
    return 4;
  }
  buf[1] = 127;
  buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  buf.writeUInt32BE(len >>> 0, 6);
  return 10;
}

/** One unfragmented text frame (binary with `binary`) holding `data`. */
export function textFrame(data: Buffer, binary = false): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(data.length) + data.length);
  data.copy(frame, writeHeader(frame, data.length, binary));
  return frame;
}

const prepared = new WeakMap<Buffer, Buffer>();

/**
 * The frame of a message that goes to many connections: built once, then reused. A message's bytes
 * belong to one protocol encoding, so they always go out with the same opcode.
 */
export function sharedTextFrame(data: Buffer, binary = false): Buffer {
  let f = prepared.get(data);
  if (f === undefined) {
    f = textFrame(data, binary);
    prepared.set(data, f);
  }
  return f;
}

/** One text (or binary) frame holding `parts` joined by `sep`, built in a single buffer. */
export function joinedTextFrame(parts: readonly Buffer[], sep: Buffer, binary = false): Buffer {
  let len = sep.length * (parts.length - 1);
  for (const p of parts) len += p.length;
  const frame = Buffer.allocUnsafe(headerLength(len) + len);
  let o = writeHeader(frame, len, binary);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) o += sep.copy(frame, o);
    o += parts[i]!.copy(frame, o);
  }
  return frame;
}
