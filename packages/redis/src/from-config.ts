import { parseWithEnv } from '@switchboard/config';
import type { SwitchboardOptions } from '@switchboard/server';
import { redisConfigSection, RedisConfigError, type RedisEngineSection } from './config.js';
import { createRedisEngine } from './engine.js';

export interface RedisEngineFromConfig {
  options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'state' | 'acks' | 'presenceRefreshMs'>;
  ready: () => Promise<boolean>;
  close: () => Promise<void>;
}

/**
 * Builds the Redis engine from a raw `engine.redis` section (the standalone server's layout) after
 * the `SWITCHBOARD_ENGINE_REDIS_*` variables of `env`; a bad value throws `RedisConfigError`.
 */
export function redisEngineFromConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): RedisEngineFromConfig {
  const parsed = parseWithEnv(redisConfigSection.schema, raw, env, ['engine', 'redis']);
  if (!parsed.ok) throw new RedisConfigError(parsed.issues[0]!.key, parsed.issues[0]!.message);
  redisConfigSection.whenSelected?.(parsed.value, (key, message) => {
    throw new RedisConfigError(`engine.redis.${key}`, message);
  });
  return redisEngineFromSection(parsed.value);
}

/**
 * Builds the Redis engine from a validated section: the Switchboard options (broker, history,
 * presence, and a presence refresh interval well within the TTL) and a readiness probe.
 */
export function redisEngineFromSection(s: RedisEngineSection): RedisEngineFromConfig {
  const cluster = s.cluster_address !== undefined && s.cluster_address.length > 0;
  let engine;
  try {
    engine = createRedisEngine({ ...(cluster ? { clusterAddresses: s.cluster_address! } : { addresses: s.address ?? [] }), prefix: s.prefix, presenceTtlMs: s.presence_ttl });
  } catch (err) {
    throw new RedisConfigError(cluster ? 'engine.redis.cluster_address' : 'engine.redis.address', (err as Error).message);
  }
  return {
    options: {
      broker: engine.broker,
      history: engine.history,
      presence: engine.presence,
      state: engine.state,
      acks: engine.acks,
      // refresh three times per TTL so one late refresh never drops a live client
      presenceRefreshMs: engine.presenceRefreshMs,
    },
    ready: async () => engine.shards.clients.every((c) => c.status === 'ready'),
    close: async () => {
      await Promise.all([engine.broker.close(), engine.history.close(), engine.presence.close(), engine.state.close(), engine.acks.close()]);
    },
  };
}
