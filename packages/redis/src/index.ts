/** @switchboard/redis: Switchboard on many nodes, with Redis between them. */
export { RedisBroker } from './broker.js';
export { RedisHistoryStore, DEFAULT_META_TTL_MS } from './history.js';
export { RedisPresenceStore, DEFAULT_PRESENCE_TTL_MS } from './presence.js';
export { RedisStateStore } from './state.js';
export { RedisAckStore } from './acks.js';
export { createRedisEngine, type RedisEngineOptions } from './engine.js';
export { RedisShards, parseAddress, addressList, clusterList, jumpHash, shardOf, DEFAULT_PREFIX, type RedisConnectionOptions } from './shards.js';
export { keySlot } from './slot.js';
export { redisConfigSection, RedisConfigError, redisStreamConsumerSection, checkRedisStreamConsumer, type RedisEngineSection, type RedisStreamConsumerSection } from './config.js';
export { redisEngineFromConfig, redisEngineFromSection, type RedisEngineFromConfig } from './from-config.js';
export { RedisStreamConsumer, type RedisStreamConsumerOptions } from './consumer.js';
