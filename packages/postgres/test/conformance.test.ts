import { test } from 'node:test';
import { brokerConformance, historyConformance, presenceConformance } from '@switchboard/server/testing';
import { Database, PostgresBroker, PostgresHistoryStore, PostgresPresenceStore } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

const available = await pgAvailable();
if (!available) {
  test('PostgreSQL conformance', (t) => t.skip(`no PostgreSQL at ${PG_DSN}`));
} else {
  const schema = testSchema('conf');
  const conn = { dsn: PG_DSN, schema, poolSize: 2 };

  historyConformance('postgres', async () => {
    const made: PostgresHistoryStore[] = [];
    const make = async () => {
      const s = new PostgresHistoryStore(conn);
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  presenceConformance('postgres', async ({ ttlMs }) => {
    const made: PostgresPresenceStore[] = [];
    const make = async () => {
      const s = new PostgresPresenceStore({ ...conn, ttlMs });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  brokerConformance('postgres', async () => {
    // each broker is a node with its own pool and listener, as in separate processes
    const brokers: PostgresBroker[] = [];
    const history = new PostgresHistoryStore(conn);
    return {
      history,
      multiNode: true,
      async broker() {
        const b = new PostgresBroker({ db: new Database(conn) });
        brokers.push(b);
        return b;
      },
      async close() {
        await Promise.all(brokers.map((b) => b.close()));
        await history.close();
      },
    };
  });

  test.after(() => dropSchema(schema));
}
