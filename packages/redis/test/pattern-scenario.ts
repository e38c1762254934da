import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SubscriptionState, type PublicationContext } from 'centrifuge';
import { createSwitchboard, Disconnects, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import { once, SECRET, sdk, token, until } from '../../server/test/helpers.js';

type EngineOptions = Pick<SwitchboardOptions, 'broker' | 'history' | 'presence'>;
type T = { after: (fn: () => Promise<void> | void) => void };

const NAMESPACES = {
  orders: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 },
  // no history: publications travel without offsets
  feed: { allowSubscribeForClient: true },
};

async function node(t: T, engine: EngineOptions, name: string): Promise<{ sb: Switchboard; url: string }> {
  const sb = createSwitchboard({ ...engine, name, namespaces: NAMESPACES, token: { hmacSecret: SECRET } });
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

/**
 * Pattern subscriptions across two nodes of one engine (each node gets its own engine instance):
 * a client on B with a grant for `orders:eu:*` and `feed:x:*` receives what A publishes on three
 * matching channels (and on a channel without history), nothing else, once even beside an exact
 * subscription; a client without the grant is refused with 103; after a reconnect each channel is
 * recovered from its own position.
 */
export async function patternScenario(t: T, engine: () => EngineOptions): Promise<void> {
  const a = await node(t, engine(), 'A');
  const b = await node(t, engine(), 'B');

  const refusedClient = sdk(b.url, { token: await token({ sub: 'nobody' }) });
  t.after(() => refusedClient.disconnect());
  refusedClient.connect();
  const denied = refusedClient.newSubscription('orders:eu:*');
  const unsubscribed = once<{ code: number }>(denied, 'unsubscribed', 10_000);
  denied.subscribe();
  assert.equal((await unsubscribed).code, 103, 'no grant, no pattern');

  const c = sdk(b.url, { token: await token({ sub: 'ops', caps: [{ channels: ['orders:eu:*', 'feed:x:*'], allow: ['psub'] }] }) });
  t.after(() => c.disconnect());
  const positions: Record<string, { offset: number; epoch: string }> = {};
  const epochs: Record<string, string> = {};
  for (const ch of ['orders:eu:1', 'orders:eu:2', 'orders:eu:3']) epochs[ch] = (await a.sb.history(ch, { limit: 0 })).position.epoch;
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
  const feed = c.newSubscription('feed:x:*');
  const feedGot: [string, number][] = [];
  feed.on('publication', (ctx) => feedGot.push([ctx.tags!['$channel']!, (ctx.data as { i: number }).i]));
  c.connect();
  exact.subscribe();
  sub.subscribe();
  feed.subscribe();
  await until(() => subscribed.length === 1, 10_000, 'the pattern subscription');
  await until(() => exact.state === SubscriptionState.Subscribed && feed.state === SubscriptionState.Subscribed, 10_000, 'the exact and the feed subscriptions');

  let i = 0;
  for (const ch of ['orders:eu:1', 'orders:us:1', 'orders:eu:2', 'orders:eu:3', 'orders:eu']) await a.sb.publish(ch, { i: ++i });
  await a.sb.publish('feed:y:1', { i: ++i });
  await a.sb.publish('feed:x:1', { i: ++i });
  await until(() => got.length === 3 && exactGot.length === 1 && feedGot.length === 1, 10_000, 'three matching publications across nodes, and the feed one');
  assert.deepEqual(
    got.map((g) => [g[0], g[2]]),
    [
      ['orders:eu:1', 1],
      ['orders:eu:2', 1],
      ['orders:eu:3', 1],
    ],
    'each with its channel and its offset there',
  );
  assert.deepEqual(feedGot, [['feed:x:1', i]], 'without history too, and not feed:y:1');

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
  await until(() => exact.state === SubscriptionState.Subscribed, 10_000, 'the exact subscription back');
  await a.sb.publish('orders:eu:1', { i: ++i });
  await until(() => got.length === 7 && exactGot.length === 2, 10_000, 'live again on both subscriptions');
  assert.deepEqual(got[6], ['orders:eu:1', i, 2]);
  // nothing arrived twice or out of place meanwhile
  assert.equal(got.length, 7);
  assert.equal(feedGot.length, 1);
}
