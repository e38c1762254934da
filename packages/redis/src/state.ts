import type { Reaped, Revocation, StateStore, WebhookJournal } from '@switchboard/server';
import { DEFAULT_LAST_SEEN_TTL_MS } from '@switchboard/server';
import type { RedisClient } from './commands.js';
import { type RedisConnectionOptions, RedisShards } from './shards.js';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: group hash, node index, seq. ARGV: member, node, data, entry, rank. Returns {first, seq, added}. */
const JOIN = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {0, tonumber(redis.call('GET', KEYS[3]) or '0'), 0} end
local first = 0
if redis.call('HLEN', KEYS[1]) == 0 then first = 1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\\n' .. ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
return {first, redis.call('INCR', KEYS[3]), 1}
`;

/** KEYS: group hash, seq. ARGV: member, entry, node index key prefix. Returns {removed, last, seq}. */
const LEAVE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {0, 0, tonumber(redis.call('GET', KEYS[2]) or '0')} end
local node = string.sub(v, 1, string.find(v, '\\n', 1, true) - 1)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', ARGV[3] .. node, ARGV[2])
local last = 0
if redis.call('HLEN', KEYS[1]) == 0 then last = 1 end
return {1, last, redis.call('INCR', KEYS[2])}
`;

/** KEYS: nodes. ARGV: node, ttl ms. Returns 1 when the node had no lease (new, or reaped). */
const HEARTBEAT = `${NOW}
local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if had then return 0 end
return 1
`;

/**
 * KEYS: nodes, reaping set, seq. ARGV: key base, limit. Nodes whose lease lapsed lose it and their
 * index moves to a reaping key (a node that comes back starts a fresh index); then up to `limit`
 * entries of reaping keys are removed from their groups, lowest rank first. Returns flat
 * {node, group, member, data, last, seq} per removed entry.
 */
const REAP = `${NOW}
local base, limit = ARGV[1], tonumber(ARGV[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  local idx = base .. 'n.' .. node
  if redis.call('EXISTS', idx) == 1 then
    local r = base .. 'r.' .. redis.call('INCR', KEYS[3]) .. '.' .. node
    redis.call('RENAME', idx, r)
    redis.call('SADD', KEYS[2], r)
  end
end
local out = {}
local n = 0
while n < limit do
  local r = redis.call('SRANDMEMBER', KEYS[2])
  if not r then break end
  local items = redis.call('ZPOPMIN', r, limit - n)
  if #items == 0 then
    redis.call('SREM', KEYS[2], r)
  else
    for i = 1, #items, 2 do
      local entry = items[i]
      local cut = 0
      local p = string.find(entry, '\\n', 1, true)
      while p do cut = p; p = string.find(entry, '\\n', p + 1, true) end
      local group, member = string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
      local gk = base .. 'g.' .. group
      local v = redis.call('HGET', gk, member)
      if v then
        local nl = string.find(v, '\\n', 1, true)
        redis.call('HDEL', gk, member)
        local last = 0
        if redis.call('HLEN', gk) == 0 then last = 1 end
        local seq = redis.call('INCR', KEYS[3])
        table.insert(out, string.sub(v, 1, nl - 1))
        table.insert(out, group)
        table.insert(out, member)
        table.insert(out, string.sub(v, nl + 1))
        table.insert(out, last)
        table.insert(out, seq)
        n = n + 1
      end
    end
  end
end
return out
`;

/** KEYS: revocations hash. ARGV: field, issued before, expire at (ms). Keeps the later of each. */
const REVOKE = `
local ib, ex = tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c = string.find(cur, ':', 1, true)
  ib = math.max(ib, tonumber(string.sub(cur, 1, c - 1)))
  ex = math.max(ex, tonumber(string.sub(cur, c + 1)))
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d:%d', ib, ex))
return 1
`;

/** KEYS: revocations hash. Drops expired entries, returns the rest flat {field, "issuedBefore:expireAt"}. */
const REVOCATIONS = `${NOW}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local c = string.find(v, ':', 1, true)
  if tonumber(string.sub(v, c + 1)) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    table.insert(out, all[i])
    table.insert(out, v)
  end
end
return out
`;

/** KEYS: last-seen key. ARGV: ms, ttl ms. Keeps the later time. */
const SEEN = `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`;

/** KEYS: owners set, stream. ARGV: node, entry. Appends one entry, records the owner; returns its id. */
const WH_APPEND = `
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
`;

/**
 * KEYS: nodes, owners set, own stream. ARGV: own node, stream key prefix, limit. Moves up to
 * \`limit\` entries of the streams of owners without a live lease into the own stream (oldest first,
 * one dead node after the other); a drained stream and its owner go. Returns flat {new id, entry}.
 */
