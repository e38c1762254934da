/**
 * Acknowledged delivery (issue 21). In a namespace with `acknowledge: true` (and history), every
 * publication delivered on an authenticated subscription is pending for its *consumer* until the
 * consumer acknowledges its offset (`$ack` RPC: `{ channel, offsets: [...] }`). A consumer is the
 * user, or the user and a client id the subscriber names in the subscribe request's data
 * (`{ "ackClient": "phone-1" }`): each client id then has its own pending set.
 *
 * The pending sets live in an `AckStore` (the engine's: memory here; Redis, PostgreSQL, NATS and
 * SQLite in their packages),
 * so with a shared store a consumer that reconnects to another node, or to a restarted node, gets
 * what it had not acknowledged, and `unacknowledged(channel, offset)` answers for every node. The
 * store keeps offsets only: the publications are read from the channel's history when they are sent
 * again, so a pending offset whose publication left the history is dropped (at least once *while
 * the history keeps the publication*).
 *
 * Each node (`AckTracker`) schedules the redeliveries of the consumers subscribed on it: what it
 * delivered is due `ackTimeoutMs` later; when due it takes the due offsets from the store (moving
 * them `ackTimeoutMs` on, atomically, so two nodes never take the same ones at once) and sends them.
 */
import { EpochMismatchError, type HistoryStore } from './history.js';
import type { Publication } from './types.js';

/** The RPC method of acknowledgements. */
export const ACK_METHOD = '$ack';
/** At most this many offsets in one `$ack`. */
export const MAX_ACK_OFFSETS = 1000;
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;
/** Pending publications kept per consumer and channel (the lowest offsets are dropped beyond). */
export const MAX_UNACKED = 1000;
/** The subscribe data field naming a client's own consumer. */
export const ACK_CLIENT_FIELD = 'ackClient';
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Who has not acknowledged: the user, and the client id when the subscriber named one. */
export interface AckConsumer {
  readonly user: string;
  readonly client?: string;
}

/** The store's key of a consumer: `<client>\n<user>` (the client id never holds a newline). */
export function consumerKey(user: string, client = ''): string {
  return `${client}\n${user}`;
}

export function parseConsumer(key: string): AckConsumer {
  const i = key.indexOf('\n');
  const client = key.slice(0, i);
  const user = key.slice(i + 1);
  return client === '' ? { user } : { user, client };
}

/**
 * The consumer client id of a subscribe request's data: `undefined` when it names none, an Error
 * (its message for a 107) when it is not a string of 1-64 of `A-Z a-z 0-9 . _ : -`.
 */
export function ackClientOf(data: unknown): string | undefined | Error {
  if (typeof data !== 'object' || data === null || !(ACK_CLIENT_FIELD in data)) return undefined;
  const v = (data as Record<string, unknown>)[ACK_CLIENT_FIELD];
  if (typeof v === 'string' && CLIENT_ID.test(v)) return v;
  return new Error(`${ACK_CLIENT_FIELD}: 1-64 characters of A-Z a-z 0-9 . _ : -`);
}

export interface AckResult {
  readonly acked: number;
  /** Offsets that were not pending for the consumer (never sent, already acknowledged, dropped). */
  readonly unknown: readonly number[];
}

export interface AckTake {
  /** The epoch of the stream the offsets belong to ('' when unknown: matches any). */
  readonly epoch: string;
  /** Ascending. */
  readonly offsets: number[];
  /** The earliest due time left after the take (ms), undefined when nothing is pending. */
  readonly next: number | undefined;
}

/**
 * What each consumer has not acknowledged, per channel. One implementation per engine; every node
 * of a cluster must see the same store for acks to follow a consumer between nodes.
 *
 * Contract (`ackStoreConformance` in `@switchboard/server/testing`):
 * - `add` makes the offsets pending for the consumer, due at `dueAt` (an offset already pending only
 *   moves its due time); it records `epoch` as the stream's, and a different epoch than the one
 *   recorded forgets the consumer's pending offsets first (the stream was lost). Beyond `MAX_UNACKED`
 *   pending per consumer and channel the lowest offsets are dropped. What a consumer has pending is
 *   forgotten `ttlMs` after its last `add` (the history would not have it any more).
 * - `ack` removes pending offsets and counts them; the others are returned as unknown.
 * - `take` returns (ascending, at most `limit`) the offsets due by `upTo` and moves them to `dueAt`,
 *   atomically: two concurrent takes never return the same offset unless it fell due again.
 * - `unacknowledged` lists the consumers (keys) for which `offset` is pending, sorted.
 */
export interface AckStore {
  add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void>;
  ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult>;
  take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake>;
  drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void>;
  unacknowledged(channel: string, offset: number): Promise<string[]>;
  close(): Promise<void>;
}

interface MemoryPending {
  epoch: string;
  /** offset → due time */
  readonly due: Map<number, number>;
  expiresAt: number;
}

/** The ack store of one process (every node created in it may share one instance). */
export class MemoryAckStore implements AckStore {
  /** channel → consumer → pending */
  readonly #pending = new Map<string, Map<string, MemoryPending>>();
  #adds = 0;

