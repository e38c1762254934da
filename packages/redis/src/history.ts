import { EpochMismatchError, type HistoryOptions, type HistoryReadOptions, type HistoryReadResult, type HistoryStore, type Publication, type StreamPosition } from '@switchboard/server';
import type { Redis } from 'ioredis';
import { decodePub, encodeStored, encodeWire, newEpoch } from './codec.js';
import { APPEND, READ, REMOVE } from './scripts.js';
import { keys, type RedisConnectionOptions, RedisShards } from './shards.js';

/** How long a stream's epoch and top outlive its last append by default (as the memory store). */
export const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

type ScriptClient = Redis & {
  sbAppend(stream: string, meta: string, stored: string, wire: string, size: number, ttl: number, metaTtl: number, epoch: string, channel: string): Promise<[number, string]>;
  sbRead(stream: string, meta: string, epoch: string, metaTtl: number, since: string, sinceEpoch: string, limit: number, reverse: string): Promise<(string | number)[]>;
  sbRemove(stream: string, meta: string): Promise<number>;
};

const defined = new WeakSet<Redis>();

/** Registers the history scripts on a connection (ioredis runs them by EVALSHA, reloading after a Redis restart). */
export function historyScripts(c: Redis): ScriptClient {
  if (!defined.has(c)) {
    c.defineCommand('sbAppend', { numberOfKeys: 2, lua: APPEND });
    c.defineCommand('sbRead', { numberOfKeys: 2, lua: READ });
    c.defineCommand('sbRemove', { numberOfKeys: 2, lua: REMOVE });
    defined.add(c);
  }
  return c as ScriptClient;
}

/** Appends to a channel's stream and, when `pubsub` is given, publishes in the same atomic step. */
export async function appendAndPublish(shards: RedisShards, channel: string, pub: Publication, options: HistoryOptions, pubsub: string): Promise<StreamPosition> {
  const k = keys(shards.prefix, channel);
  const c = historyScripts(shards.client(channel));
  if (!(options.size >= 1) || !(options.ttlMs >= 1)) throw new RangeError('history size and ttl must be positive');
  const [offset, epoch] = await c.sbAppend(
    k.stream,
    k.meta,
    encodeStored(pub),
    pubsub === '' || pub.delivery === undefined ? '' : encodeWire(pub), // '': the stored form, not sent twice
    Math.floor(options.size),
    Math.ceil(options.ttlMs),
    Math.ceil(options.metaTtlMs ?? DEFAULT_META_TTL_MS),
    newEpoch(),
    pubsub,
  );
  return { offset: Number(offset), epoch: String(epoch) };
}

/**
 * History in Redis Streams, one stream per channel (entry id = offset), plus a small hash with the
 * epoch and the top offset. Append, trim and expiry run in one Lua script; see the README for why.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly shards: RedisShards;
  readonly #metaTtlMs: number;

  constructor(options: RedisConnectionOptions | { shards: RedisShards; metaTtlMs?: number }, extra: { metaTtlMs?: number } = {}) {
    this.shards = 'shards' in options ? options.shards.acquire() : new RedisShards(options).acquire();
    this.#metaTtlMs = ('metaTtlMs' in options ? options.metaTtlMs : undefined) ?? extra.metaTtlMs ?? DEFAULT_META_TTL_MS;
  }

  async append(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    await this.shards.ready();
    return appendAndPublish(this.shards, channel, pub, options, '');
  }

  async read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    await this.shards.ready();
    const k = keys(this.shards.prefix, channel);
    const c = historyScripts(this.shards.client(channel));
    const since = options.since;
    const r = await c.sbRead(
      k.stream,
      k.meta,
      newEpoch(),
      this.#metaTtlMs,
      since ? String(Math.max(0, Math.floor(since.offset))) : '',
      since?.epoch ?? '',
      options.limit < 0 ? -1 : Math.floor(options.limit),
      options.reverse ? '1' : '0',
    );
    const position = { offset: Number(r[1]), epoch: String(r[2]) };
    if (r[0] === 'mismatch') throw new EpochMismatchError(position);
    const publications: Publication[] = [];
    for (let i = 3; i + 1 < r.length; i += 2) publications.push(decodePub(String(r[i + 1]), Number(r[i]), position.epoch));
    return { publications, position };
  }

  async position(channel: string): Promise<StreamPosition> {
    return (await this.read(channel, { limit: 0 })).position;
  }

  async remove(channel: string): Promise<void> {
    await this.shards.ready();
    const k = keys(this.shards.prefix, channel);
    await historyScripts(this.shards.client(channel)).sbRemove(k.stream, k.meta);
  }

  async close(): Promise<void> {
    await this.shards.release();
  }
}
