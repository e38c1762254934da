import { test } from 'node:test';
import { stateConformance } from '@switchboard/server/testing';
import { RedisStateStore } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

if (!(await redisAvailable())) {
  test('Redis state conformance', (t) => t.skip(`no Redis at ${REDIS_ADDRESS}`));
} else {
  stateConformance('redis', async () => {
    const prefix = testPrefix('state');
    // two instances with their own connections: two nodes
    const store = new RedisStateStore({ addresses: [REDIS_ADDRESS], prefix });
    const another = new RedisStateStore({ addresses: [REDIS_ADDRESS], prefix });
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
