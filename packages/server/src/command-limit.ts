import { Disconnects, DisconnectError, Errors, ReplyError } from './codes.js';

/**
 * The per-connection command rate limit (`Limits.commandRateLimit`), enforced by the core for every
 * client command of every protocol (subscribe, unsubscribe, publish, events, presence, history,
 * RPC, async messages), before middleware and handlers run.
 *
 * A token bucket: `rate` commands per second, bursts up to `rate`. A command with no token left is
 * refused with error 111 "too many requests" (cheap: no handler runs). Refused commands add to a
 * debt that drains at `rate` per second too; a client whose debt exceeds `rate` — it kept sending
 * at more than twice the limit for about a second after being told — is disconnected with 3013
 * "too many requests" (reconnect allowed, with the client's backoff).
 */
export class CommandRateLimiter {
  readonly #buckets = new WeakMap<object, { tokens: number; debt: number; at: number }>();

  constructor(readonly rate: number) {}

  /** Throws ReplyError(111) for a command over the rate, DisconnectError(3013) for sustained abuse. */
  check(conn: object): void {
    const rate = this.rate;
    const now = performance.now();
    let b = this.#buckets.get(conn);
    if (b === undefined) {
      this.#buckets.set(conn, (b = { tokens: rate - 1, debt: 0, at: now }));
      return;
    }
    const refill = ((now - b.at) / 1000) * rate;
    b.at = now;
    b.tokens = Math.min(rate, b.tokens + refill);
    b.debt = Math.max(0, b.debt - refill);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    b.debt += 1;
    if (b.debt > rate) throw new DisconnectError(Disconnects.tooManyRequests);
    throw new ReplyError(Errors.tooManyRequests);
  }
}
