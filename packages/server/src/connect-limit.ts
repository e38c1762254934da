/**
 * The node-wide connect rate limit (`Limits.maxConnectsPerSecond`): a token bucket over every
 * WebSocket upgrade the node accepts, bursts up to the rate. Checked before any authentication
 * work, so a reconnect storm past what the node absorbs is refused cheaply with HTTP 503 and a
 * Retry-After (clients back off and retry) instead of queueing JWT checks until they time out.
 * (Pusher clients, which cannot read an HTTP refusal, get `pusher:error` 4100 after the upgrade.)
 */
export class ConnectRateLimiter {
  #tokens: number;
  #at = performance.now();

  constructor(readonly rate: number) {
    this.#tokens = rate;
  }

  /** Takes a token; false when the node is over its connect rate. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
