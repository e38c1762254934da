import { test } from 'node:test';
import { createRedisEngine } from '../src/index.js';
import { patternScenario } from './pattern-scenario.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

// the scenario NATS and PostgreSQL run, on Redis
test('pattern subscriptions across two nodes on Redis, the engines scenario: three matching channels, none other, refused without a grant, no-history channels, per-channel recovery', { timeout: 120_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('patterns');
  t.after(() => dropPrefix(prefix));
  await patternScenario(t, () => createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }));
});
