import { Disconnects, type DisconnectValue } from '../../codes.js';
import { errorFrame } from './frames.js';

/**
 * The core's disconnects in Pusher's terms (docs/protocols/pusher.md, "Close codes"). pusher-js
 * reconnects 1 s after any close code below 4000, so the core's codes would make every terminal
 * disconnect a reconnect loop; it reads 4000–4099 as "do not reconnect", 4100–4199 as "reconnect
 * after a back-off", 4200–4299 as "reconnect at once" (§5).
 *
 * - Pusher's own codes (4000 and up), WebSocket's (below 3000, e.g. 1009 for a frame too large)
 *   and 3000 (the socket is dropped, no close frame) pass as they are.
 * - 3011 force reconnect: 4200 (reconnect at once). 3012 no pong: 4201.
 * - every other reconnectable core code (3000–3499: shutdown, slow, internal error, expired,
 *   too many requests...): 4100, so a client backs off first (never 4200 for a shutdown: pusher-js
 *   would reconnect in a ~100 ms loop).
 * - 3504 connection limit (too many connections of one user): 4004 "over connection quota".
 * - every other terminal core code (3500 and up: force disconnect, bad request, token revoked...): 4009.
 */
export function pusherCloseFor(d: DisconnectValue): DisconnectValue {
  const c = d.code;
  if (c < 3000 || c >= 4000 || c === Disconnects.connectionClosed.code) return d;
  if (c === Disconnects.forceReconnect.code) return { code: 4200, reason: d.reason };
  if (c === Disconnects.noPong.code) return { code: 4201, reason: d.reason };
  if (c < 3500) return { code: 4100, reason: d.reason };
  if (c === Disconnects.connectionLimit.code) return { code: 4004, reason: d.reason };
  return { code: 4009, reason: d.reason };
}

/**
 * The node's refusal of an upgrade, told to a Pusher client after the upgrade (an HTTP status
 * would leave pusher-js "connecting"): a `pusher:error` frame, then a close with its code. Over
 * capacity, over the connect rate, shutting down and server errors (5xx, 429): 4100, so pusher-js
 * retries after a back-off; anything else (origin not allowed, a declined connect): 4009, which
 * it does not retry.
 */
export function pusherRefusal(status: number, message: string): { frame: string; code: number; reason: string } {
  const code = status >= 500 || status === 429 ? 4100 : 4009;
  return { frame: errorFrame(code, message), code, reason: message };
}
