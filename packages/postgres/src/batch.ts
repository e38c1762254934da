import type { HistoryOptions, Publication, StreamPosition } from '@switchboard/server';
import type { Database } from './db.js';
import { DEFAULT_META_TTL_MS } from './history.js';

interface Entry {
  channel: string;
  pub: Publication;
  options: HistoryOptions;
  resolve: (p: StreamPosition) => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = 500;

/**
 * Appends (with their wake-ups) in batches: while one transaction is in flight, the publications
 * that arrive wait and then go together in the next (`<schema>._append_batch`), in arrival order.
 * Notifying commits are serialised by PostgreSQL, one WAL flush each, so this is what lets
 * publications/s grow past one per flush. A failed batch rejects every publication in it.
 */
export class AppendBatcher {
  #queue: Entry[] = [];
  #busy = false;
  readonly #q: string;
  /** Transactions sent (for measurements). */
  batches = 0;

  constructor(readonly db: Database) {
    this.#q = `SELECT o_offset, o_epoch FROM ${db.s}._append_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::integer[], $7::bigint[], $8::bigint[], $9::text[])`;
  }

  add(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    if (!(options.size >= 1) || !(options.ttlMs >= 1)) return Promise.reject(new RangeError('history size and ttl must be positive'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ channel, pub, options, resolve, reject });
      if (!this.#busy) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          const rows = await this.db.run((sql) =>
            sql.unsafe<{ o_offset: string; o_epoch: string }[]>(
              this.#q,
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
          this.batches++;
          batch.forEach((e, i) => e.resolve({ offset: Number(rows[i]!.o_offset), epoch: rows[i]!.o_epoch }));
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}
