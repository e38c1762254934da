import type { HistoryOptions, Publication, StreamPosition } from '@switchboard/server';
import type { Database } from './db.js';
import { DEFAULT_META_TTL_MS } from './history.js';

interface Entry {
  channel: string;
  pub: Publication;
  options: HistoryOptions;
}

const MAX_BATCH = 500;

/**
 * Calls of `run` one at a time: what is added while one is in flight waits, then goes with the
 * others in the next call (at most `max`, in arrival order). `run` answers one result per item, in
 * order; a failed call rejects every item in it.
 */
export class SerialBatcher<T, R> {
  #queue: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  #busy = false;

  constructor(
    readonly run: (items: T[]) => Promise<R[]>,
    readonly max = MAX_BATCH,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#busy) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.max);
        try {
          const results = await this.run(batch.map((e) => e.item));
          if (results.length !== batch.length) throw new Error(`${results.length} results for ${batch.length} items`);
          batch.forEach((e, i) => e.resolve(results[i]!));
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}

/**
 * Appends (with their wake-ups) in batches: while one transaction is in flight, the publications
 * that arrive wait and then go together in the next (`<schema>._append_batch`), in arrival order.
 * Notifying commits are serialised by PostgreSQL, one WAL flush each, so this is what lets
 * publications/s grow past one per flush. A failed batch rejects every publication in it.
 */
export class AppendBatcher {
  readonly #batcher: SerialBatcher<Entry, StreamPosition>;

  constructor(readonly db: Database) {
    const q = `SELECT o_offset, o_epoch FROM ${db.s}._append_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::integer[], $7::bigint[], $8::bigint[], $9::text[])`;
    this.#batcher = new SerialBatcher(async (batch) => {
      const rows = await this.db.run((sql) =>
        sql.unsafe<{ o_offset: string; o_epoch: string }[]>(
          q,
          [
            batch.map((e) => e.channel),
            batch.map((e) => e.pub.data),
            batch.map((e) => (e.pub.info === undefined ? null : JSON.stringify(e.pub.info))),
            batch.map((e) => (e.pub.tags === undefined ? null : JSON.stringify(e.pub.tags))),
            batch.map((e) => e.pub.time ?? null),
            batch.map((e) => Math.floor(e.options.size)),
            batch.map((e) => Math.ceil(e.options.ttlMs)),
            batch.map((e) => Math.ceil(e.options.metaTtlMs ?? DEFAULT_META_TTL_MS)),
            batch.map((e) => (e.pub.delivery === undefined ? null : JSON.stringify(e.pub.delivery))),
          ],
          { prepare: true },
        ),
      );
      return rows.map((r) => ({ offset: Number(r.o_offset), epoch: r.o_epoch }));
    });
  }

  add(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    if (!(options.size >= 1) || !(options.ttlMs >= 1)) return Promise.reject(new RangeError('history size and ttl must be positive'));
    return this.#batcher.add({ channel, pub, options });
  }
}
