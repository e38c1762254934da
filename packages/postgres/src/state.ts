import type { Reaped, Revocation, StateStore, WebhookJournal } from '@switchboard/server';
import { DEFAULT_LAST_SEEN_TTL_MS } from '@switchboard/server';
import { SerialBatcher } from './batch.js';
import { Database, DatabaseHold, type PostgresConnectionOptions } from './db.js';

/**
 * Cluster state in PostgreSQL (the StateStore contract in `@switchboard/server`, schema version 4):
 * a group's first/last transitions are decided under a transaction-scoped advisory lock on the
 * group (`_st_join`, `_st_leave`), every change takes a number from one sequence, leases are rows
 * with an expiry in the database's clock, a lapsed node's members are marked reapable (`_st_lapse`)
 * and removed lowest rank first (`_st_reap`), each by exactly one caller. Webhook journals are rows
 * of `state_webhooks`, claimed by moving them to the claimer with `FOR UPDATE SKIP LOCKED` (from the
 * owners found dead just before, given as a parameter so a row moved meanwhile is not taken twice).
 */
export class PostgresStateStore implements StateStore {
  readonly db: Database;
  readonly #hold: DatabaseHold;
  readonly #lastSeenTtlMs: number;
  readonly #q: Record<string, string>;

  constructor(options: (PostgresConnectionOptions | { db: Database }) & { lastSeenTtlMs?: number }) {
    // the connections are taken on first use, as the Redis stores do: an engine's store that a node
    // never uses (not passed to createSwitchboard) keeps no pool open after the node shut down
    this.db = 'db' in options ? options.db : new Database(options);
    this.#hold = new DatabaseHold(this.db, 'state store');
    this.#lastSeenTtlMs = options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS;
    if (!(this.#lastSeenTtlMs >= 1)) throw new RangeError('lastSeenTtlMs must be positive');
    const s = this.db.s;
    this.#q = {
      heartbeat: `INSERT INTO ${s}.state_nodes (node, expires_at) VALUES ($1, now() + $2::bigint * interval '1 millisecond')
                  ON CONFLICT (node) DO UPDATE SET expires_at = EXCLUDED.expires_at RETURNING (xmax = 0) AS inserted`,
      forget: `DELETE FROM ${s}.state_nodes n WHERE n.node = $1 AND NOT EXISTS (SELECT 1 FROM ${s}.state_members m WHERE m.node = $1 AND NOT m.reaping)`,
      join: `SELECT o_first, o_seq, o_added FROM ${s}._st_join($1, $2, $3, $4, $5)`,
      leave: `SELECT o_removed, o_last, o_seq FROM ${s}._st_leave($1, $2, false)`,
      counts: `SELECT grp, count(*)::int AS n FROM ${s}.state_members WHERE grp = ANY($1::text[]) GROUP BY grp`,
      lapse: `SELECT ${s}._st_lapse() AS n`,
      reap: `SELECT o_node, o_group, o_member, o_data, o_last, o_seq FROM ${s}._st_reap($1)`,
      revoke: `INSERT INTO ${s}.state_revocations (key, issued_before, expire_at) VALUES ($1, $2, $3)
               ON CONFLICT (key) DO UPDATE SET issued_before = greatest(${s}.state_revocations.issued_before, EXCLUDED.issued_before),
                 expire_at = greatest(${s}.state_revocations.expire_at, EXCLUDED.expire_at)`,
      dropRevocations: `DELETE FROM ${s}.state_revocations WHERE expire_at <= (extract(epoch FROM now()) * 1000)::bigint`,
      revocations: `SELECT key, issued_before, expire_at FROM ${s}.state_revocations WHERE expire_at > (extract(epoch FROM now()) * 1000)::bigint`,
      seen: `INSERT INTO ${s}.state_seen (user_id, at, expires_at) VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
             ON CONFLICT (user_id) DO UPDATE SET at = greatest(${s}.state_seen.at, EXCLUDED.at), expires_at = EXCLUDED.expires_at`,
      lastSeen: `SELECT user_id, at FROM ${s}.state_seen WHERE user_id = ANY($1::text[]) AND expires_at > now()`,
      // ids come from the sequence in the order the rows are produced: the ORDER BY keeps the batch's
      whAppend: `INSERT INTO ${s}.state_webhooks (webhook, node, entry)
                 SELECT $1, $2, e FROM unnest($3::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n RETURNING id::text`,
      whRemove: `DELETE FROM ${s}.state_webhooks WHERE webhook = $1 AND id = ANY($2::bigint[])`,
      whDeadOwners: `SELECT DISTINCT j.node FROM ${s}.state_webhooks j
                      WHERE j.webhook = $1 AND j.node <> $2
                        AND NOT EXISTS (SELECT 1 FROM ${s}.state_nodes n WHERE n.node = j.node AND n.expires_at > now())`,
      // The owners are a parameter, not a join: a row another claimer moved (committed) while this
      // statement waited is re-checked against its new owner, and fails (a join with state_nodes
      // would be re-checked against the lease rows it saw before, and could take the row twice).
      whClaim: `UPDATE ${s}.state_webhooks w SET node = $2 FROM (
                  SELECT id FROM ${s}.state_webhooks j
                   WHERE j.webhook = $1 AND j.node = ANY($3::text[])
                   ORDER BY j.id LIMIT $4 FOR UPDATE SKIP LOCKED) c
                WHERE w.id = c.id RETURNING w.id::text AS id, w.entry`,
      whSize: `SELECT count(*)::int AS n FROM ${s}.state_webhooks WHERE webhook = $1 AND node = $2`,
    };
  }

  #run<T extends object[]>(q: string, params: unknown[]): Promise<T> {
    return this.#hold.use().run((sql) => sql.unsafe<T>(this.#q[q]!, params as never[], { prepare: true }));
  }

