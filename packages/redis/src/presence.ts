import type { ClientInfo, PresenceStats, PresenceStore } from '@switchboard/server';
import type { RedisClient } from './commands.js';
import { PRESENCE_ADD, PRESENCE_GET, PRESENCE_REMOVE, PRESENCE_STATS } from './scripts.js';
import { keys, type RedisConnectionOptions, RedisShards } from './shards.js';

export const DEFAULT_PRESENCE_TTL_MS = 60_000;

type ScriptClient = RedisClient & {
  sbPresenceAdd(data: string, exp: string, client: string, info: string, ttl: number): Promise<number>;
  sbPresenceGet(data: string, exp: string): Promise<string[]>;
  sbPresenceStats(data: string, exp: string): Promise<[number, number]>;
  sbPresenceRemove(data: string, exp: string, client: string): Promise<number>;
};

const defined = new WeakSet<RedisClient>();

function scripts(c: RedisClient): ScriptClient {
  if (!defined.has(c)) {
    c.defineCommand('sbPresenceAdd', { numberOfKeys: 2, lua: PRESENCE_ADD });
    c.defineCommand('sbPresenceGet', { numberOfKeys: 2, lua: PRESENCE_GET });
    c.defineCommand('sbPresenceStats', { numberOfKeys: 2, lua: PRESENCE_STATS });
    c.defineCommand('sbPresenceRemove', { numberOfKeys: 2, lua: PRESENCE_REMOVE });
    defined.add(c);
  }
  return c as ScriptClient;
}

/**
 * Presence in Redis: per channel a hash (client id → info JSON) and a sorted set of expiry times.
 * `add` (re)starts an entry's expiry; reads drop expired entries first (in the same Lua script), so
 * the clients of a crashed node leave presence once their TTL passes without a refresh.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly shards: RedisShards;
  readonly ttlMs: number;

  constructor(options: (RedisConnectionOptions | { shards: RedisShards }) & { ttlMs?: number }) {
    this.shards = 'shards' in options ? options.shards.acquire() : new RedisShards(options).acquire();
    this.ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!(this.ttlMs >= 1)) throw new RangeError('presence ttl must be positive');
  }

  #k(channel: string) {
    const k = keys(this.shards.prefix, channel);
    return { c: scripts(this.shards.client(channel)), data: k.presence, exp: k.presenceExpire };
  }

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    await this.shards.ready();
    const { c, data, exp } = this.#k(channel);
    await c.sbPresenceAdd(data, exp, client, JSON.stringify(info), Math.ceil(this.ttlMs));
  }

  async remove(channel: string, client: string): Promise<void> {
    await this.shards.ready();
    const { c, data, exp } = this.#k(channel);
    await c.sbPresenceRemove(data, exp, client);
  }

  async get(channel: string): Promise<Map<string, ClientInfo>> {
    await this.shards.ready();
    const { c, data, exp } = this.#k(channel);
    const flat = await c.sbPresenceGet(data, exp);
    const out = new Map<string, ClientInfo>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, JSON.parse(flat[i + 1]!) as ClientInfo);
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    await this.shards.ready();
    const { c, data, exp } = this.#k(channel);
    const [numClients, numUsers] = await c.sbPresenceStats(data, exp);
    return { numClients: Number(numClients), numUsers: Number(numUsers) };
  }

  async close(): Promise<void> {
    await this.shards.release();
  }
}
