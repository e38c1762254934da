import type { Database } from './db.js';

export interface NodeRow {
  readonly id: string;
  readonly name: string;
  readonly startedAt: Date;
  readonly seenAt: Date;
}

/**
 * Housekeeping every node runs on a timer: it refreshes this node's row in the node registry,
 * then (one node at a time, under a transaction-scoped advisory lock) deletes what expired:
 * publications past their TTL, streams whose metadata expired, stale presence entries, spilled
 * notifications older than a minute, nodes that stopped refreshing. Reads never depend on it:
 * they skip expired rows themselves.
 */
export class Janitor {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** Rounds that completed (for tests). */
  rounds = 0;

  constructor(
    readonly db: Database,
    readonly node: { id: string; name: string },
    readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.intervalMs);
    this.#timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async tick(): Promise<void> {
    if (this.#running || this.db.closed) return;
    this.#running = true;
    const s = this.db.s;
    try {
      await this.db.run(async (sql) => {
        await sql.unsafe(
          `INSERT INTO ${s}.nodes (id, name, expires_at) VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, seen_at = now(), expires_at = EXCLUDED.expires_at`,
          [this.node.id, this.node.name, Math.max(15_000, this.intervalMs * 3)],
          { prepare: true },
        );
        await sql.begin(async (tx) => {
          const [lock] = await tx.unsafe<{ ok: boolean }[]>(`SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok`, [`switchboard-janitor:${this.db.schema}`]);
          if (!lock?.ok) return;
          const batch = (table: string, where: string) => `DELETE FROM ${s}.${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${s}.${table} WHERE ${where} LIMIT 10000))`;
          await tx.unsafe(batch('history', 'expires_at <= now()'));
          await tx.unsafe(batch('channels', 'meta_expires_at <= now()'));
          await tx.unsafe(batch('presence', 'expires_at <= now()'));
          await tx.unsafe(batch('state_seen', 'expires_at <= now()'));
          await tx.unsafe(batch('idempotency', 'expires_at <= now()'));
          await tx.unsafe(batch('ack_consumers', 'expires_at <= now()')); // their pending offsets go with them
          await tx.unsafe(batch('messages', `created_at < now() - interval '60 seconds'`));
          await tx.unsafe(`DELETE FROM ${s}.nodes WHERE expires_at <= now()`);
        });
      });
      this.rounds++;
    } catch {
      // the database is away or an object is missing (run() repairs it): next round
    } finally {
      this.#running = false;
    }
  }

  async remove(): Promise<void> {
    await this.db.sql.unsafe(`DELETE FROM ${this.db.s}.nodes WHERE id = $1`, [this.node.id]).catch(() => {});
  }

  /** Live nodes in the registry. */
  static async nodes(db: Database): Promise<NodeRow[]> {
    const rows = await db.run((sql) =>
      sql.unsafe<{ id: string; name: string; started_at: Date; seen_at: Date }[]>(`SELECT id, name, started_at, seen_at FROM ${db.s}.nodes WHERE expires_at > now() ORDER BY name, id`),
    );
    return rows.map((r) => ({ id: r.id, name: r.name, startedAt: r.started_at, seenAt: r.seen_at }));
  }
}
