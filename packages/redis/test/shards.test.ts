import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shardOf } from '../src/index.js';
import { RedisProcess } from './cluster.js';
import { redisAvailable, testPrefix } from './redis-env.js';
import { multiNodeScenario } from './scenario.js';

test('two Redis shards: channels spread over both and three nodes still behave as one server', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const shards = [await RedisProcess.start(), await RedisProcess.start()];
  t.after(() => Promise.all(shards.map((s) => s.stop())));
  const addresses = shards.map((s) => s.address);
  // the scenario's channels land on both shards (jump hash of the channel name)
  const channels = ['chat:survey', 'chat:cross', 'chat:presence', 'chat:move', 'chat:kill'];
  assert.equal(new Set(channels.map((ch) => shardOf(ch, 2))).size, 2);
  const prefix = testPrefix('shards');
  await multiNodeScenario(t, addresses, prefix);
  // both Redis instances hold history and presence keys of their own channels
  for (const s of shards) assert.ok((await s.count(prefix)) > 0, `shard ${s.address} holds keys`);
});

test('jump hash spreads channels evenly and moves few when a shard is added', () => {
  const n = 4000;
  const counts = [0, 0, 0, 0];
  let moved = 0;
  for (let i = 0; i < n; i++) {
    const ch = `room:${i}`;
    const s4 = shardOf(ch, 4);
    counts[s4]!++;
    if (shardOf(ch, 3) !== s4) moved++;
  }
  for (const c of counts) assert.ok(c > n / 4 - 200 && c < n / 4 + 200, `even spread: ${counts.join(',')}`);
  // going from 3 to 4 shards moves about a quarter of the channels, never more than a third
  assert.ok(moved < n / 3, `moved ${moved}`);
  assert.equal(shardOf('x', 1), 0);
});
