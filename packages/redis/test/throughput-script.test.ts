import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brokerThroughput } from '../scripts/broker-throughput.js';
import { redisAvailable } from './redis-env.js';

// The throughput script (packages/redis/README.md, "Throughput") at a small size, so that it cannot
// rot: both runs complete, every publication arrives, in offset order (the script throws otherwise).
// No figure is asserted: speed is measured by running the script, not here.
test('scripts/broker-throughput.ts runs: every publication arrives, history ones in offset order', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const r = await brokerThroughput(undefined, { n: 3000, inFlight: 32, channels: 3 });
  for (const run of [r.withoutHistory, r.withHistory]) {
    assert.ok(run.publicationsPerSecond > 0);
    assert.ok(run.p99Ms >= run.p50Ms);
    assert.ok(run.nodeCpuUsPerPublication > 0);
  }
});
