/**
 * The `engine.redis` section of the standalone server's configuration, defined once here (types,
 * defaults, durations, `SWITCHBOARD_ENGINE_REDIS_*` variables and messages all derive from it).
 * Imports neither ioredis nor the engine: the server checks a configuration without loading them.
 */
import { ConfigError, duration, engineSection, section, stringOrStrings, text, type z } from '@switchboard/config';

export const DEFAULT_PREFIX = 'switchboard';

/** Centrifugo v6 names: `address` (one address, a comma-separated list or an array: shards), `prefix`, `presence_ttl`. */
export const redisConfigSection = engineSection({
  type: 'redis',
  schema: section({
    address: stringOrStrings('"127.0.0.1:6379" or ["redis-1:6379", "redis-2:6379"]').optional(),
    prefix: text({ nonEmpty: true }).default(DEFAULT_PREFIX),
    presence_ttl: duration({ min: 1000 }).prefault('60s'),
  }),
  whenSelected(s, report) {
    const a = s.address;
    if (a === undefined || a === '' || (Array.isArray(a) && a.length === 0)) {
      report('address', 'required with engine.type "redis": e.g. "127.0.0.1:6379", or a list of shards (or SWITCHBOARD_ENGINE_REDIS_ADDRESS)');
    }
  },
});

/** The validated `engine.redis` section: `presence_ttl` in milliseconds, defaults filled in. */
export type RedisEngineSection = z.output<typeof redisConfigSection.schema>;

/** A bad value in the `engine.redis` section: `key` is its dotted path. */
export class RedisConfigError extends ConfigError {
  readonly key: string;
  constructor(key: string, message: string) {
    super([{ key, message }]);
    this.key = key;
    this.name = 'RedisConfigError';
  }
}
