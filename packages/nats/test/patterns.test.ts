import { test } from 'node:test';
import { createNatsEngine } from '../src/index.js';
import { patternScenario } from '../../redis/test/pattern-scenario.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

// bounded: two nodes, one NATS with JetStream, a reconnect
test('pattern subscriptions across two nodes on NATS: three matching channels, none other, refused without a grant, per-channel recovery', { timeout: 120_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS at ${NATS_URL}`);
  const prefix = testPrefix('patterns');
  t.after(() => dropPrefix(prefix));
  await patternScenario(t, () => createNatsEngine({ servers: NATS_URL, prefix }));
});