const WH_CLAIM = `${NOW}
local limit = tonumber(ARGV[3])
local out = {}
local n = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if n >= limit then break end
  if node ~= ARGV[1] then
    local exp = redis.call('ZSCORE', KEYS[1], node)
    if (not exp) or tonumber(exp) <= now then
      local sk = ARGV[2] .. node
      local items = redis.call('XRANGE', sk, '-', '+', 'COUNT', limit - n)
      for _, it in ipairs(items) do
        local f = it[2]
        local entry = f[2]
        local id = redis.call('XADD', KEYS[3], '*', 'e', entry)
        redis.call('XDEL', sk, it[1])
        table.insert(out, id)
        table.insert(out, entry)
        n = n + 1
      end
      if redis.call('XLEN', sk) == 0 then
        redis.call('DEL', sk)
        redis.call('SREM', KEYS[2], node)
      end
    end
  end
end
if n > 0 then redis.call('SADD', KEYS[2], ARGV[1]) end
return out
`;

type Scripts = RedisClient & {
  sbWhAppend(owners: string, stream: string, node: string, entry: string): Promise<string>;
  sbWhClaim(nodes: string, owners: string, stream: string, node: string, prefix: string, limit: number): Promise<string[]>;
  sbStJoin(group: string, idx: string, seq: string, member: string, node: string, data: string, entry: string, rank: number): Promise<[number, number, number]>;
  sbStLeave(group: string, seq: string, member: string, entry: string, idxPrefix: string): Promise<[number, number, number]>;
  sbStHeartbeat(nodes: string, node: string, ttl: number): Promise<number>;
  sbStReap(nodes: string, reaping: string, seq: string, base: string, limit: number): Promise<(string | number)[]>;
  sbStRevoke(rev: string, field: string, issuedBefore: number, expireAt: number): Promise<number>;
  sbStRevocations(rev: string): Promise<string[]>;
  sbStSeen(key: string, ms: number, ttl: number): Promise<number>;
};

const defined = new WeakSet<RedisClient>();

