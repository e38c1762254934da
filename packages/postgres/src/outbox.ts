import postgres from 'postgres';
import { describeDsn, PostgresEngineError, type Sql } from './db.js';
import { withIdempotencyKey } from '@switchboard/server';

/**
 * Options of the outbox consumer: the fields of a Centrifugo v6 `consumers` entry of type
 * `postgresql` (`dsn`, `outbox_table_name`, `num_partitions`, `partition_select_limit`,
 * `partition_poll_interval`, `partition_notification_channel`), plus what runs each row.
 */
export interface OutboxConsumerOptions {
  /** The consumer's name; part of the partition lock key, so consumers of one name share the work. */
  readonly name: string;
  readonly dsn: string;
  /** The outbox table, optionally schema-qualified (`app.centrifugo_outbox`). */
  readonly table: string;
  readonly numPartitions?: number;
  /** Rows taken from a partition per transaction (default 100). */
  readonly selectLimit?: number;
  /** How often an idle partition is polled (default 300 ms); a NOTIFY on `notificationChannel` wakes it at once. */
  readonly pollIntervalMs?: number;
  /** LISTEN channel whose payload is a partition number (Centrifugo's trigger sends `NEW.partition`). */
  readonly notificationChannel?: string;
  /** Runs one API command (`publish`, `broadcast`, `disconnect`, ...) with its JSON payload. */
  readonly execute: (method: string, payload: unknown) => Promise<unknown>;
  /**
   * Whether a failed command is tried again (the partition waits) or skipped (logged and deleted, as
   * Centrifugo does for errors that are not internal). Default: everything is retried except errors
   * carrying `permanent: true`.
   */
  readonly retryable?: (err: unknown) => boolean;
  /** Told about errors (a failed command, the database away); default: nothing. */
  readonly onError?: (err: unknown, context: { partition: number; method?: string; id?: string }) => void;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) throw new PostgresEngineError(`outbox_table_name: "${table}" is not a table name (letters, digits, _; optionally schema.table)`);
  return parts.map((p) => `"${p}"`).join('.');
}

export interface OutboxConsumer {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Rows executed and deleted, and rows skipped as permanent failures (for tests and metrics). */
  readonly stats: { processed: number; skipped: number; errors: number };
}

/**
 * Reads a Centrifugo-layout outbox table (`id bigserial, method text, payload jsonb, partition
 * integer, created_at timestamptz`) and runs each row's API command, so an app that writes
 * Centrifugo's outbox moves over unchanged.
 *
 * Each partition is worked by one node at a time: a transaction takes the advisory lock
 * `hashtext('centrifugo_partition_lock_' || name || partition)` (the key Centrifugo uses, so both
 * can even share a table during a migration), reads up to `selectLimit` rows in id order, runs them
 * one by one, deletes those that ran and commits. Rows of a partition therefore run in order, and
 * each runs once: a row is deleted in the transaction that holds the partition's lock, so no other
 * node sees it again. A command that fails retryably stops the partition there (the rows before it
 * are deleted) and is tried again after a backoff. The one window left is a crash between a
 * command's effect and the commit: that row runs again when the partition is next taken
 * (at least once, never lost).
 */
