import type { SwitchboardOptions } from '@switchboard/server';
import { createRedisEngine } from './engine.js';
import { DEFAULT_PREFIX } from './shards.js';

/** A bad value in the `engine.redis` section: `key` is its dotted path. */
export class RedisConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'RedisConfigError';
  }
}

/** Go-style durations as in Centrifugo's config: "60s", "1m30s", "250ms"; a number is milliseconds. */
export function parseDurationMs(v: unknown, key: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v !== 'string') throw new RedisConfigError(key, `expected a duration such as "60s", got ${JSON.stringify(v)}`);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = v.trim();
  if (rest === '' || rest === '0') return 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new RedisConfigError(key, `bad duration "${v}" (use e.g. "60s", "1m30s", "250ms")`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/**
 * The standalone server's `engine.redis` section (Centrifugo v6 names): `address` (one address, a
 * comma-separated list or an array: shards), or `cluster_address` (Redis Cluster: one entry per
 * cluster, each a comma-separated list of seed nodes; several clusters are shards), `prefix`,
 * `presence_ttl` (default "60s"). `SWITCHBOARD_ENGINE_REDIS_ADDRESS` overrides `address`,
 * `SWITCHBOARD_ENGINE_REDIS_CLUSTER_ADDRESS` overrides `cluster_address`.
 */
export interface RedisEngineSection {
  address?: string | string[];
  cluster_address?: string | string[];
  prefix?: string;
  presence_ttl?: string | number;
}

function addressValue(v: unknown, key: string): string | string[] | undefined {
  if (typeof v === 'string' && v.trim().startsWith('[')) {
    try {
      v = JSON.parse(v);
    } catch {
      throw new RedisConfigError(key, `bad JSON array: ${v}`);
    }
  }
  if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((a) => typeof a === 'string')) return v as string[];
  throw new RedisConfigError(key, 'expected a string or an array of strings');
}

/**
 * Builds the Redis engine from a config section: the Switchboard options (broker, history,
 * presence, and a presence refresh interval well within the TTL) and a readiness probe.
 */
export function redisEngineFromConfig(
  section: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'presenceRefreshMs'>; ready: () => Promise<boolean>; close: () => Promise<void> } {
  const s = section as RedisEngineSection;
  const address = addressValue(env['SWITCHBOARD_ENGINE_REDIS_ADDRESS'] ?? s.address, 'engine.redis.address');
  const clusterAddress = addressValue(env['SWITCHBOARD_ENGINE_REDIS_CLUSTER_ADDRESS'] ?? s.cluster_address, 'engine.redis.cluster_address');
  if (address !== undefined && clusterAddress !== undefined) {
    throw new RedisConfigError('engine.redis.cluster_address', 'give engine.redis.address (standalone Redis shards) or engine.redis.cluster_address (Redis Cluster), not both');
  }
  if (address === undefined && clusterAddress === undefined) {
    throw new RedisConfigError('engine.redis.address', 'required with engine.type "redis" (e.g. "127.0.0.1:6379" or a comma-separated list of shards), or engine.redis.cluster_address for Redis Cluster');
  }
  const presenceTtlMs = parseDurationMs(s.presence_ttl ?? '60s', 'engine.redis.presence_ttl');
  if (presenceTtlMs < 1000) throw new RedisConfigError('engine.redis.presence_ttl', 'at least "1s"');
  const prefix = s.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || prefix === '') throw new RedisConfigError('engine.redis.prefix', 'expected a non-empty string');
  let engine;
  try {
    engine = createRedisEngine({ ...(clusterAddress !== undefined ? { clusterAddresses: clusterAddress } : { addresses: address! }), prefix, presenceTtlMs });
  } catch (err) {
    throw new RedisConfigError(clusterAddress !== undefined ? 'engine.redis.cluster_address' : 'engine.redis.address', (err as Error).message);
  }
  return {
    options: {
      broker: engine.broker,
      history: engine.history,
      presence: engine.presence,
      // refresh three times per TTL so one late refresh never drops a live client
      presenceRefreshMs: engine.presenceRefreshMs,
    },
    ready: async () => engine.shards.clients.every((c) => c.status === 'ready'),
    close: async () => {
      await Promise.all([engine.broker.close(), engine.history.close(), engine.presence.close()]);
    },
  };
}