function scripts(c: RedisClient): Scripts {
  if (!defined.has(c)) {
    c.defineCommand('sbStJoin', { numberOfKeys: 3, lua: JOIN });
    c.defineCommand('sbStLeave', { numberOfKeys: 2, lua: LEAVE });
    c.defineCommand('sbStHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
    c.defineCommand('sbStReap', { numberOfKeys: 3, lua: REAP });
    c.defineCommand('sbStRevoke', { numberOfKeys: 1, lua: REVOKE });
    c.defineCommand('sbStRevocations', { numberOfKeys: 1, lua: REVOCATIONS });
    c.defineCommand('sbStSeen', { numberOfKeys: 1, lua: SEEN });
    c.defineCommand('sbWhAppend', { numberOfKeys: 2, lua: WH_APPEND });
    c.defineCommand('sbWhClaim', { numberOfKeys: 3, lua: WH_CLAIM });
    defined.add(c);
  }
  return c as Scripts;
}

/**
 * Cluster state in Redis (the StateStore contract in `@switchboard/server`): every key under one
 * hash tag, so on a Redis Cluster they share a slot and each Lua script stays atomic; with several
 * standalone shards they live on the first. Node leases are a sorted set of expiry times; a
 * group is a hash (member → node, data); a node's index is a sorted set of its entries (rank as
 * score: channel memberships are reaped before user memberships); one counter numbers every change.
 */
export class RedisStateStore implements StateStore {
  readonly shards: RedisShards;
  readonly #base: string;
  readonly #lastSeenTtlMs: number;
  /** The shared connections are held from the first use on (an engine whose state is never used, e.g. a bare broker, owes no release for it). */
  #acquired = false;
  #closed = false;

  constructor(options: (RedisConnectionOptions | { shards: RedisShards }) & { lastSeenTtlMs?: number }) {
    this.shards = 'shards' in options ? options.shards : new RedisShards(options);
    this.#base = `${this.shards.prefix}.state.{${this.shards.prefix}.state}.`;
    this.#lastSeenTtlMs = options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS;
  }

  async #c(): Promise<Scripts> {
    if (this.#closed) throw new Error('the Redis state store is closed');
    if (!this.#acquired) {
      this.shards.acquire();
      this.#acquired = true;
    }
    await this.shards.ready();
    return scripts(this.shards.clients[0]!);
  }

  #k(name: string): string {
    return this.#base + name;
  }

  async heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }> {
    const c = await this.#c();
    return { lapsed: (await c.sbStHeartbeat(this.#k('nodes'), node, Math.ceil(ttlMs))) === 1 };
  }

  async forgetNode(node: string): Promise<void> {
    const c = await this.#c();
    if ((await c.zcard(this.#k(`n.${node}`))) === 0) await c.zrem(this.#k('nodes'), node);
  }

  async join(group: string, member: string, node: string, data: string, rank = 0): Promise<{ first: boolean; seq: number; added: boolean }> {
    const c = await this.#c();
    const [first, seq, added] = await c.sbStJoin(this.#k(`g.${group}`), this.#k(`n.${node}`), this.#k('seq'), member, node, data, `${group}\n${member}`, rank);
    return { first: Number(first) === 1, seq: Number(seq), added: Number(added) === 1 };
  }

  async leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }> {
    const c = await this.#c();
    const [removed, last, seq] = await c.sbStLeave(this.#k(`g.${group}`), this.#k('seq'), member, `${group}\n${member}`, this.#k('n.'));
    return { removed: Number(removed) === 1, last: Number(last) === 1, seq: Number(seq) };
  }

  async counts(groups: readonly string[]): Promise<number[]> {
    if (groups.length === 0) return [];
    const c = await this.#c();
    const p = c.pipeline();
    for (const g of groups) p.hlen(this.#k(`g.${g}`));
    const res = (await p.exec()) ?? [];
    return res.map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
  }

  async reap(limit: number): Promise<Reaped[]> {
    const c = await this.#c();
    const flat = await c.sbStReap(this.#k('nodes'), this.#k('reaping'), this.#k('seq'), this.#base, limit);
    const out: Reaped[] = [];
    for (let i = 0; i + 5 < flat.length; i += 6) {
      out.push({ node: String(flat[i]), group: String(flat[i + 1]), member: String(flat[i + 2]), data: String(flat[i + 3]), last: Number(flat[i + 4]) === 1, seq: Number(flat[i + 5]) });
    }
    return out;
  }

  async revoke(r: Revocation): Promise<void> {
    const c = await this.#c();
    if (r.kind === 'jti') await c.sbStRevoke(this.#k('rev'), `j:${r.jti}`, 0, Math.ceil(r.expireAt));
    else await c.sbStRevoke(this.#k('rev'), `u:${r.user}`, Math.floor(r.issuedBefore), Math.ceil(r.expireAt));
  }

  async revocations(): Promise<Revocation[]> {
    const c = await this.#c();
    const flat = await c.sbStRevocations(this.#k('rev'));
    const out: Revocation[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!;
      const [ib, ex] = flat[i + 1]!.split(':').map(Number) as [number, number];
      if (field.startsWith('j:')) out.push({ kind: 'jti', jti: field.slice(2), expireAt: ex });
      else if (field.startsWith('u:')) out.push({ kind: 'user', user: field.slice(2), issuedBefore: ib, expireAt: ex });
    }
    return out;
  }

  async setLastSeen(user: string, ms: number): Promise<void> {
    const c = await this.#c();
    await c.sbStSeen(this.#k(`seen.${user}`), Math.floor(ms), Math.ceil(this.#lastSeenTtlMs));
  }

  async lastSeen(users: readonly string[]): Promise<(number | undefined)[]> {
    if (users.length === 0) return [];
    const c = await this.#c();
    const got = await c.mget(...users.map((u) => this.#k(`seen.${u}`)));
    return got.map((v) => (v === null ? undefined : Number(v)));
  }

  /**
   * A webhook queue's journal: one stream per (webhook, node) under the state's hash tag, entries
   * removed once delivered; a node's stream is claimable by any other node once the node has no
   * live lease in \`nodes\` (lapsed, reaped, or left with \`forgetNode\`).
   */
  webhookJournal(webhook: string, node: string): WebhookJournal {
    const base = this.#k(`wh.${webhook}.`);
    const owners = `${base}owners`;
    const prefix = `${base}s.`;
    const stream = prefix + node;
    return {
      append: async (entry) => (await this.#c()).sbWhAppend(owners, stream, node, entry),
      remove: async (keys) => {
        if (keys.length > 0) await (await this.#c()).xdel(stream, ...keys);
      },
      claim: async (limit) => {
        const flat = await (await this.#c()).sbWhClaim(this.#k('nodes'), owners, stream, node, prefix, Math.max(1, Math.floor(limit)));
        const out: { key: string; entry: string }[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) out.push({ key: String(flat[i]), entry: String(flat[i + 1]) });
        return out;
      },
      size: async () => (await this.#c()).xlen(stream),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#acquired) return;
    this.#acquired = false;
    await this.shards.release();
  }
}
