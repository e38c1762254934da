import { test } from 'node:test';
import { createPostgresEngine } from '../src/index.js';
import { patternScenario } from '../../redis/test/pattern-scenario.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

// bounded: two nodes, one PostgreSQL, a reconnect
test('pattern subscriptions across two nodes on PostgreSQL: three matching channels, none other, refused without a grant, per-channel recovery', { timeout: 120_000 }, async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('patterns');
  t.after(() => dropSchema(schema));
  await patternScenario(t, () => createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 }));
});
