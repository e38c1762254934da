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

/** Longest `version_epoch` accepted. */
export const MAX_VERSION_EPOCH_LENGTH = 256;

/**
 * Centrifugo's publish `version` / `version_epoch`, as the node hands them to a broker that checks
 * them (`Broker.versionedPublish`): the channel keeps the version (and its epoch) of its last
 * versioned publication with its history stream; a publication whose version is not greater than
 * that, and whose epoch is the same (or empty), is stale: not appended, not delivered, and the call
 * resolves with the stream's current top. A new history stream (lost, removed) forgets the version.
 */
export interface VersionedPublish {
  /** > 0. */
  readonly version: number;
  /** '' matches any stored epoch. */
  readonly epoch: string;
  /** Called when the publication was stale (dropped). */
  stale?(): void;
}

/**
 * Node-local version check, for brokers that do not check versions themselves: exact on one node
 * (the check and the record happen synchronously, before the publication goes to the broker, so
 * concurrent publications of one node cannot both pass), and for publications that reach the same
 * node. The last version of each channel is kept for `ttlMs` after its publication (as a stream's
 * metadata outlives its publications); at most `maxEntries` channels, the least recently
 * published forgotten first.
 */
export class VersionGate {
  readonly #last = new Map<string, { version: number; epoch: string; until: number }>();

  constructor(readonly maxEntries = 100_000) {}

  get size(): number {
    return this.#last.size;
  }

  /** Whether `v` is stale for `channel`; when it is not, records it (the caller then publishes). */
  admit(channel: string, v: { version: number; epoch: string }, ttlMs: number): { stale: true } | { stale: false; undo: () => void } {
    const now = Date.now();
    const cur = this.#last.get(channel);
    if (cur !== undefined && cur.until > now && (v.epoch === '' || v.epoch === cur.epoch) && v.version <= cur.version) return { stale: true };
    const entry = { version: v.version, epoch: v.epoch, until: now + ttlMs };
    this.#last.delete(channel);
    this.#last.set(channel, entry);
    while (this.#last.size > this.maxEntries) this.#last.delete(this.#last.keys().next().value!);
    return {
      stale: false,
      // A publication that failed leaves the previous version in place (a retry is not stale).
      undo: () => {
        if (this.#last.get(channel) !== entry) return;
        this.#last.delete(channel);
        if (cur !== undefined) this.#last.set(channel, cur);
      },
    };
  }
}
