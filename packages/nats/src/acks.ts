import type { AckResult, AckStore, AckTake } from '@switchboard/server';
import { MAX_UNACKED } from '@switchboard/server';
import type { KV } from 'nats';
import { withTimeout } from './broker.js';
import { type NatsConnectionOptions, NatsLink, token, untoken } from './link.js';

/** How long a consumer's entry outlives its last write unless told otherwise (30 days). */
export const DEFAULT_ACKS_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
/** Compare-and-set rounds before a write gives up (other nodes writing the same entry meanwhile). */
const MAX_ROUNDS = 20;

interface Entry {
  /** The stream epoch of the offsets. */
  e: string;
  /** Expires at (ms since the epoch). */
  x: number;
  /** Pending offset → due time (ms). */
  d: Record<string, number>;
}

/**
 * The ack store in a JetStream key-value bucket (`<prefix>_acks`; the AckStore contract of
 * `@switchboard/server`), shared by every node: one key per channel and consumer
 * (`<channel>.<consumer>`, both as subject tokens) holding the stream epoch, the expiry and the
 * pending offsets with their due times. Every change is a compare-and-set on the key's revision
 * (retried when another node wrote it meanwhile), so `take` is atomic across nodes.
 * `unacknowledged` lists the channel's keys from the stream's subject index and reads each: a
 * cost per consumer of the channel. The bucket's max age (`maxAgeMs`, 30 days by default) removes
 * the keys of consumers that never come back; each value also carries its own expiry.
 */
export class JetStreamAckStore implements AckStore {
  readonly link: NatsLink;
  readonly maxAgeMs: number;
  #kv: Promise<KV> | undefined;

  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { maxAgeMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_ACKS_MAX_AGE_MS;
    if (!(this.maxAgeMs >= 1000)) throw new RangeError('acks max age must be at least 1 s');
  }

  /** Creates (or binds) the bucket; rejects with a clear error without JetStream. */
  ready(): Promise<KV> {
    this.#kv ??= (async () => {
      const { js } = await this.link.jetstream();
      return js.views.kv(this.link.names.acksBucket, { ttl: this.maxAgeMs, history: 1 });
    })();
    this.#kv.catch(() => {
      this.#kv = undefined;
    });
    return this.#kv;
  }

  static #key(channel: string, consumer: string): string {
    return `${token(channel)}.${token(consumer)}`;
  }

  /** Reads the live entry (undefined: none, or expired), lets `change` edit it, writes it back by compare-and-set. */
  async #update<R>(channel: string, consumer: string, change: (e: Entry | undefined) => { entry: Entry | undefined | 'keep'; result: R }): Promise<R> {
    const kv = await this.ready();
    const key = JetStreamAckStore.#key(channel, consumer);
    let last: unknown;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const got = await withTimeout(kv.get(key), 5000, 'NATS ack read');
      const exists = got !== null && got.operation === 'PUT';
      let entry: Entry | undefined = exists ? (JSON.parse(got.string()) as Entry) : undefined;
      if (entry !== undefined && entry.x <= Date.now()) entry = undefined;
      const { entry: next, result } = change(entry);
      if (next === 'keep') return result;
      try {
        if (next === undefined) {
          if (exists) await withTimeout(kv.delete(key, { previousSeq: got.revision }), 5000, 'NATS ack write');
        } else if (got !== null) await withTimeout(kv.update(key, JSON.stringify(next), got.revision), 5000, 'NATS ack write');
        else await withTimeout(kv.create(key, JSON.stringify(next)), 5000, 'NATS ack write');
        return result;
      } catch (err) {
        last = err; // another node wrote the key meanwhile (or NATS is away): read it again
      }
    }
    throw last instanceof Error ? last : new Error('NATS ack store: write failed');
  }

  async add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void> {
    if (offsets.length === 0) return;
    await this.#update(channel, consumer, (e) => {
      const d = e !== undefined && e.e === epoch ? { ...e.d } : {};
      for (const off of offsets) d[off] = Math.floor(dueAt);
      const keys = Object.keys(d);
      if (keys.length > MAX_UNACKED) for (const k of keys.map(Number).sort((a, b) => a - b).slice(0, keys.length - MAX_UNACKED)) delete d[k];
      return { entry: { e: epoch, x: Date.now() + Math.max(1, Math.ceil(ttlMs)), d }, result: undefined };
    });
  }

  ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    return this.#update(channel, consumer, (e) => {
      let acked = 0;
      const unknown: number[] = [];
      const d = { ...(e?.d ?? {}) };
      for (const off of offsets) {
        if (d[off] !== undefined) {
          delete d[off];
          acked++;
        } else unknown.push(off);
      }
      if (acked === 0) return { entry: 'keep', result: { acked, unknown } };
      return { entry: { ...e!, d }, result: { acked, unknown } };
    });
  }

  take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake> {
    return this.#update(channel, consumer, (e): { entry: Entry | 'keep'; result: AckTake } => {
      if (e === undefined) return { entry: 'keep', result: { epoch: '', offsets: [], next: undefined } };
      const due = Object.entries(e.d)
        .map(([k, v]) => [Number(k), v] as const)
        .filter(([, v]) => v <= upTo)
        .sort((a, b) => a[1] - b[1] || a[0] - b[0])
        .slice(0, limit)
        .map(([k]) => k);
      const d = { ...e.d };
      for (const off of due) d[off] = Math.floor(dueAt);
      const values = Object.values(d);
      const next = values.length > 0 ? Math.min(...values) : undefined;
      const result = { epoch: e.e, offsets: due.sort((a, b) => a - b), next };
      return { entry: due.length > 0 ? { ...e, d } : 'keep', result };
    });
  }

  async drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.#update(channel, consumer, (e) => {
      if (e === undefined) return { entry: 'keep', result: undefined };
      const d = { ...e.d };
      for (const off of offsets) delete d[off];
      return { entry: { ...e, d }, result: undefined };
    });
  }

  async unacknowledged(channel: string, offset: number): Promise<string[]> {
    const kv = await this.ready();
    const { jsm } = await this.link.jetstream();
    const bucket = this.link.names.acksBucket;
    const prefix = `$KV.${bucket}.`;
    // the channel's keys from the stream's subject index (as presence does), then each key's value
    const info = await withTimeout(jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${token(channel)}.*` }), 5000, 'NATS ack read');
    const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
    const entries = await withTimeout(
      Promise.all(keys.map(async (k) => [k, await kv.get(k)] as const)),
      5000,
      'NATS ack read',
    );
    const now = Date.now();
    const out: string[] = [];
    for (const [k, got] of entries) {
      if (got === null || got.operation !== 'PUT') continue;
      const e = JSON.parse(got.string()) as Entry;
      if (e.x > now && e.d[offset] !== undefined) out.push(untokenConsumer(k));
    }
    return out.sort();
  }

  async close(): Promise<void> {
    await this.link.release();
  }
}

/** The consumer of a `<channel>.<consumer>` key (tokens never hold a dot). */
function untokenConsumer(key: string): string {
  const tok = key.slice(key.indexOf('.') + 1);
  const v = untoken(tok);
  if (v === undefined) throw new Error(`NATS ack store: a key this store never wrote: ${key}`);
  return v;
}