export function createOutboxConsumer(options: OutboxConsumerOptions): OutboxConsumer {
  const table = quoteTable(options.table);
  const partitions = options.numPartitions ?? 1;
  const limit = options.selectLimit ?? 100;
  const pollMs = options.pollIntervalMs ?? 300;
  if (!Number.isInteger(partitions) || partitions < 1) throw new PostgresEngineError(`num_partitions: expected a positive integer, got ${String(options.numPartitions)}`);
  if (!Number.isInteger(limit) || limit < 1) throw new PostgresEngineError(`partition_select_limit: expected a positive integer, got ${String(options.selectLimit)}`);
  if (!(pollMs > 0)) throw new PostgresEngineError(`partition_poll_interval: expected a positive duration, got ${String(options.pollIntervalMs)}`);
  if (typeof options.dsn !== 'string' || !/^postgres(ql)?:\/\//.test(options.dsn)) throw new PostgresEngineError(`dsn: expected a postgres:// URL for consumer "${options.name}"`);
  const retryable = options.retryable ?? ((err: unknown) => !(typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true));
  const onError = options.onError ?? (() => {});
  const stats = { processed: 0, skipped: 0, errors: 0 };
  let sql: Sql | undefined;
  let closed = false;
  const wake: (() => void)[] = [];
  const loops: Promise<void>[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number, p: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      timers.add(t);
      function done() {
        clearTimeout(t);
        timers.delete(t);
        wake[p] = () => {};
        resolve();
      }
      wake[p] = done;
    });

  /** One transaction on one partition: how many rows it took; -1 when another node holds it; -2 when a command must be retried. */
  async function once(p: number): Promise<number> {
    let failed = false;
    const taken = await sql!.begin(async (tx) => {
      const [lock] = await tx.unsafe<{ ok: boolean }[]>(`SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok`, [`centrifugo_partition_lock_${options.name}${p}`]);
      if (!lock?.ok) return -1;
      const rows = await tx.unsafe<{ id: string; method: string; payload: unknown }[]>(`SELECT id, method, payload FROM ${table} WHERE partition = $1 ORDER BY id LIMIT $2`, [p, limit], { prepare: true });
      const done: string[] = [];
      for (const row of rows) {
        let payload = row.payload;
        try {
          if (Buffer.isBuffer(payload)) payload = JSON.parse(payload.toString('utf8'));
          else if (typeof payload === 'string') payload = JSON.parse(payload);
          await options.execute(row.method, withIdempotencyKey(row.method, payload, `${table}:${row.id}`));
          stats.processed++;
          done.push(row.id);
        } catch (err) {
          stats.errors++;
          onError(err, { partition: p, method: row.method, id: row.id });
          if (err instanceof SyntaxError || !retryable(err)) {
            stats.skipped++;
            done.push(row.id); // a command that can never succeed: logged and dropped, as Centrifugo does
            continue;
          }
          failed = true;
          break;
        }
      }
      if (done.length > 0) await tx.unsafe(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [done]);
      return rows.length;
    });
    return failed ? -2 : taken;
  }

  async function loop(p: number): Promise<void> {
    let backoff = 0;
    while (!closed) {
      let n: number;
      try {
        n = await once(p);
      } catch (err) {
        if (closed) return;
        onError(err, { partition: p }); // the database is away or the table is gone
        n = -2;
      }
      if (n === -2) {
        backoff = Math.min(5000, backoff === 0 ? 100 : backoff * 2);
        await sleep(backoff, p);
        continue;
      }
      backoff = 0;
      if (n < limit) await sleep(pollMs, p); // idle, or another node holds the partition: wait for a poll or a NOTIFY
    }
  }

  return {
    stats,
    async start() {
      sql = postgres(options.dsn, { max: partitions + 1, connect_timeout: 5, onnotice: () => {}, connection: { application_name: `switchboard-outbox-${options.name}` } });
      try {
        await sql.unsafe(`SELECT 1 FROM ${table} LIMIT 0`);
      } catch (err) {
        await sql.end({ timeout: 0 });
        const e = err as { code?: string; message?: string };
        if (e.code === '42P01') throw new PostgresEngineError(`consumer "${options.name}": outbox table ${options.table} does not exist at ${describeDsn(options.dsn)}`, { cause: err });
        throw new PostgresEngineError(`consumer "${options.name}": PostgreSQL at ${describeDsn(options.dsn)}: ${e.message ?? String(err)}`, { cause: err });
      }
      if (options.notificationChannel !== undefined && options.notificationChannel !== '') {
        await sql.listen(options.notificationChannel, (payload) => {
          const p = Number(payload);
          if (Number.isInteger(p) && p >= 0 && p < partitions) wake[p]?.();
        });
      }
      for (let p = 0; p < partitions; p++) loops.push(loop(p));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of wake) w?.();
      await Promise.all(loops);
      await sql?.end({ timeout: 1 });
    },
  };
}
