/**
 * The `engine.redis` section of the standalone server's configuration, defined once here (types,
 * defaults, durations, `SWITCHBOARD_ENGINE_REDIS_*` variables and messages all derive from it).
 * Imports neither ioredis nor the engine: the server checks a configuration without loading them.
 */
import { ConfigError, duration, engineSection, flag, integer, section, stringOrStrings, strings, text, type z } from '@switchboard/config';

export const DEFAULT_PREFIX = 'switchboard';

const given = (a: string | string[] | undefined): boolean => !(a === undefined || a === '' || (Array.isArray(a) && a.length === 0));

/**
 * Centrifugo v6 names: `address` (one address, a comma-separated list or an array: shards), or
 * `cluster_address` (Redis Cluster: one entry per cluster, each a comma-separated list of seed
 * nodes; several clusters are shards), `prefix`, `presence_ttl`.
 */
export const redisConfigSection = engineSection({
  type: 'redis',
  schema: section({
    address: stringOrStrings('"127.0.0.1:6379" or ["redis-1:6379", "redis-2:6379"]').optional(),
    prefix: text({ nonEmpty: true }).default(DEFAULT_PREFIX),
    presence_ttl: duration({ min: 1000 }).prefault('60s'),
    cluster_address: stringOrStrings('"10.0.0.1:7000,10.0.0.2:7000" (seed nodes of one cluster) or ["c1-a:7000,c1-b:7000", "c2-a:7000"]').optional(),
  }),
  whenSelected(s, report) {
    if (given(s.address) && given(s.cluster_address)) {
      report('cluster_address', 'give engine.redis.address (standalone Redis shards) or engine.redis.cluster_address (Redis Cluster), not both');
    } else if (!given(s.address) && !given(s.cluster_address)) {
      report('address', 'required with engine.type "redis": e.g. "127.0.0.1:6379", or a list of shards (or SWITCHBOARD_ENGINE_REDIS_ADDRESS); or engine.redis.cluster_address for Redis Cluster');
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

/** `consumers[i].redis_stream`: Centrifugo v6's Redis Streams consumer options. */
export const redisStreamConsumerSection = section({
  address: stringOrStrings('"127.0.0.1:6379"').default(''),
  streams: strings('["commands"]').default([]),
  consumer_group: text().default(''),
  visibility_timeout: duration({ min: 100 }).prefault('30s'),
  // accepted for Centrifugo configs; each stream is applied by one worker at a time across all nodes, to keep its order
  num_workers: integer({ max: 1024, example: 1 }).default(1),
  payload_value: text({ nonEmpty: true }).default('payload'),
  method_value: text().default('method'),
  publication_data_mode: section({ enabled: flag().default(false) }),
});

export type RedisStreamConsumerSection = z.output<typeof redisStreamConsumerSection>;

/** The checks of a `redis_stream` consumer entry (`consumers[0].redis_stream.streams: ...`). */
export function checkRedisStreamConsumer(c: RedisStreamConsumerSection, report: (key: string, message: string) => void): void {
  const a = c.address;
  if (a === '' || (Array.isArray(a) && a.length === 0)) report('address', 'required for a consumer of type "redis_stream": e.g. "127.0.0.1:6379"');
  else if (Array.isArray(a) && a.length > 1) report('address', 'one Redis address: the streams live on one Redis');
  if (c.streams.length === 0) report('streams', "can't be empty: the streams holding the commands");
  if (c.consumer_group === '') report('consumer_group', 'required for a consumer of type "redis_stream"');
  if (c.publication_data_mode.enabled) report('publication_data_mode.enabled', 'not supported by Switchboard yet: entries must be API commands');
}
