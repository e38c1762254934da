import { test } from 'node:test';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { multiNodeScenario } from './scenario.js';

test('three nodes in separate processes on one Redis behave as one server', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('multi');
  t.after(() => dropPrefix(prefix));
  await multiNodeScenario(t, [REDIS_ADDRESS], prefix, { registryExpiry: true });
});
