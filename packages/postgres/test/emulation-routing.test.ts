// HTTP-streaming and SSE emulation requests routed between two nodes over PostgreSQL (the control
// plane): the scenario in server/test/emulation-routing-scenario.ts, as the Redis balancer test does it.
import { test } from 'node:test';
import { createPostgresEngine } from '../src/index.js';
import { emulationRoutingScenario, startRoutingNode } from '../../server/test/emulation-routing-scenario.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

test('two nodes on PostgreSQL: emulation requests sent to the node without the session are routed to the one holding it', { timeout: 120_000 }, async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('emulation');
  const node = (name: string) => {
    const e = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 4, nodeName: name });
    return startRoutingNode({ broker: e.broker, history: e.history, presence: e.presence, state: e.state, presenceRefreshMs: e.presenceRefreshMs }, name);
  };
  const a = await node('A');
  const b = await node('B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropSchema(schema);
  });
  await emulationRoutingScenario(a, b);
});
