import { test } from 'node:test';
import { createRedisEngine } from '../src/index.js';
import { clusterFeaturesScenario, featureOptions, startFeatureNode } from '../../server/test/cluster-features.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

test('token revocation, user status and connection queries across two nodes on Redis', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('features');
  const node = (name: string) => startFeatureNode({ ...featureOptions(), ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }), name });
  const a = await node('A');
  const b = await node('B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  await clusterFeaturesScenario(t, [a, b], () => node('C'));
});
