import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { shardOf } from '../src/index.js';
import { RedisProcess, startNodes } from './cluster.js';
import { redisAvailable } from './redis-env.js';
import { assertNoSilentLoss, publisher } from './no-silent-loss.js';
import { SdkClient } from './sdk.js';

for (const shardCount of [1, 2]) {
test(`Redis restarted mid-stream (${shardCount} shard${shardCount > 1 ? 's' : ''}): publishing and delivery resume, and no client misses a publication without being told`, async (t) => {
  // this test runs its own redis-servers; the shared one only tells whether Redis is installed here
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const shards: RedisProcess[] = [];
  for (let i = 0; i < shardCount; i++) shards.push(await RedisProcess.start());
  t.after(() => Promise.all(shards.map((s) => s.stop())));
  const [a, b] = await startNodes({ addresses: shards.map((s) => s.address), prefix: 'restart', presenceTtlMs: 1500 }, ['A', 'B']);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    for (const c of bystanders) c.close();
    await Promise.all([a!.stop(), b!.stop()]);
  });
  const ch = 'chat:restart';
  const redis = shards[shardOf(ch, shardCount)]!;
  // with two shards, a channel on the shard that stays up: its subscribers missed nothing and are left alone
  const calm = ['chat:calm-1', 'chat:calm-2', 'chat:calm-3', 'chat:calm-4'].find((c) => shardOf(c, shardCount) !== shardOf(ch, shardCount));
  const bystanders: SdkClient[] = [];
  if (calm !== undefined) {
    for (const node of [a!, b!]) {
      const c = await SdkClient.connect(node.ws, 'calm');
      bystanders.push(c);
      await c.subscribe(calm);
    }
    await a!.api('publish', { channel: calm, data: { i: 0 } });
    for (const c of bystanders) await waitFor(() => c.pubs(calm).length === 1, 10_000, 'the calm publication');
  }
  for (const node of [a!, a!, b!, b!]) {
    const c = await SdkClient.connect(node.ws, `u${clients.length}`);
    clients.push(c);
    await c.subscribe(ch);
  }

  const { acked, failed, publish } = publisher([b!, a!], ch);

  for (let k = 0; k < 20; k++) assert.ok(await publish(), 'publishing works before the outage');
  // Delivery is not part of the acknowledgement: a SIGKILL right after the last one can take its
  // fan-out with it (seen once in CI: the 20th acknowledged, never delivered, the clients told to
  // resync), which assertNoSilentLoss covers. Here the outage starts once the 20 have arrived, so
  // that what came before it is checked whole.
  for (const c of clients) await waitFor(() => c.pubs(ch).length >= 20, 10_000, 'the 20 publications before the outage to arrive');
  await redis.stop();
  // a publish while Redis is down fails loudly: an error to the publisher, not a silent loss
  assert.equal(await publish(), false);
  assert.equal(await publish(), false);
  // local traffic goes on: a new client connects to A while Redis is away
  const during = await SdkClient.connect(a!.ws, 'during');
  clients.push(during);
  // a subscribe while Redis is away gets a temporary error (the SDK retries), never a hang or a fake success
  const lateChannel = ['chat:during-1', 'chat:during-2', 'chat:during-3', 'chat:during-4', 'chat:during-5', 'chat:during-6'].find((c) => shardOf(c, shardCount) === shardOf(ch, shardCount))!;
  const late = during.c.newSubscription(lateChannel);
  const errors: number[] = [];
  let lateSubscribed = false;
  late.on('error', (ctx) => errors.push(ctx.error.code));
  late.on('subscribed', () => (lateSubscribed = true));
  late.subscribe();
  await waitFor(() => errors.length > 0, 10_000, 'the subscribe error');
  assert.equal(errors[0], 100);
  assert.equal(lateSubscribed, false);
  await redis.start();
  // each node reconnects on its own backoff: wait until both publish again
  let streak = 0;
  await waitFor(async () => ((await publish()) ? ++streak : (streak = 0)) >= 2, 15_000, 'publishing to work again on both nodes');
  for (let k = 0; k < 20; k++) assert.ok(await publish(), 'publishing works after the restart');
  await waitFor(() => lateSubscribed, 15_000, 'the retried subscribe to succeed once Redis is back');
  // the restarted Redis lost the stream (new epoch): every client is made to resync and told that
  // recovery failed (the SDK gets unsubscribe 2500, resubscribes with recovery, hears recovered false)
  for (const c of clients.slice(0, 4)) {
    const rec = c.subs.get(ch)!;
    await waitFor(() => rec.subscribed.some((s) => s.wasRecovering && !s.recovered), 10_000, 'the client to be told it could not recover');
    assert.ok(rec.subscribing.includes(2500) || c.disconnects.length > 0, 'the client was made to resync');
  }
  for (let k = 0; k < 5; k++) assert.ok(await publish());
  const last = acked[acked.length - 1]!;
  for (const c of clients.slice(0, 4)) {
    await waitFor(() => c.pubs(ch).some((p) => (p.data as { i: number }).i === last), 10_000, 'every subscriber to resume');
    const got = c.pubs(ch).map((p) => (p.data as { i: number }).i);
    assert.deepEqual(got.slice(0, 20), acked.slice(0, 20), 'everything before the outage arrived');
    assertNoSilentLoss(c, ch, acked, last);
    assert.ok(got.slice(-5).join() === acked.slice(-5).join(), 'live again after the resync');
  }
  assert.ok(failed.length >= 2);
  if (calm !== undefined) {
    await a!.api('publish', { channel: calm, data: { i: 1 } });
    for (const c of bystanders) {
      await waitFor(() => c.pubs(calm).length === 2, 10_000, 'the calm channel to deliver');
      const rec: { subscribing: number[]; subscribed: unknown[] } = c.subs.get(calm)!;
      assert.deepEqual(rec.subscribing, [0], 'a channel on the healthy shard is not made to resync');
      assert.equal(rec.subscribed.length, 1);
    }
  }
});
}
