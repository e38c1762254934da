// The StateStore contract (cluster/state.ts) on PostgreSQL: two stores with their own pools on one
// schema are two nodes.
import { test } from 'node:test';
import { stateConformance } from '@switchboard/server/testing';
import { PostgresStateStore } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

if (!(await pgAvailable())) {
  test('PostgreSQL state conformance', (t) => t.skip(`no PostgreSQL at ${PG_DSN}`));
} else {
  stateConformance('postgres', async () => {
    const schema = testSchema('state');
    const store = new PostgresStateStore({ dsn: PG_DSN, schema, poolSize: 4 });
    const another = new PostgresStateStore({ dsn: PG_DSN, schema, poolSize: 4 });
    return {
      store,
      another,
      close: async () => {
        await Promise.all([store.close(), another.close()]);
        await dropSchema(schema);
      },
    };
  });
}
