import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { createRedisEngine } from '../src/index.js';
import { SECRET } from './cluster.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { SdkClient } from './sdk.js';

/** Two nodes in this process, each with its own Redis connections. */
async function twoNodes(prefix: string) {
  const made: { sb: Switchboard; close(): Promise<void>; url: string }[] = [];
  for (const name of ['A', 'B']) {
    const engine = createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 });
    const sb = createSwitchboard({
      ...engine,
      name,
      token: { hmacSecret: SECRET },
      namespaces: {
        chat: { allowSubscribeForClient: true, allowHistoryForSubscriber: true, presence: true, joinLeave: true, historySize: 50, historyTtlMs: 60_000, forceRecovery: true },
      },
    });
    const http = createServer();
    sb.attach(http, '/connection/websocket');
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await sb.start();
    made.push({
      sb,
      url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`,
      async close() {
        await sb.shutdown({ timeoutMs: 500 });
        http.closeAllConnections();
        await new Promise<void>((r) => http.close(() => r()));
      },
    });
  }
  return made;
}

test('Redis engine in process: pub/sub interest follows local subscribers; broadcast, join/leave and history across nodes', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('engine');
  const [a, b] = await twoNodes(prefix);
  const clients: SdkClient[] = [];
  const redis = new Redis(REDIS_ADDRESS);
  t.after(async () => {
    for (const c of clients) c.close();
    await a!.close();
    await b!.close();
    redis.disconnect();
    await dropPrefix(prefix);
  });
  const numsub = async (ch: string) => Number(((await redis.pubsub('NUMSUB', `${prefix}.client.${ch}`)) as [string, number])[1]);

  await t.test('a node subscribes to a Redis channel only while it has local subscribers', async () => {
    assert.equal(await numsub('chat:interest'), 0);
    const c1 = await SdkClient.connect(a!.url, 'i1');
    const c2 = await SdkClient.connect(a!.url, 'i2');
    clients.push(c1, c2);
    await c1.subscribe('chat:interest');
    await c2.subscribe('chat:interest');
    assert.equal(await numsub('chat:interest'), 1, 'one Redis subscription for the node, not one per client');
    c1.subs.get('chat:interest')!.sub.unsubscribe();
    // c1's later subscribe marks the end of the window: the node handles c1's commands in order, so
    // a wrong Redis UNSUBSCRIBE would have been sent before this SUBSCRIBE was acknowledged
    await c1.subscribe('chat:interest-probe');
    assert.equal(await numsub('chat:interest-probe'), 1);
    assert.equal(await numsub('chat:interest'), 1, 'still a local subscriber');
    c2.subs.get('chat:interest')!.sub.unsubscribe();
    await waitFor(async () => (await numsub('chat:interest')) === 0, 10_000, 'the Redis subscription to go');
  });

  await t.test("a broadcast to every connection from B reaches A's clients", async () => {
    const c = await SdkClient.connect(a!.url, 'bc');
    clients.push(c);
    const got: unknown[] = [];
    c.c.on('message', (ctx) => got.push(ctx.data));
    await b!.sb.publish('*', { notice: 'all' });
    await waitFor(() => got.length === 1, 10_000, 'the broadcast');
    assert.deepEqual(got[0], { notice: 'all' });
  });

  await t.test('join and leave of a client on B reach a subscriber on A', async () => {
    const watcher = await SdkClient.connect(a!.url, 'watcher');
    clients.push(watcher);
    const sub = watcher.c.newSubscription('chat:jl', { joinLeave: true });
    const joins: string[] = [];
    const leaves: string[] = [];
    sub.on('join', (ctx) => joins.push(ctx.info.user));
    sub.on('leave', (ctx) => leaves.push(ctx.info.user));
    const ok = new Promise<void>((r) => sub.once('subscribed', () => r()));
    sub.subscribe();
    await ok;
    const joiner = await SdkClient.connect(b!.url, 'joiner');
    clients.push(joiner);
    await joiner.subscribe('chat:jl');
    await waitFor(() => joins.includes('joiner'), 10_000, 'the join');
    joiner.close();
    await waitFor(() => leaves.includes('joiner'), 10_000, 'the leave');
  });

  await t.test('history read on A holds what B published, with offsets', async () => {
    for (let i = 1; i <= 3; i++) await b!.sb.publish('chat:hist', { i });
    const c = await SdkClient.connect(a!.url, 'hist');
    clients.push(c);
    await c.subscribe('chat:hist');
    const h = await c.subs.get('chat:hist')!.sub.history({ limit: 10 });
    assert.deepEqual(
      h.publications.map((p) => [p.offset, p.data]),
      [
        [1, { i: 1 }],
        [2, { i: 2 }],
        [3, { i: 3 }],
      ],
    );
    const pos = await a!.sb.history('chat:hist', { limit: 0 });
    assert.equal(pos.position.offset, 3);
  });
});

test('a gap in offsets the node cannot account for is held back and the client resyncs', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('gap');
  const [a, b] = await twoNodes(prefix);
  const redis = new Redis(REDIS_ADDRESS);
  const c = await SdkClient.connect(a!.url, 'gap');
  t.after(async () => {
    c.close();
    await a!.close();
    await b!.close();
    redis.disconnect();
    await dropPrefix(prefix);
  });
  await c.subscribe('chat:gap');
  const first = await b!.sb.publish('chat:gap', { i: 1 });
  await waitFor(() => c.pubs('chat:gap').length === 1, 10_000, 'the first publication');
  // a publication at offset 3 whose offset 2 never reached this node (as if the broker lost it)
  await redis.publish(`${prefix}.client.chat:gap`, `p3:${first!.epoch}:${JSON.stringify({ d: JSON.stringify({ i: 'lost-neighbour' }) })}`);
  const rec = c.subs.get('chat:gap')!;
  await waitFor(() => rec.subscribing.includes(2500), 10_000, 'the client to be made to resync');
  await waitFor(() => rec.subscribed.length === 2, 10_000, 'the resubscribe');
  assert.deepEqual(rec.subscribed[1], { wasRecovering: true, recovered: true }, 'recovers from its last offset (1)');
  assert.deepEqual(
    c.pubs('chat:gap').map((p) => p.data),
    [{ i: 1 }],
    'the publication after the gap was not delivered',
  );
  await b!.sb.publish('chat:gap', { i: 2 });
  await waitFor(() => c.pubs('chat:gap').length === 2, 10_000, 'live again');
});

test('a node shut down gracefully takes its clients out of presence at once (not after the TTL)', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('bye');
  const [a, b] = await twoNodes(prefix); // presence TTL 5 s
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await a!.close();
    await b!.close();
    await dropPrefix(prefix);
  });
  for (const node of [a!, b!, b!]) {
    const c = await SdkClient.connect(node.url, `p${clients.length}`);
    clients.push(c);
    await c.subscribe('chat:bye');
  }
  assert.equal((await a!.sb.presenceStats('chat:bye')).numClients, 3);
  await b!.close();
  assert.deepEqual([...(await a!.sb.presence('chat:bye')).values()].map((i) => i.user), ['p0']);
});
