import { test } from 'node:test';
import { ackStoreConformance } from '@switchboard/server/testing';
import { PostgresAckStore } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

if (!(await pgAvailable())) {
  test('PostgreSQL ack store conformance', (t) => t.skip(`no PostgreSQL at ${PG_DSN}`));
} else {
  ackStoreConformance('postgres', async () => {
    const schema = testSchema('acks');
    // two instances with their own pools: two nodes
    const store = new PostgresAckStore({ dsn: PG_DSN, schema, poolSize: 2 });
    const another = new PostgresAckStore({ dsn: PG_DSN, schema, poolSize: 2 });
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
