import { test } from 'node:test';
import { multiNodeScenario, PRESENCE_TTL_MS } from '../../redis/test/scenario.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

// the same scenario as three nodes on Redis: SDK on A gets B's API publishes, presence on C lists
// A's and B's clients, a client moved from A to B recovers in order, SIGKILLed B leaves presence
test('three standalone nodes on one PostgreSQL behave as one server', { timeout: 600_000 }, async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('multi');
  t.after(() => dropSchema(schema));
  const engine = { type: 'postgres', postgres: { dsn: PG_DSN, schema, pool_size: 3, presence_ttl: `${PRESENCE_TTL_MS}ms` } };
  await multiNodeScenario(t, [], '', { engine, registryExpiry: true });
});
