import type { ClientInfo, PresenceStats, PresenceStore } from '@switchboard/server';
import { Database, type PostgresConnectionOptions } from './db.js';

export const DEFAULT_PRESENCE_TTL_MS = 60_000;

/**
 * Presence in one table keyed by (channel, client), each row with its expiry. `add` upserts and
 * pushes the expiry forward; reads skip expired rows (the janitor deletes them later), so the
 * clients of a node that died leave presence once their TTL passes without a refresh.
 */
export class PostgresPresenceStore implements PresenceStore {
  readonly db: Database;
  readonly ttlMs: number;
  readonly #q: { add: string; remove: string; get: string; stats: string };

  constructor(options: (PostgresConnectionOptions | { db: Database }) & { ttlMs?: number }) {
    this.db = 'db' in options ? options.db.acquire() : new Database(options).acquire();
    this.ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!(this.ttlMs >= 1)) throw new RangeError('presence ttl must be positive');
    const s = this.db.s;
    this.#q = {
      add: `INSERT INTO ${s}.presence (channel, client, user_id, info, expires_at) VALUES ($1, $2, $3, $4::text::jsonb, now() + $5::bigint * interval '1 millisecond')
            ON CONFLICT (channel, client) DO UPDATE SET user_id = EXCLUDED.user_id, info = EXCLUDED.info, expires_at = EXCLUDED.expires_at`,
      remove: `DELETE FROM ${s}.presence WHERE channel = $1 AND client = $2`,
      get: `SELECT client, info FROM ${s}.presence WHERE channel = $1 AND expires_at > now()`,
      stats: `SELECT count(*)::int AS clients, count(DISTINCT user_id)::int AS users FROM ${s}.presence WHERE channel = $1 AND expires_at > now()`,
    };
  }

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    await this.db.run((sql) => sql.unsafe(this.#q.add, [channel, client, info.user, JSON.stringify(info), Math.ceil(this.ttlMs)], { prepare: true }));
  }

  async remove(channel: string, client: string): Promise<void> {
    await this.db.run((sql) => sql.unsafe(this.#q.remove, [channel, client], { prepare: true }));
  }

  async get(channel: string): Promise<Map<string, ClientInfo>> {
    const rows = await this.db.run((sql) => sql.unsafe<{ client: string; info: ClientInfo }[]>(this.#q.get, [channel], { prepare: true }));
    return new Map(rows.map((r) => [r.client, r.info]));
  }

  async stats(channel: string): Promise<PresenceStats> {
    const rows = await this.db.run((sql) => sql.unsafe<{ clients: number; users: number }[]>(this.#q.stats, [channel], { prepare: true }));
    return { numClients: rows[0]!.clients, numUsers: rows[0]!.users };
  }

  async close(): Promise<void> {
    await this.db.release();
  }
}
