// Token revocation, user status and connection queries across two nodes on PostgreSQL (the
// PostgresStateStore): the scenario the Redis engine runs (server/test/cluster-features.ts).
import { test } from 'node:test';
import { createPostgresEngine } from '../src/index.js';
import { clusterFeaturesScenario, featureOptions, startFeatureNode } from '../../server/test/cluster-features.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

test('token revocation, user status and connection queries across two nodes on PostgreSQL', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('features');
  const node = (name: string) => {
    const e = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 4, nodeName: name });
    return startFeatureNode({ ...featureOptions(), broker: e.broker, history: e.history, presence: e.presence, state: e.state, presenceRefreshMs: e.presenceRefreshMs, name });
  };
  const a = await node('A');
  const b = await node('B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropSchema(schema);
  });
  await clusterFeaturesScenario(t, [a, b], () => node('C'));
});
