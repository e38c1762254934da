import { test } from 'node:test';
import { ackStoreConformance } from '@switchboard/server/testing';
import { RedisAckStore } from '../src/index.js';
import { RedisClusterProcess } from '../scripts/redis-cluster.js';
import { redisAvailable, testPrefix } from './redis-env.js';

// the ack store contract on a 3-master Redis Cluster this file starts (and kills at the end): every
// key of a channel under its hash tag, so each script (the index check included) stays in one slot
if (!(await redisAvailable())) {
  test('Redis Cluster ack store conformance', (t) => t.skip('no Redis here'));
} else {
  const cluster = await RedisClusterProcess.start(3, 0);
  test.after(() => cluster.stop());
  ackStoreConformance('redis cluster', async () => {
    const opts = { clusterAddresses: [cluster.address], prefix: testPrefix('acks') };
    const store = new RedisAckStore(opts);
    const another = new RedisAckStore(opts);
    return { store, another, close: async () => void (await Promise.all([store.close(), another.close()])) };
  });
}
