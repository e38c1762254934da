import type { AckResult, AckStore, AckTake } from '@switchboard/server';
import { MAX_UNACKED } from '@switchboard/server';
import type { RedisClient } from './commands.js';
import { type RedisConnectionOptions, RedisShards } from './shards.js';

/**
 * KEYS: pending (zset offset → due), epoch, index (zset "offset:consumer" → offset).
 * ARGV: consumer, epoch, due, ttl ms, max, offsets... An epoch other than the recorded one forgets
 * the consumer's pending offsets first; beyond `max` the lowest offsets are dropped.
 */
const ADD = `
local consumer = ARGV[1]
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[2] then
  for _, o in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do redis.call('ZREM', KEYS[3], o .. ':' .. consumer) end
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
for i = 6, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[i])
  redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i] .. ':' .. consumer)
end
local max = tonumber(ARGV[5])
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  local all = redis.call('ZRANGE', KEYS[1], 0, -1)
  table.sort(all, function(x, y) return tonumber(x) < tonumber(y) end)
  for i = 1, n - max do
    local o = all[i]
    redis.call('ZREM', KEYS[1], o)
    redis.call('ZREM', KEYS[3], o .. ':' .. consumer)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
`;

/** KEYS: pending, index. ARGV: consumer, offsets... Returns {acked, unknown...}. */
const ACK = `
local out = {0}
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZREM', KEYS[2], ARGV[i] .. ':' .. ARGV[1])
    out[1] = out[1] + 1
  else
    table.insert(out, ARGV[i])
  end
end
return out
`;

/** KEYS: pending, epoch. ARGV: up to ('+inf' for all), due, limit. Returns {epoch, next or '', offsets...}. */
const TAKE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, o in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], o) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local out = {redis.call('GET', KEYS[2]) or '', first[2] or ''}
for _, o in ipairs(due) do table.insert(out, o) end
return out
`;

/** KEYS: pending, index. ARGV: consumer, offsets... */
const DROP = `
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i] .. ':' .. ARGV[1])
end
return 1
`;

/**
 * KEYS: index. ARGV: offset, pending key prefix. The consumers for which `offset` is pending;
 * index entries whose consumer no longer has it (its pending set expired) are removed on the way.
 */
const UNACKED = `
local prefix = ARGV[1] .. ':'
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
  local consumer = string.sub(m, #prefix + 1)
  if redis.call('ZSCORE', ARGV[2] .. consumer, ARGV[1]) then
    table.insert(out, consumer)
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
`;

type Scripts = RedisClient & {
  sbAckAdd(pending: string, epoch: string, index: string, ...args: (string | number)[]): Promise<number>;
  sbAckAck(pending: string, index: string, ...args: (string | number)[]): Promise<(string | number)[]>;
  sbAckTake(pending: string, epoch: string, upTo: string, due: number, limit: number): Promise<string[]>;
  sbAckDrop(pending: string, index: string, ...args: (string | number)[]): Promise<number>;
  sbAckUnacked(index: string, offset: number, pendingPrefix: string): Promise<string[]>;
};

const defined = new WeakSet<RedisClient>();

function scripts(c: RedisClient): Scripts {
  if (!defined.has(c)) {
    c.defineCommand('sbAckAdd', { numberOfKeys: 3, lua: ADD });
    c.defineCommand('sbAckAck', { numberOfKeys: 2, lua: ACK });
    c.defineCommand('sbAckTake', { numberOfKeys: 2, lua: TAKE });
    c.defineCommand('sbAckDrop', { numberOfKeys: 2, lua: DROP });
    c.defineCommand('sbAckUnacked', { numberOfKeys: 1, lua: UNACKED });
    defined.add(c);
  }
  return c as Scripts;
}

/**
 * The ack store in Redis (the AckStore contract of `@switchboard/server`), shared by every node, so
 * a consumer reconnecting to another node gets what it had not acknowledged. Per channel, on the
 * channel's shard and under its hash tag (one Cluster slot, atomic scripts): per consumer a sorted
 * set of pending offsets scored by due time and the stream epoch they belong to, and one index of
 * the channel (`offset:consumer` scored by offset) that answers "who has not acknowledged offset X"
 * with one range read. Keys expire `ttlMs` (the namespace's history TTL) after the last delivery.
 */
export class RedisAckStore implements AckStore {
  readonly shards: RedisShards;
  #acquired = false;
  #closed = false;

  constructor(options: RedisConnectionOptions | { shards: RedisShards }) {
    this.shards = 'shards' in options ? options.shards : new RedisShards(options);
  }

  async #c(channel: string): Promise<Scripts> {
    if (this.#closed) throw new Error('the Redis ack store is closed');
    if (!this.#acquired) {
      this.shards.acquire();
      this.#acquired = true;
    }
    await this.shards.ready();
    return scripts(this.shards.client(channel));
  }

  #keys(channel: string, consumer: string) {
    const base = `${this.shards.prefix}.acks.{${channel}}.`;
    return { pending: `${base}p.${consumer}`, pendingPrefix: `${base}p.`, epoch: `${base}e.${consumer}`, index: `${base}u` };
  }

  async add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void> {
    if (offsets.length === 0) return;
    const c = await this.#c(channel);
    const k = this.#keys(channel, consumer);
    await c.sbAckAdd(k.pending, k.epoch, k.index, consumer, epoch, Math.floor(dueAt), Math.max(1, Math.ceil(ttlMs)), MAX_UNACKED, ...offsets);
  }

  async ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    const c = await this.#c(channel);
    const k = this.#keys(channel, consumer);
    const r = await c.sbAckAck(k.pending, k.index, consumer, ...offsets);
    return { acked: Number(r[0]), unknown: r.slice(1).map(Number) };
  }

  async take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake> {
    const c = await this.#c(channel);
    const k = this.#keys(channel, consumer);
    const r = await c.sbAckTake(k.pending, k.epoch, upTo === Number.POSITIVE_INFINITY ? '+inf' : String(Math.floor(upTo)), Math.floor(dueAt), limit);
    const offsets = r
      .slice(2)
      .map(Number)
      .sort((a, b) => a - b);
    return { epoch: r[0] ?? '', offsets, next: r[1] === '' || r[1] === undefined ? undefined : Number(r[1]) };
  }

  async drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void> {
    if (offsets.length === 0) return;
    const c = await this.#c(channel);
    const k = this.#keys(channel, consumer);
    await c.sbAckDrop(k.pending, k.index, consumer, ...offsets);
  }

  async unacknowledged(channel: string, offset: number): Promise<string[]> {
    const c = await this.#c(channel);
    const k = this.#keys(channel, '');
    // the pending sets named by the index share the channel's hash tag: one slot
    return (await c.sbAckUnacked(k.index, offset, k.pendingPrefix)).sort();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#acquired) await this.shards.release();
  }
}
