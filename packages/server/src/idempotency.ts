import type { StreamPosition } from './types.js';

/** How long the result of an idempotent publication is kept (Centrifugo keeps it 5 minutes). */
export const DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 5 * 60_000;
/** Longest idempotency key accepted. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;

/** Options of one idempotent publication, as the node hands them to a broker that supports them. */
export interface IdempotentPublish {
  /** Per channel: a second publication with the same key within `ttlMs` is not published again. */
  readonly key: string;
  readonly ttlMs: number;
  /** Called when the publication was a duplicate (its first result is returned). */
  duplicate?(): void;
}

/**
 * Results of idempotent publications, node-local: a publication whose key was seen on the channel
 * within the TTL resolves with the first one's result and is not published again. A key still in
 * flight makes the second caller wait for the first (and share its result or its error: a failed
 * publication is not remembered, so a retry after a failure publishes).
 *
 * Bounded: at most `maxEntries` results; past that the oldest are forgotten before their TTL (a
 * retry that late would publish again). Used by the node for brokers that do not deduplicate
 * across nodes themselves (`Broker.idempotentPublish`), which makes the guarantee hold for retries
 * that reach the same node.
 */
export class IdempotencyCache {
  readonly #done = new Map<string, { pos: StreamPosition | undefined; until: number }>();
  readonly #inFlight = new Map<string, Promise<StreamPosition | undefined>>();

  constructor(
    readonly ttlMs = DEFAULT_IDEMPOTENT_RESULT_TTL_MS,
    readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.#done.size;
  }

  async run(channel: string, key: string, publish: () => Promise<StreamPosition | undefined>, duplicate?: () => void): Promise<StreamPosition | undefined> {
    const id = `${channel}\u0000${key}`;
    const now = Date.now();
    this.#prune(now);
    const done = this.#done.get(id);
    if (done !== undefined && done.until > now) {
      duplicate?.();
      return done.pos;
    }
    const pending = this.#inFlight.get(id);
    if (pending !== undefined) {
      duplicate?.();
      return pending;
    }
    const p = publish();
    this.#inFlight.set(id, p);
    try {
      const pos = await p;
      this.#done.delete(id);
      this.#done.set(id, { pos, until: Date.now() + this.ttlMs });
      while (this.#done.size > this.maxEntries) this.#done.delete(this.#done.keys().next().value!);
      return pos;
    } finally {
      this.#inFlight.delete(id);
    }
  }

  /** Insertion order is expiry order (one TTL): drop from the head. */
  #prune(now: number): void {
    for (const [id, e] of this.#done) {
      if (e.until > now) return;
      this.#done.delete(id);
    }
  }
}
