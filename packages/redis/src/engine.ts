import { RedisAckStore } from './acks.js';
import { RedisBroker } from './broker.js';
import { RedisHistoryStore } from './history.js';
import { RedisPresenceStore } from './presence.js';
import { RedisStateStore } from './state.js';
import { type RedisConnectionOptions, RedisShards } from './shards.js';

export interface RedisEngineOptions extends RedisConnectionOptions {
  /** Presence entries expire this long after their node last refreshed them (default 60 s). Nodes refresh every `presenceRefreshMs`: keep it well under this. */
  readonly presenceTtlMs?: number;
  /** How long a stream's epoch and top outlive its last publication (default 30 days). */
  readonly historyMetaTtlMs?: number;
}

/**
 * Broker, history and presence on the same Redis shards, sharing one command connection per shard:
 * `createSwitchboard({ ...createRedisEngine({ addresses: ['127.0.0.1:6379'] }) })` (the spread also
 * sets `presenceRefreshMs` to match the presence TTL).
 */
export function createRedisEngine(options: RedisEngineOptions): {
  broker: RedisBroker;
  history: RedisHistoryStore;
  presence: RedisPresenceStore;
  /** Cluster state: node leases, online users, occupied channels, revocations, last seen. */
  state: RedisStateStore;
  /** Acknowledged delivery: what each consumer has not acknowledged, shared by every node. */
  acks: RedisAckStore;
  shards: RedisShards;
  /** How often a node should refresh its presence entries: a third of the TTL (at most 20 s). */
  presenceRefreshMs: number;
} {
  const shards = new RedisShards(options);
  const broker = new RedisBroker({ shards });
  const history = new RedisHistoryStore({ shards, ...(options.historyMetaTtlMs !== undefined ? { metaTtlMs: options.historyMetaTtlMs } : {}) });
  const presence = new RedisPresenceStore({ shards, ...(options.presenceTtlMs !== undefined ? { ttlMs: options.presenceTtlMs } : {}) });
  const state = new RedisStateStore({ shards });
  const acks = new RedisAckStore({ shards });
  const presenceRefreshMs = Math.max(250, Math.min(20_000, Math.floor(presence.ttlMs / 3)));
  return { broker, history, presence, state, acks, shards, presenceRefreshMs };
}
