import { test } from 'node:test';
import { createRedisEngine } from '../src/index.js';
import { ackBadInputScenario, ackMoveScenario, ackPerClientScenario, type AckEngine } from './acks-scenario.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

async function engine(t: { skip: (m: string) => void; after: (fn: () => Promise<void>) => void }): Promise<AckEngine | undefined> {
  if (!(await redisAvailable())) {
    t.skip(`no Redis at ${REDIS_ADDRESS}`);
    return undefined;
  }
  const prefix = testPrefix('acks');
  t.after(() => dropPrefix(prefix));
  return () => createRedisEngine({ addresses: [REDIS_ADDRESS], prefix });
}

// bounded: two nodes on one Redis, the official SDK
test('acks on Redis: a client that comes back on another node (the first one gone) gets what it had not acknowledged; any node answers who has not acknowledged', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackMoveScenario(t, e);
});

test('acks on Redis are per client: two clients of one user on two nodes, each acknowledges for itself; redelivery after the timeout on the node it is on, none after its ack', { timeout: 120_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackPerClientScenario(t, e);
});

test('acks on Redis: a bad ackClient is refused with 107 at subscribe; the connection goes on', { timeout: 60_000 }, async (t) => {
  const e = await engine(t);
  if (e) await ackBadInputScenario(t, e);
});
