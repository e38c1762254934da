/**
 * Error and disconnect codes, shared by every protocol and by the client SDK.
 * The numbers and their ranges are Centrifugo's (client protocol v2), so its SDKs react correctly:
 * - reply errors 100..199 (app-defined: 400..1999);
 * - unsubscribe codes 2000..2999 (< 2500: stay unsubscribed; >= 2500: resubscribe);
 * - disconnect codes 3000..3499 / 4000..4499 reconnect, 3500..3999 / 4500..4999 are terminal.
 */

export interface ErrorValue {
  readonly code: number;
  readonly message: string;
  readonly temporary?: boolean;
}

export const Errors = {
  internal: { code: 100, message: 'internal server error', temporary: true },
  unauthorized: { code: 101, message: 'unauthorized' },
  unknownChannel: { code: 102, message: 'unknown channel' },
  permissionDenied: { code: 103, message: 'permission denied' },
  methodNotFound: { code: 104, message: 'method not found' },
  alreadySubscribed: { code: 105, message: 'already subscribed' },
  limitExceeded: { code: 106, message: 'limit exceeded' },
  badRequest: { code: 107, message: 'bad request' },
  notAvailable: { code: 108, message: 'not available' },
  tokenExpired: { code: 109, message: 'token expired' },
  expired: { code: 110, message: 'expired' },
  tooManyRequests: { code: 111, message: 'too many requests', temporary: true },
  unrecoverablePosition: { code: 112, message: 'unrecoverable position' },
} as const satisfies Record<string, ErrorValue>;

export interface DisconnectValue {
  readonly code: number;
  /** Plain text, never JSON, never empty: centrifuge-js only honours the code when the reason is plain text. */
  readonly reason: string;
}

export const Disconnects = {
  connectionClosed: { code: 3000, reason: 'connection closed' },
  shutdown: { code: 3001, reason: 'shutdown' },
  internal: { code: 3004, reason: 'internal server error' },
  expired: { code: 3005, reason: 'connection expired' },
  subExpired: { code: 3006, reason: 'subscription expired' },
  slow: { code: 3008, reason: 'slow' },
  writeError: { code: 3009, reason: 'write error' },
  insufficientState: { code: 3010, reason: 'insufficient state' },
  forceReconnect: { code: 3011, reason: 'force reconnect' },
  noPong: { code: 3012, reason: 'no pong' },
  tooManyRequests: { code: 3013, reason: 'too many requests' },
  invalidToken: { code: 3500, reason: 'invalid token' },
  badRequest: { code: 3501, reason: 'bad request' },
  stale: { code: 3502, reason: 'stale' },
  forceNoReconnect: { code: 3503, reason: 'force disconnect' },
  connectionLimit: { code: 3504, reason: 'connection limit' },
  channelLimit: { code: 3505, reason: 'channel limit' },
  inappropriateProtocol: { code: 3506, reason: 'inappropriate protocol' },
  permissionDenied: { code: 3507, reason: 'permission denied' },
  notAvailable: { code: 3508, reason: 'not available' },
  tooManyErrors: { code: 3509, reason: 'too many errors' },
  /** The connection's token was revoked (by `jti`, or every token of its user issued before a time). */
  tokenRevoked: { code: 3520, reason: 'token revoked' },
  /** WebSocket's own code for a frame over the read limit; centrifuge-js treats it as terminal. */
  messageTooBig: { code: 1009, reason: 'message too big' },
} as const satisfies Record<string, DisconnectValue>;

export const Unsubscribes = {
  server: { code: 2000, reason: 'server unsubscribe' },
  insufficientState: { code: 2500, reason: 'insufficient state' },
  expired: { code: 2501, reason: 'subscription expired' },
} as const satisfies Record<string, DisconnectValue>;

/** Whether a client told this disconnect code should reconnect (Centrifugo's ranges). */
export function disconnectReconnects(code: number): boolean {
  if (code < 3000) return code !== 1009;
  return (code >= 3000 && code < 3500) || (code >= 4000 && code < 4500) || code >= 5000;
}

/**
 * An error thrown by app handlers (or by the core) to answer a command with a coded error.
 * Protocols convert it at the session boundary: a reply error for Centrifugo, an ERROR frame for
 * PondSocket, an error frame for plain JSON.
 */
export class ReplyError extends Error implements ErrorValue {
  readonly code: number;
  readonly temporary: boolean;
  constructor(code: number | ErrorValue, message?: string, temporary = false) {
    const v = typeof code === 'number' ? { code, message: message ?? 'error' } : code;
    super(message ?? v.message);
    this.code = v.code;
    this.temporary = typeof code === 'number' ? temporary : (v.temporary ?? temporary);
    this.name = 'ReplyError';
  }
}

/**
 * A join or subscribe declined by the app (`ctx.decline(status, message)` in a join handler or
 * `onSubscribe`): a reply error (103 permission denied for HTTP-like statuses, else the app's own
 * code) that also carries the HTTP-like `status` protocols such as PondSocket report.
 */
export class DeclinedError extends ReplyError {
  readonly status: number;
  constructor(code: number, message: string) {
    super(code < 600 ? Errors.permissionDenied.code : code, message);
    this.status = code < 600 ? code : 403;
    this.name = 'DeclinedError';
  }
}

/** Thrown to close the connection with a code (e.g. from a handler that decides a client must go). */
export class DisconnectError extends Error implements DisconnectValue {
  readonly code: number;
  readonly reason: string;
  constructor(value: DisconnectValue) {
    super(value.reason);
    this.code = value.code;
    this.reason = value.reason;
    this.name = 'DisconnectError';
  }
}
