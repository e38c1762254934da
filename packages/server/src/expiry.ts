/** Seconds until `expireAtMs` (ms since the epoch), at least 1: the `ttl` clients are told. */
export function ttlSeconds(expireAtMs: number, now = Date.now()): number {
  return Math.max(1, Math.floor((expireAtMs - now) / 1000));
}

/** A refresh answer: whether the credentials expire, and in how many seconds. */
export function expiry(expireAtMs: number): { expires: boolean; ttl: number } {
  return expireAtMs ? { expires: true, ttl: ttlSeconds(expireAtMs) } : { expires: false, ttl: 0 };
}
