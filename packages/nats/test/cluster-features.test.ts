// Token revocation, user status and connection queries across two nodes on NATS (NatsStateStore):
// the scenario the Redis and PostgreSQL engines run (server/test/cluster-features.ts).
import { test } from 'node:test';
import { createNatsEngine } from '../src/index.js';
import { clusterFeaturesScenario, featureOptions, startFeatureNode } from '../../server/test/cluster-features.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

test('token revocation, user status and connection queries across two nodes on NATS', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('features');
  const node = (name: string) => {
    const e = createNatsEngine({ servers: NATS_URL, prefix });
    // Every part the engine made goes to the node, which closes it: a part left out (the ack store)
    // would hold the NATS connection open and the test process with it.
    return startFeatureNode({ ...featureOptions(), broker: e.broker, history: e.history!, presence: e.presence!, state: e.state!, ...(e.acks ? { acks: e.acks } : {}), presenceRefreshMs: e.presenceRefreshMs, name });
  };
  const a = await node('A');
  const b = await node('B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  await clusterFeaturesScenario(t, [a, b], () => node('C'));
});
