import { test } from 'node:test';
import { brokerConformance, historyConformance, presenceConformance } from '@switchboard/server/testing';
import { RedisBroker, RedisHistoryStore, RedisPresenceStore, RedisShards } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const available = await redisAvailable();
if (!available) {
  test('Redis conformance', (t) => t.skip(`no Redis at ${REDIS_ADDRESS}`));
} else {
  const prefix = testPrefix('conf');
  const addresses = [REDIS_ADDRESS];

  historyConformance('redis', async () => {
    const made: RedisHistoryStore[] = [];
    const make = async () => {
      const s = new RedisHistoryStore({ addresses, prefix });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  presenceConformance('redis', async ({ ttlMs }) => {
    const made: RedisPresenceStore[] = [];
    const make = async () => {
      const s = new RedisPresenceStore({ addresses, prefix, ttlMs });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  brokerConformance('redis', async () => {
    // each broker is a node with its own connections, as in separate processes
    const brokers: RedisBroker[] = [];
    const history = new RedisHistoryStore({ addresses, prefix });
    return {
      history,
      multiNode: true,
      async broker() {
        const b = new RedisBroker({ shards: new RedisShards({ addresses, prefix }) });
        brokers.push(b);
        return b;
      },
      async close() {
        await Promise.all(brokers.map((b) => b.close()));
        await history.close();
      },
    };
  });

  test.after(() => dropPrefix(prefix));
}
