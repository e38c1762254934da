import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Centrifuge, PublicationContext, Subscription } from 'centrifuge';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';
import { Disconnects, MemoryBroker, type Broker } from '../src/index.js';
import { PatternIndex } from '../src/patterns.js';

const NAMESPACES = {
  orders: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 },
  feed: { allowSubscribeForClient: true, allowPatternSubscribe: true },
  other: { allowSubscribeForClient: true },
};

interface Got {
  channel: string;
  data: unknown;
  offset: number | undefined;
}

async function connect(t: { after: (fn: () => void) => void }, s: TestServer, claims: Record<string, unknown>): Promise<Centrifuge> {
  const c = sdk(s.url, { token: await token(claims) });
  t.after(() => c.disconnect());
  const connected = once(c, 'connected', 10_000);
  c.connect();
  await connected;
  return c;
}

function record(sub: Subscription): Got[] {
  const got: Got[] = [];
  sub.on('publication', (ctx: PublicationContext) => got.push({ channel: ctx.tags?.['$channel'] ?? '', data: ctx.data, offset: ctx.offset }));
  return got;
}

test('PatternIndex finds the patterns whose prefix starts a channel, by prefix length, never the bare prefix', () => {
  const idx = new PatternIndex<string>();
  idx.add('orders:eu:', 'a');
  idx.add('orders:', 'b');
  idx.add('orders:us:', 'c');
  const hits = (ch: string) => {
    const out: string[] = [];
    idx.forEachMatch(ch, (s) => out.push(...s.subs));
    return out.sort();
  };
  assert.deepEqual(hits('orders:eu:1'), ['a', 'b']);
  assert.deepEqual(hits('orders:us:9'), ['b', 'c']);
  assert.deepEqual(hits('orders:'), []);
  assert.deepEqual(hits('orders:eu:'), ['b']);
  assert.deepEqual(hits('other:eu:1'), []);
  assert.ok(idx.remove('orders:', 'b'));
  assert.deepEqual(hits('orders:eu:1'), ['a']);
  assert.equal(idx.size, 2);
});

test('a client whose token grants a pattern gets publications of three matching channels, with their names, and none of others', async (t) => {
  const s = await startServer({ namespaces: NAMESPACES });
  t.after(() => s.close());
  const c = await connect(t, s, { sub: 'admin', caps: [{ channels: ['orders:eu:*'], allow: ['psub'] }] });
  const sub = c.newSubscription('orders:eu:*');
  const got = record(sub);
  const subscribed = once(sub, 'subscribed', 10_000);
  sub.subscribe();
  await subscribed;
  await s.sb.publish('orders:eu:1', { n: 1 });
  await s.sb.publish('orders:us:1', { n: 'no: another prefix' });
  await s.sb.publish('orders:eu:2', { n: 2 });
  await s.sb.publish('other:eu:3', { n: 'no: another namespace' });
  await s.sb.publish('orders:eu', { n: 'no: not under the prefix' });
  await s.sb.publish('orders:eu:3:x', { n: 3 });
  await s.sb.publish('orders:eu:1', { n: 4 });
  await until(() => got.length >= 4, 10_000, 'four publications');
  // a last one on a matching channel proves nothing else was on the way
  await s.sb.publish('orders:eu:2', { n: 5 });
  await until(() => got.length >= 5, 10_000, 'the fifth');
  assert.deepEqual(
    got.map((g) => [g.channel, (g.data as { n: unknown }).n, g.offset]),
    [
      ['orders:eu:1', 1, 1],
      ['orders:eu:2', 2, 1],
      ['orders:eu:3:x', 3, 1],
      ['orders:eu:1', 4, 2],
      ['orders:eu:2', 5, 2],
    ],
  );
});

test('patterns are refused without a grant, malformed ones with 107, and the connection goes on', async (t) => {
  const s = await startServer({ namespaces: NAMESPACES });
  t.after(() => s.close());
  const c = await connect(t, s, { sub: 'u1', caps: [{ channels: ['orders:us:*'], allow: ['psub'] }] });
  const refused = async (name: string, data?: unknown) => {
    const sub = c.newSubscription(name, data === undefined ? {} : { data });
    const unsub = once<{ code: number; reason: string }>(sub, 'unsubscribed', 10_000);
    sub.subscribe();
    const u = await unsub;
    c.removeSubscription(sub);
    return { code: u.code, message: u.reason };
  };
  // no grant for this pattern: the namespace does not allow patterns, the token grants another
  assert.equal((await refused('orders:eu:*')).code, 103);
  assert.equal((await refused('other:x:*')).code, 103);
  // malformed
  const mid = await refused('orders:*:x*');
  assert.equal(mid.code, 107);
  assert.match(mid.message, /"\*" only at the end/);
  assert.equal((await refused('nonamespace*')).code, 107);
  // positions that do not match the pattern, or are not positions
  assert.equal((await refused('orders:us:*', { positions: { 'orders:eu:1': { offset: 1, epoch: 'e' } } })).code, 107);
  assert.equal((await refused('orders:us:*', { positions: { 'orders:us:1': { offset: -1, epoch: 'e' } } })).code, 107);
  assert.equal((await refused('orders:us:*', { positions: 'all' })).code, 107);
  const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`orders:us:${i}`, { offset: 0, epoch: '' }]));
  assert.equal((await refused('orders:us:*', { positions: many })).code, 106);
  // the namespace setting allows a pattern for any client that may subscribe there
  const ok = c.newSubscription('feed:news:*');
  const got = record(ok);
  const subscribed = once(ok, 'subscribed', 10_000);
  ok.subscribe();
  await subscribed;
  await s.sb.publish('feed:news:1', { n: 1 });
  await until(() => got.length === 1, 10_000, 'the publication on the allowed pattern');
  // ...but not in its private form: in a `$` namespace only a token grant allows a pattern
  const priv = await refused('$feed:news:*');
  assert.equal(priv.code, 103);
  assert.equal(priv.message, 'pattern not allowed');
  assert.equal(c.state, 'connected', 'bad input did not disturb the connection');

  // a token that grants the private pattern subscribes to it and receives its channels' publications
  const granted = await connect(t, s, { sub: 'u2', caps: [{ channels: ['$feed:news:*'], allow: ['psub'] }] });
  const psub = granted.newSubscription('$feed:news:*');
  const privGot = record(psub);
  const privSubscribed = once(psub, 'subscribed', 10_000);
  psub.subscribe();
  await privSubscribed;
  await s.sb.publish('$feed:news:2', { n: 2 });
  await until(() => privGot.length === 1, 10_000, 'the publication on the granted private pattern');
  assert.deepEqual(privGot[0], { channel: '$feed:news:2', data: { n: 2 }, offset: undefined });
});

