/**
 * What tabs sharing one connection say to each other over their BroadcastChannel. Followers tell
 * the leader which channels they want (with the last position they processed); the leader holds
 * the connection and broadcasts what it receives. `to` addresses one tab; without it, all listen.
 */
import { RealtimeError, type RealtimeErrorKind } from '../errors.js';
import type { ConnectionState, LinkEvents, LinkPublication, LinkSubscribed, StreamPosition } from '../link.js';

export interface Interest {
  ch: string;
  /** The last position the tab processed on the channel. */
  pos?: StreamPosition;
  /** The tab has been subscribed before (a hand-over, not a first subscription). */
  again: boolean;
}

export interface WireError {
  kind: RealtimeErrorKind;
  message: string;
  code?: number;
  channel?: string;
  issues?: RealtimeError['issues'];
}

export type CallOp = 'publish' | 'rpc' | 'connect' | 'disconnect';

export type TabMessage =
  // follower → leader
  | { t: 'hello'; tab: string; interests: Interest[] }
  | { t: 'open'; tab: string; interest: Interest }
  | { t: 'close'; tab: string; ch: string }
  | { t: 'bye'; tab: string }
  | { t: 'call'; tab: string; id: number; op: CallOp; name?: string; data?: unknown }
  // leader → followers
  | { t: 'leader'; tab: string }
  | { t: 'reply'; to: string; id: number; ok: true; value: unknown }
  | { t: 'reply'; to: string; id: number; ok: false; error: WireError }
  | { t: 'state'; to?: string; state: ConnectionState }
  | { t: 'event'; name: 'connected' | 'disconnected' | 'subscribed' | 'resync'; value: LinkEvents['connected' | 'disconnected' | 'subscribed' | 'resync'] }
  | { t: 'error'; error: WireError }
  | { t: 'pub'; p: LinkPublication }
  | { t: 'spub'; p: LinkPublication }
  | { t: 'sub'; to?: string; s: LinkSubscribed; from?: StreamPosition }
  | { t: 'chanerr'; ch: string; error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof RealtimeError) {
    const w: WireError = { kind: err.kind, message: err.message };
    if (err.code !== undefined) w.code = err.code;
    if (err.channel !== undefined) w.channel = err.channel;
    if (err.issues !== undefined) w.issues = err.issues;
    return w;
  }
  return { kind: 'connection', message: err instanceof Error ? err.message : String(err) };
}

export function fromWire(w: WireError): RealtimeError {
  const opts: ConstructorParameters<typeof RealtimeError>[2] = {};
  if (w.code !== undefined) opts.code = w.code;
  if (w.channel !== undefined) opts.channel = w.channel;
  if (w.issues !== undefined) opts.issues = w.issues;
  return new RealtimeError(w.kind, w.message, opts);
}

/** The position furthest behind, so a recovery covers every tab; positions of another epoch are ignored. */
export function earliest(positions: Iterable<StreamPosition | undefined>): StreamPosition | undefined {
  let min: StreamPosition | undefined;
  for (const p of positions) {
    if (!p) continue;
    if (!min) min = p;
    else if (p.epoch === min.epoch && p.offset < min.offset) min = p;
  }
  return min;
}
