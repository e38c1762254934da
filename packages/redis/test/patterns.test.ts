import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SubscriptionState, type PublicationContext } from 'centrifuge';
import { createSwitchboard, Disconnects, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { once, SECRET, sdk, token, until } from '../../server/test/helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const NAMESPACES = { orders: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 } };

async function node(t: { after: (fn: () => Promise<void>) => void }, prefix: string, name: string): Promise<{ sb: Switchboard; url: string }> {
  const sb = createSwitchboard({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }), name, namespaces: NAMESPACES, token: { hmacSecret: SECRET } });
  const http = createServer();
  sb.attach(http, { path: '/connection/websocket' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  t.after(async () => {
    await sb.shutdown({ timeoutMs: 500 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  });
  return { sb, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket` };
}

// bounded: two nodes, one Redis, a reconnect
test('a pattern subscription on node B gets what node A publishes on matching channels, once, and recovers per channel after a reconnect', { timeout: 120_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('patterns');
  t.after(() => dropPrefix(prefix));
  const a = await node(t, prefix, 'A');
  const b = await node(t, prefix, 'B');
  const c = sdk(b.url, { token: await token({ sub: 'ops', caps: [{ channels: ['orders:eu:*'], allow: ['psub'] }] }) });
  t.after(() => c.disconnect());
  const positions: Record<string, { offset: number; epoch: string }> = {};
  const epochs: Record<string, string> = {};
  for (const ch of ['orders:eu:1', 'orders:eu:2', 'orders:eu:3']) epochs[ch] = (await a.sb.history(ch, { limit: 0 })).position.epoch;
  // an exact subscription to one of the channels on the same node: Redis delivers both ways, each once
  const exact = c.newSubscription('orders:eu:1');
  const exactGot: unknown[] = [];
  exact.on('publication', (ctx) => exactGot.push(ctx.data));
  const sub = c.newSubscription('orders:eu:*', { getData: async () => ({ positions }) });
  const got: [string, number, number | undefined][] = [];
  sub.on('publication', (ctx: PublicationContext) => {
    const ch = ctx.tags!['$channel']!;
    got.push([ch, (ctx.data as { i: number }).i, ctx.offset]);
    positions[ch] = { offset: ctx.offset!, epoch: epochs[ch]! };
  });
  const subscribed: { recovered: boolean; data?: unknown }[] = [];
  sub.on('subscribed', (ctx) => subscribed.push({ recovered: ctx.recovered, data: ctx.data }));
  c.connect();
  exact.subscribe();
  sub.subscribe();
  await until(() => subscribed.length === 1, 10_000, 'the pattern subscription');
  await until(() => exact.state === SubscriptionState.Subscribed, 10_000, 'the exact subscription');

  let i = 0;
  for (const ch of ['orders:eu:1', 'orders:us:1', 'orders:eu:2', 'orders:eu:3', 'orders:eu']) await a.sb.publish(ch, { i: ++i });
  await until(() => got.length === 3 && exactGot.length === 1, 10_000, 'three matching publications across nodes');
  assert.deepEqual(
    got.map((g) => g[0]),
    ['orders:eu:1', 'orders:eu:2', 'orders:eu:3'],
  );

  // cut the client; A publishes on two of the channels meanwhile
  const connecting = once(c, 'connecting', 10_000);
  await b.sb.disconnectUser({ user: 'ops' }, Disconnects.forceReconnect);
  await connecting;
  await a.sb.publish('orders:eu:2', { i: ++i });
  await a.sb.publish('orders:eu:3', { i: ++i });
  await a.sb.publish('orders:eu:2', { i: ++i });
  await until(() => subscribed.length === 2, 20_000, 'the pattern subscription to come back');
  await until(() => got.length === 6, 10_000, 'the three missed publications, recovered');
  assert.deepEqual(subscribed[1], { recovered: true, data: { recovered: { 'orders:eu:1': true, 'orders:eu:2': true, 'orders:eu:3': true } } });
  assert.deepEqual(
    got.slice(3).map((g) => [g[0], g[2]]),
    [
      ['orders:eu:2', 2],
      ['orders:eu:2', 3],
      ['orders:eu:3', 2],
    ],
    'each channel from its own position, in order',
  );
  await a.sb.publish('orders:eu:1', { i: ++i });
  await until(() => got.length === 7 && exactGot.length === 2, 10_000, 'live again on both subscriptions');
  assert.deepEqual(got[6], ['orders:eu:1', i, 2]);
});