  constructor(readonly now: () => number = Date.now) {}

  #get(channel: string, consumer: string): MemoryPending | undefined {
    const byConsumer = this.#pending.get(channel);
    const p = byConsumer?.get(consumer);
    if (p !== undefined && (p.expiresAt <= this.now() || p.due.size === 0)) {
      byConsumer!.delete(consumer);
      if (byConsumer!.size === 0) this.#pending.delete(channel);
      return undefined;
    }
    return p;
  }

  add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void> {
    if (++this.#adds % 1024 === 0) this.#sweep();
    let p = this.#get(channel, consumer);
    if (p !== undefined && p.epoch !== epoch) p.due.clear(); // the stream was lost
    if (p === undefined) {
      p = { epoch, due: new Map(), expiresAt: 0 };
      let byConsumer = this.#pending.get(channel);
      if (byConsumer === undefined) this.#pending.set(channel, (byConsumer = new Map<string, MemoryPending>()));
      byConsumer.set(consumer, p);
    }
    p.epoch = epoch;
    p.expiresAt = this.now() + ttlMs;
    for (const off of offsets) p.due.set(off, dueAt);
    if (p.due.size > MAX_UNACKED) {
      const sorted = [...p.due.keys()].sort((a, b) => a - b);
      for (const off of sorted.slice(0, p.due.size - MAX_UNACKED)) p.due.delete(off);
    }
    return Promise.resolve();
  }

  ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    const p = this.#get(channel, consumer);
    let acked = 0;
    const unknown: number[] = [];
    for (const off of offsets) {
      if (p !== undefined && p.due.delete(off)) acked++;
      else unknown.push(off);
    }
    this.#get(channel, consumer); // forgets an emptied entry
    return Promise.resolve({ acked, unknown });
  }

  take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake> {
    const p = this.#get(channel, consumer);
    if (p === undefined) return Promise.resolve({ epoch: '', offsets: [], next: undefined });
    const offsets = [...p.due]
      .filter(([, due]) => due <= upTo)
      .sort((a, b) => a[1] - b[1] || a[0] - b[0])
      .slice(0, limit)
      .map(([off]) => off)
      .sort((a, b) => a - b);
    for (const off of offsets) p.due.set(off, dueAt);
    let next: number | undefined;
    for (const due of p.due.values()) if (next === undefined || due < next) next = due;
    return Promise.resolve({ epoch: p.epoch, offsets, next });
  }

  drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void> {
    const p = this.#get(channel, consumer);
    if (p !== undefined) for (const off of offsets) p.due.delete(off);
    this.#get(channel, consumer);
    return Promise.resolve();
  }

  unacknowledged(channel: string, offset: number): Promise<string[]> {
    const out: string[] = [];
    for (const consumer of [...(this.#pending.get(channel)?.keys() ?? [])]) {
      if (this.#get(channel, consumer)?.due.has(offset) === true) out.push(consumer);
    }
    return Promise.resolve(out.sort());
  }

  #sweep(): void {
    for (const [channel, byConsumer] of this.#pending) for (const consumer of [...byConsumer.keys()]) this.#get(channel, consumer);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a node's tracker needs from the node. */
export interface AckHost {
  readonly store: AckStore;
  readonly history: HistoryStore;
  /** Whether `consumer` has a live acknowledged subscription to `channel` on this node. */
  subscribed(channel: string, consumer: string): boolean;
  /** Sends publications again to the consumer's subscriptions of `channel` here; false: none. */
  send(channel: string, consumer: string, pubs: readonly Publication[]): boolean;
  reportError(err: unknown): void;
}

interface Due {
  readonly channel: string;
  readonly consumer: string;
  at: number;
  timeoutMs: number;
  busy: boolean;
}

interface Queued {
  readonly channel: string;
  readonly consumer: string;
  readonly epoch: string;
  readonly offsets: number[];
  readonly dueAt: number;
  readonly ttlMs: number;
}

/** A node's side of acknowledged delivery: records deliveries in the store, schedules redeliveries. */
export class AckTracker {
  /** Deliveries of this turn, written to the store in one call per channel, consumer and epoch. */
  #queue = new Map<string, Queued>();
  #flushScheduled = false;
  /** Resolves once every store write begun so far is done (an ack waits for it: it must find them). */
  #writes: Promise<void> = Promise.resolve();
  /** When a consumer subscribed here has something due (channel\0consumer → due). */
  readonly #due = new Map<string, Due>();
  #timer: NodeJS.Timeout | undefined;
  /** Publications sent again (tests, metrics). */
  redeliveries = 0;

  constructor(
    readonly host: AckHost,
    readonly now: () => number = Date.now,
    readonly tickMs = 250,
  ) {}

  /** A publication went out to `consumer` on `channel`: pending until acknowledged. */
  delivered(channel: string, consumer: string, pub: Publication, timeoutMs: number, ttlMs: number): void {
    const off = pub.offset;
    if (off === undefined || off <= 0) return;
    const epoch = pub.epoch ?? '';
    const k = `${channel}\0${consumer}\0${epoch}`;
    const dueAt = this.now() + timeoutMs;
    let q = this.#queue.get(k);
    if (q === undefined) this.#queue.set(k, (q = { channel, consumer, epoch, offsets: [], dueAt, ttlMs: Math.max(ttlMs, 1000) }));
    q.offsets.push(off);
    this.#schedule(channel, consumer, dueAt, timeoutMs);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      const w = Promise.resolve().then(() => this.#flush());
      this.#writes = Promise.all([this.#writes, w]).then(() => undefined);
    }
  }

  async #flush(): Promise<void> {
    const queue = this.#queue;
    this.#queue = new Map();
    this.#flushScheduled = false;
    await Promise.all(
      [...queue.values()].map((q) => this.host.store.add(q.channel, q.consumer, q.epoch, q.offsets, q.dueAt, q.ttlMs).catch((err: unknown) => this.host.reportError(err))),
    );
  }

  /** Deliveries recorded so far are in the store (an ack right after a delivery finds it). */
  settled(): Promise<void> {
    return this.#writes;
  }

  async ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    await this.settled();
    return this.host.store.ack(channel, consumer, offsets);
  }

  async unacknowledged(channel: string, offset: number): Promise<AckConsumer[]> {
    await this.settled();
    return (await this.host.store.unacknowledged(channel, offset)).map(parseConsumer);
  }

  /**
   * Everything `consumer` has pending on `channel`, read from the history, oldest first (a
   * subscribe: sent right after its reply, to that subscription only); their next redelivery is
   * `timeoutMs` from now.
   */
  async pending(channel: string, consumer: string, timeoutMs: number): Promise<Publication[]> {
    await this.settled();
    try {
      const t = await this.host.store.take(channel, consumer, Number.POSITIVE_INFINITY, this.now() + timeoutMs, MAX_UNACKED);
      if (t.next !== undefined) this.#schedule(channel, consumer, t.next, timeoutMs);
      return await this.#read(channel, consumer, t);
    } catch (err) {
      // the store or the history is away: the subscribe goes on, and a redelivery round comes after the timeout
      this.host.reportError(err);
      this.#schedule(channel, consumer, this.now() + timeoutMs, timeoutMs);
      return [];
    }
  }

  /** Counts publications a subscribe sent again (the subscription sends them itself). */
  resent(count: number): void {
    this.redeliveries += count;
  }

  /** The publications of taken offsets; those the history has no more are dropped from the store. */
  async #read(channel: string, consumer: string, t: AckTake): Promise<Publication[]> {
    if (t.offsets.length === 0) return [];
    const first = t.offsets[0]!;
    const last = t.offsets[t.offsets.length - 1]!;
    let pubs: Publication[];
    try {
      pubs = (await this.host.history.read(channel, { since: { offset: first - 1, epoch: t.epoch }, limit: last - first + 1 })).publications;
    } catch (err) {
      if (!(err instanceof EpochMismatchError)) throw err;
      pubs = []; // the stream was lost: none of these offsets names its publication any more
    }
    const want = new Set(t.offsets);
    const out = pubs.filter((p) => want.has(p.offset!));
    if (out.length < t.offsets.length) {
      const have = new Set(out.map((p) => p.offset!));
      await this.host.store.drop(
        channel,
        consumer,
        t.offsets.filter((o) => !have.has(o)),
      );
    }
    return out;
  }

  #schedule(channel: string, consumer: string, at: number, timeoutMs: number): void {
    const k = `${channel}\0${consumer}`;
    const d = this.#due.get(k);
    if (d === undefined) this.#due.set(k, { channel, consumer, at, timeoutMs, busy: false });
    else {
      if (at < d.at) d.at = at;
      d.timeoutMs = timeoutMs;
    }
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.tick(), this.tickMs);
      this.#timer.unref();
    }
  }

  /** Redelivers what fell due to the consumers subscribed here; stops the timer when nothing is scheduled. */
  tick(): void {
    const now = this.now();
    for (const [k, d] of this.#due) {
      if (d.busy || d.at > now) continue;
      if (!this.host.subscribed(d.channel, d.consumer)) {
        this.#due.delete(k); // gone from this node: the node it subscribes on next takes over
        continue;
      }
      d.busy = true;
      void this.#redeliver(k, d, now);
    }
    if (this.#due.size === 0) this.close();
  }

  async #redeliver(k: string, d: Due, now: number): Promise<void> {
    d.at = Number.POSITIVE_INFINITY; // a delivery scheduled meanwhile lowers it
    try {
      await this.settled();
      const t = await this.host.store.take(d.channel, d.consumer, now, now + d.timeoutMs, 100);
      const pubs = await this.#read(d.channel, d.consumer, t);
      if (pubs.length > 0 && this.host.send(d.channel, d.consumer, pubs)) this.redeliveries += pubs.length;
      if (t.next !== undefined) d.at = Math.min(d.at, t.next);
      else if (d.at === Number.POSITIVE_INFINITY) this.#due.delete(k);
    } catch (err) {
      d.at = Math.min(d.at, now + d.timeoutMs);
      this.host.reportError(err);
    } finally {
      d.busy = false;
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
