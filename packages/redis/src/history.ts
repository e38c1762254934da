import { EpochMismatchError, type HistoryOptions, type HistoryReadOptions, type HistoryReadResult, type HistoryStore, type Publication, type StreamPosition } from '@switchboard/server';
import { batcherOf } from './batcher.js';
import { decodePub, newEpoch } from './codec.js';
import { DEFAULT_META_TTL_MS, historyScripts } from './commands.js';
import { keys, type RedisConnectionOptions, RedisShards } from './shards.js';

export { DEFAULT_META_TTL_MS };

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
    return batcherOf(this.shards).append(channel, pub, options, false);
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