  async heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }> {
    const rows = await this.#run<{ inserted: boolean }[]>('heartbeat', [node, Math.ceil(ttlMs)]);
    return { lapsed: rows[0]!.inserted };
  }

  async forgetNode(node: string): Promise<void> {
    await this.#run('forget', [node]);
  }

  async join(group: string, member: string, node: string, data: string, rank = 0): Promise<{ first: boolean; seq: number; added: boolean }> {
    const rows = await this.#run<{ o_first: boolean; o_seq: string; o_added: boolean }[]>('join', [group, member, node, data, rank]);
    const r = rows[0]!;
    return { first: r.o_first, seq: Number(r.o_seq), added: r.o_added };
  }

  async leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }> {
    const rows = await this.#run<{ o_removed: boolean; o_last: boolean; o_seq: string }[]>('leave', [group, member]);
    const r = rows[0]!;
    return { removed: r.o_removed, last: r.o_last, seq: Number(r.o_seq) };
  }

  async counts(groups: readonly string[]): Promise<number[]> {
    if (groups.length === 0) return [];
    const rows = await this.#run<{ grp: string; n: number }[]>('counts', [[...groups]]);
    const by = new Map(rows.map((r) => [r.grp, r.n]));
    return groups.map((g) => by.get(g) ?? 0);
  }

  async reap(limit: number): Promise<Reaped[]> {
    await this.#run('lapse', []);
    const rows = await this.#run<{ o_node: string; o_group: string; o_member: string; o_data: string; o_last: boolean; o_seq: string }[]>('reap', [Math.max(1, Math.floor(limit))]);
    return rows.map((r) => ({ node: r.o_node, group: r.o_group, member: r.o_member, data: r.o_data, last: r.o_last, seq: Number(r.o_seq) }));
  }

  async revoke(r: Revocation): Promise<void> {
    if (r.kind === 'jti') await this.#run('revoke', [`j:${r.jti}`, 0, Math.ceil(r.expireAt)]);
    else await this.#run('revoke', [`u:${r.user}`, Math.floor(r.issuedBefore), Math.ceil(r.expireAt)]);
  }

  async revocations(): Promise<Revocation[]> {
    await this.#run('dropRevocations', []);
    const rows = await this.#run<{ key: string; issued_before: string; expire_at: string }[]>('revocations', []);
    const out: Revocation[] = [];
    for (const r of rows) {
      if (r.key.startsWith('j:')) out.push({ kind: 'jti', jti: r.key.slice(2), expireAt: Number(r.expire_at) });
      else if (r.key.startsWith('u:')) out.push({ kind: 'user', user: r.key.slice(2), issuedBefore: Number(r.issued_before), expireAt: Number(r.expire_at) });
    }
    return out;
  }

  async setLastSeen(user: string, ms: number): Promise<void> {
    await this.#run('seen', [user, Math.floor(ms), Math.ceil(this.#lastSeenTtlMs)]);
  }

  async lastSeen(users: readonly string[]): Promise<(number | undefined)[]> {
    if (users.length === 0) return [];
    const rows = await this.#run<{ user_id: string; at: string }[]>('lastSeen', [[...users]]);
    const by = new Map(rows.map((r) => [r.user_id, Number(r.at)]));
    return users.map((u) => by.get(u));
  }

  /**
   * A webhook queue's journal: rows of `state_webhooks` owned by `node`, claimable once the node has
   * no live lease. Appends go one INSERT at a time, each taking what was issued while the previous
   * one ran: on a pool, concurrent INSERTs could take their ids out of the order they were issued in.
   */
  webhookJournal(webhook: string, node: string): WebhookJournal {
    const appends = new SerialBatcher<string, string>(async (entries) => {
      const rows = await this.#run<{ id: string }[]>('whAppend', [webhook, node, entries]);
      // RETURNING's order is not promised: the ids, ascending, are the batch's in order
      return rows.map((r) => BigInt(r.id)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)).map(String);
    });
    return {
      append: (entry) => appends.add(entry),
      remove: async (keys) => {
        const ids = keys.filter((k) => /^\d{1,19}$/.test(k));
        if (ids.length > 0) await this.#run('whRemove', [webhook, ids]);
      },
      claim: async (limit) => {
        const dead = (await this.#run<{ node: string }[]>('whDeadOwners', [webhook, node])).map((r) => r.node);
        if (dead.length === 0) return [];
        const rows = await this.#run<{ id: string; entry: string }[]>('whClaim', [webhook, node, dead, Math.max(1, Math.floor(limit))]);
        // RETURNING does not keep the subquery's order
        return rows.map((r) => ({ key: r.id, entry: r.entry })).sort((a, b) => (BigInt(a.key) < BigInt(b.key) ? -1 : 1));
      },
      size: async () => (await this.#run<{ n: number }[]>('whSize', [webhook, node]))[0]!.n,
    };
  }

  async close(): Promise<void> {
    await this.#hold.close();
  }

}
