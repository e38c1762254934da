// HTTP-streaming and SSE emulation requests routed between two nodes over NATS (the control plane):
// the scenario in server/test/emulation-routing-scenario.ts, as the Redis balancer test does it.
import { test } from 'node:test';
import { createNatsEngine } from '../src/index.js';
import { emulationRoutingScenario, startRoutingNode } from '../../server/test/emulation-routing-scenario.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

test('two nodes on NATS: emulation requests sent to the node without the session are routed to the one holding it', { timeout: 120_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('emulation');
  const node = (name: string) => {
    const e = createNatsEngine({ servers: NATS_URL, prefix });
    return startRoutingNode({ broker: e.broker, history: e.history!, presence: e.presence!, state: e.state!, ...(e.acks ? { acks: e.acks } : {}), presenceRefreshMs: e.presenceRefreshMs }, name);
  };
  const a = await node('A');
  const b = await node('B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  await emulationRoutingScenario(a, b);
});
