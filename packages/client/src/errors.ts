/**
 * Errors the SDK hands to applications. They are values with a `kind` (what failed) and, when the
 * server gave one, its numeric `code` (Centrifugo's ranges: reply errors 100..1999, unsubscribe
 * 2000..2999, disconnects 3000..4999; 1 = unauthorized as reported by the centrifuge SDK).
 */

import type { ContractIssue } from '@switchboard/contract';

export type RealtimeErrorKind =
  /** The server refused the credentials (bad or revoked token, or getToken said "no"): terminal. */
  | 'unauthorized'
  /** getToken threw or rejected: the SDK retries with backoff until `maxTokenFailures`. */
  | 'token'
  /** The server disconnected for good (a terminal disconnect code other than unauthorized). */
  | 'disconnected'
  /** A connect reply error or a transport failure while (re)connecting. */
  | 'connection'
  /** A subscription was refused or ended by the server. */
  | 'subscribe'
  /** An application handler threw; the SDK caught it so the connection stays up. */
  | 'handler'
  /** A message or a publish did not match the channel's contract (`issues` says how). */
  | 'validation'
  /** The SDK was misused (closed instance, uninitialised singleton, bad options). */
  | 'usage';

export class RealtimeError extends Error {
  readonly kind: RealtimeErrorKind;
  /** The server's or the SDK's numeric code, when there is one. */
  readonly code: number | undefined;
  /** The channel concerned, for subscription and handler errors. */
  readonly channel: string | undefined;
  /** For `validation` errors: what the contract's schema reported. */
  readonly issues: readonly ContractIssue[] | undefined;
  constructor(kind: RealtimeErrorKind, message: string, opts: { code?: number; channel?: string; cause?: unknown; issues?: readonly ContractIssue[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RealtimeError';
    this.kind = kind;
    this.code = opts.code;
    this.channel = opts.channel;
    this.issues = opts.issues;
  }
}

/** Throw this from `getToken` to say "this user may not connect": no retry, an `unauthorized` error. */
export class UnauthorizedError extends Error {
  constructor(message = 'unauthorized') {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

/** Disconnect codes the server uses for refused credentials (3500 invalid token, 3507 permission denied) and the SDK's own 1. */
export function isUnauthorizedCode(code: number): boolean {
  return code === 1 || code === 3500 || code === 3507;
}
