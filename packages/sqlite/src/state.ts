import type { Reaped, Revocation, StateStore, WebhookJournal } from '@switchboard/server';
import { DEFAULT_LAST_SEEN_TTL_MS } from '@switchboard/server';
import type Database from 'better-sqlite3';

const STATE_SCHEMA = `
CREATE TABLE IF NOT EXISTS sb_state_nodes (node TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sb_state_members (
  grp TEXT NOT NULL, member TEXT NOT NULL, node TEXT NOT NULL, data TEXT NOT NULL,
  rank INTEGER NOT NULL DEFAULT 0, reaping INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (grp, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sb_state_members_node ON sb_state_members (node);
CREATE TABLE IF NOT EXISTS sb_state_seq (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
INSERT OR IGNORE INTO sb_state_seq (id, seq) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS sb_state_revocations (key TEXT PRIMARY KEY, issued_before INTEGER NOT NULL, expire_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sb_state_seen (user_id TEXT PRIMARY KEY, at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sb_state_webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, node TEXT NOT NULL, entry TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sb_state_webhooks_owner ON sb_state_webhooks (webhook, node, id);
`;

/**
 * Cluster state in the node's SQLite file (the StateStore contract of @switchboard/server), beside
 * its history: the engine is one node per file, so what this adds over the memory state is that it
 * survives a restart — revocations and last-seen times are kept, and a crashed process's webhook
 * journal and connection memberships are taken over by the next process on the file once the old
 * lease lapses (it reports the old process's clients gone and delivers its undelivered events).
 * Every operation is one immediate transaction on the file's single connection.
 */
