import { test } from 'node:test';
import { createNatsEngine } from '../src/index.js';
import { ackBadInputScenario, ackMoveScenario, ackPerClientScenario, type AckEngine } from '../../redis/test/acks-scenario.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

async function engine(t: { skip: (m: string) => void; after: (fn: () => Promise<void>) => void }): Promise<AckEngine | undefined> {
  if (!(await natsAvailable())) {
    t.skip(`no NATS at ${NATS_URL}`);
    return undefined;
  }
  const prefix = testPrefix('acks');
  t.after(() => dropPrefix(prefix));
  return () => createNatsEngine({ servers: NATS_URL, prefix });
}

// bounded: two nodes on one NATS with JetStream, the official SDK
test('acks on NATS: a client that comes back on another node (the first one gone) gets what it had not acknowledged; any node answers who has not acknowledged', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackMoveScenario(t, e);
});

test('acks on NATS are per client: two clients of one user on two nodes, each acknowledges for itself; redelivery after the timeout on the node it is on, none after its ack', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackPerClientScenario(t, e);
});

test('acks on NATS: a bad ackClient is refused with 107 at subscribe; the connection goes on', { timeout: 60_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackBadInputScenario(t, e);
});
