import { test } from 'node:test';
import { createPostgresEngine } from '../src/index.js';
import { ackBadInputScenario, ackMoveScenario, ackPerClientScenario, type AckEngine } from '../../redis/test/acks-scenario.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

async function engine(t: { skip: (m: string) => void; after: (fn: () => Promise<void>) => void }): Promise<AckEngine | undefined> {
  if (!(await pgAvailable())) {
    t.skip(`no PostgreSQL at ${PG_DSN}`);
    return undefined;
  }
  const schema = testSchema('acks');
  t.after(() => dropSchema(schema));
  return () => createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 3 });
}

// bounded: two nodes on one PostgreSQL, the official SDK
test('acks on PostgreSQL: a client that comes back on another node (the first one gone) gets what it had not acknowledged; any node answers who has not acknowledged', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackMoveScenario(t, e);
});

test('acks on PostgreSQL are per client: two clients of one user on two nodes, each acknowledges for itself; redelivery after the timeout on the node it is on, none after its ack', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackPerClientScenario(t, e);
});

test('acks on PostgreSQL: a bad ackClient is refused with 107 at subscribe; the connection goes on', { timeout: 60_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackBadInputScenario(t, e);
});