test('after a reconnect a pattern subscription recovers each channel from its own position (SDK getData)', async (t) => {
  const s = await startServer({ namespaces: NAMESPACES });
  t.after(() => s.close());
  const c = await connect(t, s, { sub: 'admin', caps: [{ channels: ['orders:*'], allow: ['psub'], match: 'wildcard' }] });
  // the app keeps each channel's position and hands it over on every (re)subscribe
  const positions: Record<string, { offset: number; epoch: string }> = {};
  const epochs: Record<string, string> = {};
  for (const ch of ['orders:eu:1', 'orders:eu:2', 'orders:eu:3']) epochs[ch] = (await s.sb.history(ch, { limit: 0 })).position.epoch;
  const sub = c.newSubscription('orders:eu:*', { getData: async () => ({ positions }) });
  const got = record(sub);
  sub.on('publication', (ctx) => {
    const ch = ctx.tags!['$channel']!;
    positions[ch] = { offset: ctx.offset!, epoch: epochs[ch]! };
  });
  const subscribedCtx: { data?: unknown; wasRecovering: boolean; recovered: boolean }[] = [];
  sub.on('subscribed', (ctx) => subscribedCtx.push({ data: ctx.data, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered }));
  sub.subscribe();
  await until(() => subscribedCtx.length === 1, 10_000, 'subscribed');
  for (let i = 1; i <= 3; i++) for (const ch of ['orders:eu:1', 'orders:eu:2']) await s.sb.publish(ch, { ch, i });
  await until(() => got.length === 6, 10_000, 'six publications');

  // cut the connection; publications go on meanwhile on two channels, and one channel appears
  const connecting = once(c, 'connecting', 10_000);
  await s.sb.disconnectUser({ user: 'admin' }, Disconnects.forceReconnect);
  await connecting;
  await s.sb.publish('orders:eu:1', { ch: 'orders:eu:1', i: 4 });
  await s.sb.publish('orders:eu:2', { ch: 'orders:eu:2', i: 4 });
  await s.sb.publish('orders:eu:1', { ch: 'orders:eu:1', i: 5 });
  await until(() => subscribedCtx.length === 2, 20_000, 'the pattern subscription to come back');
  await s.sb.publish('orders:eu:3', { ch: 'orders:eu:3', i: 1 });
  await until(() => got.length === 10, 10_000, 'the recovered and the new publications');
  const last = subscribedCtx[1]!;
  assert.equal(last.wasRecovering, true);
  assert.equal(last.recovered, true);
  assert.deepEqual(last.data, { recovered: { 'orders:eu:1': true, 'orders:eu:2': true } });
  const per = (ch: string) => got.filter((g) => g.channel === ch).map((g) => [(g.data as { i: number }).i, g.offset]);
  assert.deepEqual(per('orders:eu:1'), [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
    [5, 5],
  ]);
  assert.deepEqual(per('orders:eu:2'), [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
  ]);
  assert.deepEqual(per('orders:eu:3'), [[1, 1]]);
});

test('on an engine whose broker has no pattern subscriptions, a pattern is refused with 108', async (t) => {
  const inner = new MemoryBroker();
  const broker: Broker = {
    start: (h) => inner.start(h),
    subscribe: (c) => inner.subscribe(c),
    unsubscribe: (c) => inner.unsubscribe(c),
    publish: (c, p, o) => inner.publish(c, p, o),
    publishJoin: (c, i) => inner.publishJoin(c, i),
    publishLeave: (c, i) => inner.publishLeave(c, i),
    publishControl: (m) => inner.publishControl(m),
    close: () => inner.close(),
    history: inner.history,
  };
  const s = await startServer({ broker, namespaces: NAMESPACES });
  t.after(() => s.close());
  const c = await connect(t, s, { sub: 'u' });
  const sub = c.newSubscription('feed:news:*');
  const unsub = once<{ code: number; reason: string }>(sub, 'unsubscribed', 10_000);
  sub.subscribe();
  assert.equal((await unsub).code, 108);
  // exact subscriptions on the same engine work as before
  const exact = c.newSubscription('feed:news:1');
  const got = record(exact);
  const subscribed = once(exact, 'subscribed', 10_000);
  exact.subscribe();
  await subscribed;
  await s.sb.publish('feed:news:1', { n: 1 });
  await until(() => got.length === 1, 10_000, 'the exact subscription to receive');
});
