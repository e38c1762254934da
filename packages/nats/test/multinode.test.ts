import { test } from 'node:test';
import { multiNodeScenario, PRESENCE_TTL_MS } from '../../redis/test/scenario.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

// the same scenario as three nodes on Redis: SDK on A gets B's API publishes, presence on C lists
// A's and B's clients, a client moved from A to B recovers in order, SIGKILLed B leaves presence
test('three standalone nodes on NATS with JetStream history and presence behave as one server', { timeout: 300_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS at ${NATS_URL}`);
  const prefix = testPrefix('multi');
  t.after(() => dropPrefix(prefix));
  const engine = { type: 'nats', nats: { url: NATS_URL, prefix, presence_ttl: `${PRESENCE_TTL_MS}ms` } };
  await multiNodeScenario(t, [], '', { engine, registryExpiry: true });
});

test('three standalone nodes on NATS with presence in Redis (engine.nats.presence "redis") behave as one server', { timeout: 300_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS at ${NATS_URL}`);
  const { REDIS_ADDRESS, redisAvailable, dropPrefix: dropRedisPrefix } = await import('../../redis/test/redis-env.js');
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('multiredis');
  t.after(async () => {
    await dropPrefix(prefix);
    await dropRedisPrefix(prefix);
  });
  const engine = {
    type: 'nats',
    nats: { url: NATS_URL, prefix, presence: 'redis', presence_ttl: `${PRESENCE_TTL_MS}ms` },
    redis: { address: REDIS_ADDRESS, prefix },
  };
  await multiNodeScenario(t, [], '', { engine, registryExpiry: true });
});
