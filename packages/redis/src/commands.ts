import type { Cluster, Redis } from 'ioredis';
import { APPEND, IDEMPOTENT, READ, REMOVE, ROTATE } from './scripts.js';

/** A command connection: one Redis (a shard) or a Redis Cluster (ioredis routes each command by slot). */
export type RedisClient = Redis | Cluster;

/** How long a stream's epoch and top outlive its last append by default (as the memory store). */
export const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

export type HistoryScriptClient = RedisClient & {
  /** See APPEND: the published forms joined by newlines (or '='), the stored forms joined by newlines, and their count. */
  sbAppend(stream: string, meta: string, metaTtl: number, epoch: string, channel: string, command: string, size: number, ttl: number, wire: string, stored: string, count: number): Promise<[number, string]>;
  sbRead(stream: string, meta: string, epoch: string, metaTtl: number, since: string, sinceEpoch: string, limit: number, reverse: string): Promise<(string | number)[]>;
  sbRemove(stream: string, meta: string): Promise<number>;
  sbIdempotent(
    stream: string,
    meta: string,
    result: string,
    metaTtl: number,
    epoch: string,
    channel: string,
    command: string,
    size: number | '',
    ttl: number,
    wire: string,
    stored: string,
    resultTtl: number,
    useKey: '1' | '0',
    version: number | '0',
    versionEpoch: string,
  ): Promise<[string, string]>;
  sbRotate(stream: string, meta: string, seenEpoch: string, newEpoch: string): Promise<string>;
};

const defined = new WeakSet<RedisClient>();

/** Registers the history scripts on a connection (ioredis runs them by EVALSHA, reloading after a Redis restart). */
export function historyScripts(c: RedisClient): HistoryScriptClient {
  if (!defined.has(c)) {
    c.defineCommand('sbAppend', { numberOfKeys: 2, lua: APPEND });
    c.defineCommand('sbRead', { numberOfKeys: 2, lua: READ });
    c.defineCommand('sbRemove', { numberOfKeys: 2, lua: REMOVE });
    c.defineCommand('sbIdempotent', { numberOfKeys: 3, lua: IDEMPOTENT });
    c.defineCommand('sbRotate', { numberOfKeys: 2, lua: ROTATE });
    defined.add(c);
  }
  return c as HistoryScriptClient;
}
