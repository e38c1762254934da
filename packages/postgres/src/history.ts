import { EpochMismatchError, type HistoryOptions, type HistoryReadOptions, type HistoryReadResult, type HistoryStore, type Publication, type StreamPosition } from '@switchboard/server';
import { rowPub } from './codec.js';
import { Database, type PostgresConnectionOptions } from './db.js';

/** How long a stream's epoch and top outlive its last append by default (as the memory store). */
export const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

/**
 * The publication and its history options, checked, as the first eight arguments of
 * `<schema>._append` and of the functions built on it (`_append_versioned`, `_append_idempotent`).
 */
export function appendArgs(channel: string, pub: Publication, options: HistoryOptions): (string | number | null)[] {
  if (!(options.size >= 1) || !(options.ttlMs >= 1)) throw new RangeError('history size and ttl must be positive');
  return [
    channel,
    pub.data,
    pub.info === undefined ? null : JSON.stringify(pub.info),
    pub.tags === undefined ? null : JSON.stringify(pub.tags),
    pub.time ?? null,
    Math.floor(options.size),
    Math.ceil(options.ttlMs),
    Math.ceil(options.metaTtlMs ?? DEFAULT_META_TTL_MS),
  ];
}

/** Appends through `<schema>._append` without a wake-up (the broker's publishes go through AppendBatcher). */
async function appendRow(db: Database, channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
  const args = [...appendArgs(channel, pub, options), false, null];
  const rows = await db.run((sql) =>
    sql.unsafe<{ o_offset: string; o_epoch: string }[]>(
      `SELECT o_offset, o_epoch FROM ${db.s}._append($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::integer, $7::bigint, $8::bigint, $9::boolean, $10::text)`,
      args,
      { prepare: true },
    ),
  );
  return { offset: Number(rows[0]!.o_offset), epoch: rows[0]!.o_epoch };
}

interface ReadRow {
  epoch: string;
  top: string;
  offset?: string | null;
  data: string;
  info: null;
  tags: null;
  time_ms: null;
}

/**
 * History in two tables: `channels` (per channel: epoch, top offset, metadata expiry) and
 * `history` (one row per publication, keyed by channel and offset, with its own expiry). Reads
 * take the stream's metadata and its rows in one statement, so the top and the rows agree.
 */
export class PostgresHistoryStore implements HistoryStore {
  readonly db: Database;
  readonly #metaTtlMs: number;
  readonly #q: { fwd: string; rev: string; none: string };

  constructor(options: PostgresConnectionOptions | { db: Database; metaTtlMs?: number }) {
    this.db = 'db' in options ? options.db.acquire() : new Database(options).acquire();
    this.#metaTtlMs = ('metaTtlMs' in options ? options.metaTtlMs : undefined) ?? DEFAULT_META_TTL_MS;
    const s = this.db.s;
    const meta = `WITH m AS (SELECT id, epoch, top FROM ${s}.channels WHERE name = $1 AND meta_expires_at > now())`;
    const cols = `m.epoch, m.top, h."offset", h.data, h.info, h.tags, h.time_ms`;
    this.#q = {
      fwd: `${meta} SELECT ${cols} FROM m LEFT JOIN LATERAL (SELECT * FROM ${s}.history h WHERE h.channel_id = m.id AND h.expires_at > now() AND h."offset" > $2 ORDER BY h."offset" LIMIT $3) h ON true`,
      rev: `${meta} SELECT ${cols} FROM m LEFT JOIN LATERAL (SELECT * FROM ${s}.history h WHERE h.channel_id = m.id AND h.expires_at > now() AND h."offset" < $2 ORDER BY h."offset" DESC LIMIT $3) h ON true`,
      none: `SELECT epoch, top FROM ${s}.channels WHERE name = $1 AND meta_expires_at > now()`,
    };
  }

  async append(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    return appendRow(this.db, channel, pub, options);
  }

  async read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    const since = options.since;
    const limit = options.limit < 0 ? null : Math.floor(options.limit);
    for (let attempt = 0; ; attempt++) {
      let rows: ReadRow[];
      if (limit === 0) {
        rows = await this.db.run((sql) => sql.unsafe<ReadRow[]>(this.#q.none, [channel], { prepare: true }));
      } else if (options.reverse) {
        const before = since ? Math.floor(since.offset) : Number.MAX_SAFE_INTEGER;
        rows = await this.db.run((sql) => sql.unsafe<ReadRow[]>(this.#q.rev, [channel, before, limit], { prepare: true }));
      } else {
        const after = since ? Math.max(0, Math.floor(since.offset)) : 0;
        rows = await this.db.run((sql) => sql.unsafe<ReadRow[]>(this.#q.fwd, [channel, after, limit], { prepare: true }));
      }
      if (rows.length === 0) {
        // unknown or lost stream: create it (new epoch, offset 0) and read again
        if (attempt > 0) throw new Error(`history of ${channel}: the stream vanished while being created`);
        await this.#ensure(channel);
        continue;
      }
      const position = { offset: Number(rows[0]!.top), epoch: rows[0]!.epoch };
      if (since !== undefined && since.epoch !== '' && since.epoch !== position.epoch) throw new EpochMismatchError(position);
      const publications: Publication[] = [];
      for (const r of rows) if (r.offset !== null && r.offset !== undefined) publications.push(rowPub(r as Parameters<typeof rowPub>[0], position.epoch));
      return { publications, position };
    }
  }

  async #ensure(channel: string): Promise<void> {
    await this.db.run((sql) => sql.unsafe(`SELECT 1 FROM ${this.db.s}._lock_stream($1::text, $2::bigint)`, [channel, Math.ceil(this.#metaTtlMs)], { prepare: true }));
  }

  async position(channel: string): Promise<StreamPosition> {
    return (await this.read(channel, { limit: 0 })).position;
  }

  async remove(channel: string): Promise<void> {
    await this.db.run((sql) => sql.unsafe(`DELETE FROM ${this.db.s}.channels WHERE name = $1`, [channel], { prepare: true }));
  }

  async close(): Promise<void> {
    await this.db.release();
  }
}

/**
 * Tells `<schema>.publish` which history each namespace keeps ('' for channels without a
 * namespace), so that a publication made in SQL is stored like one made through the API. Replaces
 * what was there: every node writes the same from the same configuration.
 */
export async function setHistoryOptions(db: Database, byNamespace: Record<string, HistoryOptions | undefined>): Promise<void> {
  await db.run((sql) =>
    sql.begin(async (tx) => {
      // nodes starting together write the same rows: one at a time
      await tx.unsafe(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`switchboard-history-options:${db.schema}`]);
      await tx.unsafe(`DELETE FROM ${db.s}.history_options`);
      for (const [ns, o] of Object.entries(byNamespace)) {
        if (o === undefined || !(o.size >= 1) || !(o.ttlMs >= 1)) continue;
        await tx.unsafe(`INSERT INTO ${db.s}.history_options (namespace, history_size, history_ttl_ms, meta_ttl_ms) VALUES ($1, $2, $3, $4)`, [
          ns,
          Math.floor(o.size),
          Math.ceil(o.ttlMs),
          o.metaTtlMs === undefined ? null : Math.ceil(o.metaTtlMs),
        ]);
      }
    }),
  );
}
