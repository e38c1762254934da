import { test } from 'node:test';
import { brokerConformance, historyConformance, presenceConformance } from '@switchboard/server/testing';
import { RedisBroker, RedisHistoryStore, RedisPresenceStore, RedisShards } from '../src/index.js';
import { RedisClusterProcess } from '../scripts/redis-cluster.js';
import { redisAvailable } from './redis-env.js';

// the conformance suites, unchanged, on a 3-master Redis Cluster this file starts (and kills at the end)
if (!(await redisAvailable())) {
  test('Redis Cluster conformance', (t) => t.skip('no Redis here'));
} else {
  const cluster = await RedisClusterProcess.start(3, 0);
  test.after(() => cluster.stop());
  const opts = { clusterAddresses: [cluster.address], prefix: 'conf' };

  historyConformance('redis cluster', async () => {
    const made: RedisHistoryStore[] = [];
    const make = async () => {
      const s = new RedisHistoryStore(opts);
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  presenceConformance('redis cluster', async ({ ttlMs }) => {
    const made: RedisPresenceStore[] = [];
    const make = async () => {
      const s = new RedisPresenceStore({ ...opts, ttlMs });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  brokerConformance('redis cluster', async () => {
    const brokers: RedisBroker[] = [];
    const history = new RedisHistoryStore(opts);
    return {
      history,
      multiNode: true,
      async broker() {
        const b = new RedisBroker({ shards: new RedisShards(opts) });
        brokers.push(b);
        return b;
      },
      async close() {
        await Promise.all(brokers.map((b) => b.close()));
        await history.close();
      },
    };
  });
}
