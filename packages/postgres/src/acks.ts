import type { AckResult, AckStore, AckTake } from '@switchboard/server';
import { MAX_UNACKED } from '@switchboard/server';
import { Database, DatabaseHold, type PostgresConnectionOptions } from './db.js';

/**
 * The ack store in PostgreSQL (the AckStore contract of `@switchboard/server`), shared by every node
 * of the schema: tables `ack_consumers` (channel, consumer → epoch, expiry) and `acks` (pending
 * offsets and their due times). A consumer's row expires `ttlMs` after its last delivery; reads
 * skip expired rows and the janitor deletes them. `take` locks the rows it moves
 * (`FOR UPDATE SKIP LOCKED`), so two nodes never take the same offsets at once.
 */
export class PostgresAckStore implements AckStore {
  readonly db: Database;
  readonly #hold: DatabaseHold;
  readonly #q: { add: string; ack: string; take: string; drop: string; unacked: string };

  constructor(options: PostgresConnectionOptions | { db: Database }) {
    // the connections are taken on first use, as the Redis stores do: an engine's store that a node
    // never uses (not passed to createSwitchboard) keeps no pool open after the node shut down
    this.db = 'db' in options ? options.db : new Database(options);
    this.#hold = new DatabaseHold(this.db, 'ack store');
    const s = this.db.s;
    const live = `EXISTS (SELECT 1 FROM ${s}.ack_consumers c WHERE c.channel = $1 AND c.consumer = $2 AND c.expires_at > now())`;
    this.#q = {
      add: `SELECT ${s}._ack_add($1, $2, $3, $4::bigint[], $5, $6, $7)`,
      ack: `DELETE FROM ${s}.acks WHERE channel = $1 AND consumer = $2 AND "offset" = ANY($3::bigint[]) AND ${live} RETURNING "offset"::text`,
      // the due rows are selected (and locked) once, in a materialized step: written as
      // UPDATE ... WHERE "offset" IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) it took more than n
      // rows (the conformance test's "at most limit" failed)
      take: `WITH c AS (SELECT epoch FROM ${s}.ack_consumers WHERE channel = $1 AND consumer = $2 AND expires_at > now()),
        d AS MATERIALIZED (SELECT "offset" FROM ${s}.acks WHERE channel = $1 AND consumer = $2 AND due_ms <= $3 AND EXISTS (SELECT 1 FROM c)
          ORDER BY due_ms, "offset" LIMIT $5 FOR UPDATE SKIP LOCKED),
        t AS (UPDATE ${s}.acks a SET due_ms = $4 FROM d WHERE a.channel = $1 AND a.consumer = $2 AND a."offset" = d."offset" RETURNING a."offset")
        SELECT (SELECT epoch FROM c) AS epoch, (SELECT array_agg("offset"::text) FROM t) AS offsets,
          (SELECT min(due_ms)::text FROM ${s}.acks WHERE channel = $1 AND consumer = $2 AND EXISTS (SELECT 1 FROM c) AND "offset" NOT IN (SELECT "offset" FROM t)) AS rest`,
      drop: `DELETE FROM ${s}.acks WHERE channel = $1 AND consumer = $2 AND "offset" = ANY($3::bigint[])`,
      unacked: `SELECT a.consumer FROM ${s}.acks a JOIN ${s}.ack_consumers c ON c.channel = a.channel AND c.consumer = a.consumer
        WHERE a.channel = $1 AND a."offset" = $2 AND c.expires_at > now()`,
    };
  }

  async add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void> {
    if (offsets.length === 0) return;
    await this.#hold.use().run((sql) => sql.unsafe(this.#q.add, [channel, consumer, epoch, offsets as number[], Math.floor(dueAt), Math.max(1, Math.ceil(ttlMs)), MAX_UNACKED], { prepare: true }));
  }

  async ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    const rows = await this.#hold.use().run((sql) => sql.unsafe<{ offset: string }[]>(this.#q.ack, [channel, consumer, offsets as number[]], { prepare: true }));
    const removed = new Set(rows.map((r) => Number(r.offset)));
    let acked = 0;
    const unknown: number[] = [];
    for (const off of offsets) {
      if (removed.delete(off)) acked++; // each removed offset counts once, as in the other stores
      else unknown.push(off);
    }
    return { acked, unknown };
  }

  async take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake> {
    const until = upTo === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : Math.floor(upTo);
    const rows = await this.#hold.use().run((sql) =>
      sql.unsafe<{ epoch: string | null; offsets: string[] | null; rest: string | null }[]>(this.#q.take, [channel, consumer, until, Math.floor(dueAt), limit], { prepare: true }),
    );
    const r = rows[0];
    const offsets = (r?.offsets ?? []).map(Number).sort((a, b) => a - b);
    let next = r?.rest === null || r?.rest === undefined ? undefined : Number(r.rest);
    if (offsets.length > 0) next = next === undefined ? Math.floor(dueAt) : Math.min(next, Math.floor(dueAt));
    return { epoch: r?.epoch ?? '', offsets, next };
  }

  async drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.#hold.use().run((sql) => sql.unsafe(this.#q.drop, [channel, consumer, offsets as number[]], { prepare: true }));
  }

  async unacknowledged(channel: string, offset: number): Promise<string[]> {
    const rows = await this.#hold.use().run((sql) => sql.unsafe<{ consumer: string }[]>(this.#q.unacked, [channel, offset], { prepare: true }));
    return rows.map((r) => r.consumer).sort();
  }

  async close(): Promise<void> {
    await this.#hold.close();
  }

}
