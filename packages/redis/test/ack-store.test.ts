import { test } from 'node:test';
import { ackStoreConformance } from '@switchboard/server/testing';
import { RedisAckStore } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

if (!(await redisAvailable())) {
  test('Redis ack store conformance', (t) => t.skip(`no Redis at ${REDIS_ADDRESS}`));
} else {
  ackStoreConformance('redis', async () => {
    const prefix = testPrefix('acks');
    // two instances with their own connections: two nodes
    const store = new RedisAckStore({ addresses: [REDIS_ADDRESS], prefix });
    const another = new RedisAckStore({ addresses: [REDIS_ADDRESS], prefix });
    return {
      store,
      another,
      close: async () => {
        await Promise.all([store.close(), another.close()]);
        await dropPrefix(prefix);
      },
    };
  });
}