export class SqliteStateStore implements StateStore {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #lastSeenTtlMs: number;
  readonly #tx: {
    join: (group: string, member: string, node: string, data: string, rank: number) => { first: boolean; seq: number; added: boolean };
    leave: (group: string, member: string, reaping: boolean) => { removed: boolean; last: boolean; seq: number; node?: string; data?: string };
    reap: (limit: number) => Reaped[];
    claim: (webhook: string, node: string, limit: number) => { key: string; entry: string }[];
  };

  constructor(db: Database.Database, options: { now?: () => number; lastSeenTtlMs?: number } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#lastSeenTtlMs = options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS;
    db.exec(STATE_SCHEMA);
    const seq = db.prepare<[], { seq: number }>('SELECT seq FROM sb_state_seq WHERE id = 1');
    const next = db.prepare<[], { seq: number }>('UPDATE sb_state_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq');
    const member = db.prepare<[string, string], { node: string; data: string; reaping: number }>('SELECT node, data, reaping FROM sb_state_members WHERE grp = ? AND member = ?');
    const any = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM sb_state_members WHERE grp = ? LIMIT 1');
    const insert = db.prepare<[string, string, string, string, number]>('INSERT INTO sb_state_members (grp, member, node, data, rank) VALUES (?, ?, ?, ?, ?)');
    const del = db.prepare<[string, string]>('DELETE FROM sb_state_members WHERE grp = ? AND member = ?');
    const join = (group: string, m: string, node: string, data: string, rank: number) => {
      if (member.get(group, m)) return { first: false, seq: seq.get()!.seq, added: false };
      const first = any.get(group) === undefined;
      insert.run(group, m, node, data, rank);
      return { first, seq: next.get()!.seq, added: true };
    };
    const leave = (group: string, m: string, reaping: boolean) => {
      const row = member.get(group, m);
      if (!row || (reaping && !row.reaping)) return { removed: false, last: false, seq: seq.get()!.seq };
      del.run(group, m);
      return { removed: true, last: any.get(group) === undefined, seq: next.get()!.seq, node: row.node, data: row.data };
    };
    const lapsed = db.prepare<[number], { node: string }>('DELETE FROM sb_state_nodes WHERE expires_at <= ? RETURNING node');
    const mark = db.prepare<[string]>('UPDATE sb_state_members SET reaping = 1 WHERE node = ?');
    const reapable = db.prepare<[number], { grp: string; member: string }>('SELECT grp, member FROM sb_state_members WHERE reaping = 1 ORDER BY rank, grp, member LIMIT ?');
    const reap = (limit: number) => {
      for (const { node } of lapsed.all(this.#now())) mark.run(node);
      const out: Reaped[] = [];
      for (const r of reapable.all(limit)) {
        const l = leave(r.grp, r.member, true);
        if (l.removed) out.push({ node: l.node!, group: r.grp, member: r.member, data: l.data!, last: l.last, seq: l.seq });
      }
      return out;
    };
    const claimable = db.prepare<[string, string, number, number], { id: number; entry: string }>(
      `SELECT w.id, w.entry FROM sb_state_webhooks w
        WHERE w.webhook = ? AND w.node <> ? AND NOT EXISTS (SELECT 1 FROM sb_state_nodes n WHERE n.node = w.node AND n.expires_at > ?)
        ORDER BY w.id LIMIT ?`,
    );
    const move = db.prepare<[string, number]>('UPDATE sb_state_webhooks SET node = ? WHERE id = ?');
    const claim = (webhook: string, node: string, limit: number) => {
      const rows = claimable.all(webhook, node, this.#now(), limit);
      for (const r of rows) move.run(node, r.id);
      return rows.map((r) => ({ key: String(r.id), entry: r.entry }));
    };
    this.#tx = {
      join: (...a) => db.transaction(() => join(...a)).immediate(),
      leave: (...a) => db.transaction(() => leave(...a)).immediate(),
      reap: (limit) => db.transaction(() => reap(limit)).immediate(),
      claim: (...a) => db.transaction(() => claim(...a)).immediate(),
    };
  }

  async heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }> {
    const had = this.#db.prepare<[string], { one: number }>('SELECT 1 AS one FROM sb_state_nodes WHERE node = ?').get(node) !== undefined;
    this.#db.prepare('INSERT INTO sb_state_nodes (node, expires_at) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at').run(node, this.#now() + Math.ceil(ttlMs));
    return { lapsed: !had };
  }

  async forgetNode(node: string): Promise<void> {
    this.#db.prepare('DELETE FROM sb_state_nodes WHERE node = ? AND NOT EXISTS (SELECT 1 FROM sb_state_members WHERE node = ? AND reaping = 0)').run(node, node);
  }

  async join(group: string, member: string, node: string, data: string, rank = 0): Promise<{ first: boolean; seq: number; added: boolean }> {
    return this.#tx.join(group, member, node, data, rank);
  }

  async leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }> {
    const { removed, last, seq } = this.#tx.leave(group, member, false);
    return { removed, last, seq };
  }

  async counts(groups: readonly string[]): Promise<number[]> {
    const q = this.#db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM sb_state_members WHERE grp = ?');
    return groups.map((g) => q.get(g)!.n);
  }

  async reap(limit: number): Promise<Reaped[]> {
    return this.#tx.reap(Math.max(1, Math.floor(limit)));
  }

  async revoke(r: Revocation): Promise<void> {
    const [key, ib] = r.kind === 'jti' ? [`j:${r.jti}`, 0] : [`u:${r.user}`, Math.floor(r.issuedBefore)];
    this.#db
      .prepare(
        'INSERT INTO sb_state_revocations (key, issued_before, expire_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET issued_before = max(issued_before, excluded.issued_before), expire_at = max(expire_at, excluded.expire_at)',
      )
      .run(key, ib, Math.ceil(r.expireAt));
  }

  async revocations(): Promise<Revocation[]> {
    const now = this.#now();
    this.#db.prepare('DELETE FROM sb_state_revocations WHERE expire_at <= ?').run(now);
    const rows = this.#db.prepare<[], { key: string; issued_before: number; expire_at: number }>('SELECT key, issued_before, expire_at FROM sb_state_revocations').all();
    const out: Revocation[] = [];
    for (const r of rows) {
      if (r.key.startsWith('j:')) out.push({ kind: 'jti', jti: r.key.slice(2), expireAt: r.expire_at });
      else if (r.key.startsWith('u:')) out.push({ kind: 'user', user: r.key.slice(2), issuedBefore: r.issued_before, expireAt: r.expire_at });
    }
    return out;
  }

  async setLastSeen(user: string, ms: number): Promise<void> {
    this.#db
      .prepare('INSERT INTO sb_state_seen (user_id, at, expires_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET at = max(at, excluded.at), expires_at = excluded.expires_at')
      .run(user, Math.floor(ms), this.#now() + this.#lastSeenTtlMs);
  }

  async lastSeen(users: readonly string[]): Promise<(number | undefined)[]> {
    const q = this.#db.prepare<[string, number], { at: number }>('SELECT at FROM sb_state_seen WHERE user_id = ? AND expires_at > ?');
    const now = this.#now();
    return users.map((u) => q.get(u, now)?.at);
  }

  /** A webhook queue's journal: rows of `sb_state_webhooks`, claimable once their node has no live lease. */
  webhookJournal(webhook: string, node: string): WebhookJournal {
    const db = this.#db;
    return {
      append: async (entry) => String(db.prepare('INSERT INTO sb_state_webhooks (webhook, node, entry) VALUES (?, ?, ?)').run(webhook, node, entry).lastInsertRowid),
      remove: async (keys) => {
        const del = db.prepare('DELETE FROM sb_state_webhooks WHERE webhook = ? AND id = ?');
        db.transaction(() => {
          for (const k of keys) if (/^\d{1,16}$/.test(k)) del.run(webhook, Number(k));
        }).immediate();
      },
      claim: async (limit) => this.#tx.claim(webhook, node, Math.max(1, Math.floor(limit))),
      size: async () => db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM sb_state_webhooks WHERE webhook = ? AND node = ?').get(webhook, node)!.n,
    };
  }

  /** The file is the history store's: it closes it. */
  async close(): Promise<void> {}
}
