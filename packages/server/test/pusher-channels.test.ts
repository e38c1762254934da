/**
 * Pusher's cache channels, subscription_count events, the per-app activity_timeout (4201 for a silent connection), and §17.2:
 * other protocols' clients reach Pusher's private, presence and user channels by subscription token only.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Subscription } from 'centrifuge';
import PusherServer from 'pusher';
import { createSwitchboard, pusher } from '../src/index.js';
import { RawClient, SECRET, sdk, token, until } from './helpers.js';
import { APP, connectedOf, next, pusherClient, startPusher, type PusherClient } from './pusher-helpers.js';

test('cache channels: pusher:cache_miss when empty, then the last event replayed first on subscribe (sender-excluded events too, client events never)', { timeout: 30_000 }, async () => {
  const srv = await startPusher();
  const clients: PusherClient[] = [];
  const mk = (user = 'anon') => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    return c;
  };
  try {
    // Nothing published yet: the subscriber is told with pusher:cache_miss after subscription_succeeded.
    const a = mk();
    const seen: string[] = [];
    const ca = a.subscribe('cache-scores');
    ca.bind_global((event: string) => seen.push(event));
    await next((cb) => ca.bind('pusher:cache_miss', () => cb(undefined)), 5000, 'cache_miss');
    assert.deepEqual(seen, ['pusher:subscription_succeeded', 'pusher:cache_miss']);

    // Two events: a later subscriber gets the last one, right after subscription_succeeded.
    await srv.api.trigger('cache-scores', 'score', { home: 1, away: 0 });
    await srv.api.trigger('cache-scores', 'score', { home: 2, away: 0 });
    const b = mk();
    const order: string[] = [];
    const cb_ = b.subscribe('cache-scores');
    cb_.bind_global((event: string) => order.push(event));
    assert.deepEqual(await next((cb) => cb_.bind('score', cb), 5000, 'cached score'), { home: 2, away: 0 });
    assert.deepEqual(order, ['pusher:subscription_succeeded', 'score']);

    // An event that excludes its sender (Laravel's toOthers) is cached all the same.
    await connectedOf(a);
    await srv.api.trigger('cache-scores', 'score', { home: 3, away: 0 }, { socket_id: a.connection.socket_id });
    const c = mk();
    const cc = c.subscribe('cache-scores');
    assert.deepEqual(await next((cb) => cc.bind('score', cb), 5000, 'cached excluded score'), { home: 3, away: 0 });

    // Private cache channels need the signature as any private channel; client events are not cached.
    const p1 = mk('alice');
    const pc1 = p1.subscribe('private-cache-room');
    await next((cb) => pc1.bind('pusher:cache_miss', () => cb(undefined)), 5000, 'private cache_miss');
    const p2 = mk('bob');
    const pc2 = p2.subscribe('private-cache-room');
    await next((cb) => pc2.bind('pusher:cache_miss', () => cb(undefined)), 5000, 'private cache_miss 2');
    const whisper = next((cb) => pc2.bind('client-typing', cb), 5000, 'whisper');
    pc1.trigger('client-typing', { who: 'alice' });
    await whisper;
    const p3 = mk('carol');
    const pc3 = p3.subscribe('private-cache-room');
    await next((cb) => pc3.bind('pusher:cache_miss', () => cb(undefined)), 5000, 'client events not cached');
    const forged = next<{ type: string }>((cb) => p3.bind_global((ev: string, d: unknown) => ev === 'pusher:subscription_error' && cb(d as never)), 5000, 'forged refused');
    p3.send_event('pusher:subscribe', { auth: `${APP.key}:00`, channel: 'private-cache-other' });
    assert.equal((await forged).type, 'AuthError');

    // The cache is the channel's history of one: the native API reads it too.
    const h = await srv.sb.history('pusher:cache-scores', { limit: -1 });
    assert.equal(h.publications.length, 1);
    assert.deepEqual(JSON.parse(h.publications[0]!.data), { event: 'score', payload: { home: 3, away: 0 } });
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});

test('subscription_count: every subscriber learns the count as others come and go (opt-in per app; not on presence channels)', { timeout: 30_000 }, async () => {
  const srv = await startPusher({ token: { hmacSecret: SECRET } }, { ...APP, enableSubscriptionCount: true });
  const clients: PusherClient[] = [];
  const mk = () => {
    const c = pusherClient(srv);
    clients.push(c);
    return c;
  };
  const countOf = (ch: ReturnType<PusherClient['subscribe']>, n: number, what: string) =>
    next<{ subscription_count: number }>((cb) => ch.bind('pusher:subscription_count', (d: { subscription_count: number }) => d.subscription_count === n && cb(d)), 10_000, what);
  try {
    const a = mk();
    const ca = a.subscribe('live');
    await countOf(ca, 1, 'a sees 1');
    const b = mk();
    const cbb = b.subscribe('live');
    await Promise.all([countOf(ca, 2, 'a sees 2'), countOf(cbb, 2, 'b sees 2')]);
    assert.equal(ca.subscriptionCount, 2);
    // Subscribers of other protocols count too: the count is the channel's.
    const cf = sdk(`ws://127.0.0.1:${srv.port}/connection/websocket`, { token: await token({ sub: 'carol' }) });
    const s = cf.newSubscription('pusher:live');
    const threeA = countOf(ca, 3, 'a sees 3');
    s.subscribe();
    cf.connect();
    await threeA;
    cf.disconnect();
    const gone = countOf(ca, 1, 'a sees 1 again');
    b.disconnect();
    await gone;
    // Presence channels have members instead: a count for a later public channel comes, none for the presence one.
    let presenceCount = false;
    const pr = a.subscribe('presence-room');
    pr.bind('pusher:subscription_count', () => (presenceCount = true));
    await next((cb) => pr.bind('pusher:subscription_succeeded', cb), 5000, 'presence subscribed');
    await countOf(a.subscribe('later'), 1, 'later sees 1');
    assert.equal(presenceCount, false);
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});

test('activity_timeout per app: announced, the server pings after that silence, an answer keeps the connection, none gets pusher:error 4201 and close 4201', { timeout: 30_000 }, async () => {
  // The node's own keepalive is far slower: the apps' values are what ping and close here.
  const sb = createSwitchboard({ namespaces: { pusher: {}, slow: {} }, pingIntervalMs: 60_000, pongTimeoutMs: 60_000 });
  const mount = pusher(sb, {
    apps: [
      { ...APP, activityTimeout: 1, pongTimeout: 1 },
      { id: 'slow', key: 'slow-key', secret: 'slow-secret', namespace: 'slow' },
    ],
  });
  const http = createServer();
  mount.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const established = async (c: RawClient) => {
    await c.opened;
    const m = await c.next((f) => f['event'] === 'pusher:connection_established');
    return (JSON.parse(m['data'] as string) as { activity_timeout: number }).activity_timeout;
  };
  const fast = new RawClient(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7`);
  const slow = new RawClient(`ws://127.0.0.1:${port}/app/slow-key?protocol=7`);
  try {
    assert.equal(await established(slow), 120, 'the default, as Pusher documents');
    assert.equal(await established(fast), 1);
    // The first ping is answered: the connection stays, and the next silence brings another ping.
    await fast.next((m) => m['event'] === 'pusher:ping', 10_000);
    fast.send({ event: 'pusher:pong', data: {} });
    await fast.next((m) => m['event'] === 'pusher:ping', 10_000);
    assert.equal(fast.closed, undefined, 'an answered ping closes nothing');
    // This one is not answered.
    const err = await fast.next((m) => m['event'] === 'pusher:error', 10_000);
    assert.deepEqual(err['data'], { code: 4201, message: 'Pong reply not received' });
    assert.equal((await fast.waitClose(10_000)).code, 4201);
    assert.equal(slow.closed, undefined, "the other app's connection is untouched");
  } finally {
    fast.close();
    slow.close();
    await sb.shutdown({ timeoutMs: 0 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});

test('§17.2: other protocols reach private, presence and user channels of a Pusher namespace by subscription token only', { timeout: 30_000 }, async () => {
  // The namespace lets any client subscribe: public Pusher names follow it, the others do not.
  const srv = await startPusher({ token: { hmacSecret: SECRET } });
  const cf = sdk(`ws://127.0.0.1:${srv.port}/connection/websocket`, { token: await token({ sub: 'mallory' }) });
  const outcome = (s: Subscription) =>
    next<string>(
      (cb) => {
        s.on('subscribed', () => cb('subscribed'));
        s.on('error', (e) => cb(`error ${(e.error as { code: number }).code}`));
        s.on('unsubscribed', (e) => cb(`unsubscribed ${e.code}`));
      },
      5000,
      s.channel,
    );
  try {
    cf.connect();
    const open = cf.newSubscription('pusher:news');
    const pending = outcome(open);
    open.subscribe();
    assert.equal(await pending, 'subscribed');
    for (const name of ['pusher:private-chat', 'pusher:presence-room', 'pusher:private-cache-x', 'pusher:#server-to-user-alice']) {
      const s = cf.newSubscription(name);
      const o = outcome(s);
      s.subscribe();
      assert.equal(await o, 'unsubscribed 103', name);
      cf.removeSubscription(s);
    }
    // With a subscription token for it, the private channel is open to the SDK client.
    const tok = await token({ sub: 'mallory', channel: 'pusher:private-chat' });
    const s = cf.newSubscription('pusher:private-chat', { token: tok });
    const o = outcome(s);
    s.subscribe();
    assert.equal(await o, 'subscribed');
  } finally {
    cf.disconnect();
    await srv.close();
  }
});

test('presence after the last member closed its own connection: a returning user is announced again', { timeout: 30_000 }, async () => {
  const srv = await startPusher();
  const clients: PusherClient[] = [];
  const mk = (user: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    return c;
  };
  try {
    // Alice is alone in the room, then closes her connection herself (no server-side close).
    const a1 = mk('alice');
    await next((cb) => a1.subscribe('presence-lounge').bind('pusher:subscription_succeeded', cb), 5000, 'alice subscribed');
    a1.disconnect();
    await until(async () => (await srv.sb.presenceStore.get('pusher:presence-lounge')).size === 0, 5000, 'alice gone from presence');
    // Bob comes, then Alice again: Bob is told she joined (the node kept no stale member for her).
    const b = mk('bob');
    const pb = b.subscribe('presence-lounge');
    assert.equal((await next<{ count: number }>((cb) => pb.bind('pusher:subscription_succeeded', cb), 5000, 'bob subscribed')).count, 1);
    const added = next<{ id: string }>((cb) => pb.bind('pusher:member_added', cb), 5000, 'alice announced again');
    const a2 = mk('alice');
    a2.subscribe('presence-lounge');
    assert.equal((await added).id, 'alice');
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});

test('watchlist events: a signed-in user learns who of its watchlist is online, then each change (a user is online while any connection is)', { timeout: 30_000 }, async () => {
  const srv = await startPusher({}, { ...APP, enableWatchlistEvents: true });
  const clients: PusherClient[] = [];
  const mk = (user: string, watchlist?: string[]) => {
    const c = pusherClient(srv, { user, ...(watchlist ? { watchlist } : {}) });
    clients.push(c);
    return c;
  };
  type WatchEvent = { name: string; user_ids: string[] };
  const online = (user: string, n: number) => until(async () => (await srv.sb.presenceStore.get(`pusher:#online-${user}`)).size === n, 5000, `${user} on ${n} connections`);
  try {
    // Carol is online before Alice signs in; Bob is not.
    const carol = mk('carol');
    carol.signin();
    await online('carol', 1);
    const alice = mk('alice', ['bob', 'carol']);
    const seen: WatchEvent[] = [];
    const record = (e: WatchEvent) => seen.push({ name: e.name, user_ids: e.user_ids });
    alice.user.watchlist.bind('online', record);
    alice.user.watchlist.bind('offline', record);
    const upTo = (n: number, what: string) => until(() => seen.length >= n, 5000, what);
    alice.signin();
    await upTo(2, 'the initial status');
    assert.deepEqual(seen, [
      { name: 'online', user_ids: ['carol'] },
      { name: 'offline', user_ids: ['bob'] },
    ]);
    // Bob on two connections: online once; offline only when the last one goes.
    const bob1 = mk('bob');
    bob1.signin();
    await upTo(3, 'bob online');
    assert.deepEqual(seen[2], { name: 'online', user_ids: ['bob'] });
    const bob2 = mk('bob');
    bob2.signin();
    await online('bob', 2);
    bob1.disconnect();
    await online('bob', 1);
    carol.disconnect();
    await upTo(4, 'carol offline');
    assert.deepEqual(seen[3], { name: 'offline', user_ids: ['carol'] }, 'nothing for bob while one of his connections stays');
    bob2.disconnect();
    await upTo(5, 'bob offline');
    assert.deepEqual(seen[4], { name: 'offline', user_ids: ['bob'] });
    // A watchlist the app cannot have signed (too long) is refused like a bad sign-in.
    const eve = mk('eve', Array.from({ length: 101 }, (_, i) => `u${i}`));
    // pusher-js reports the pusher:error frame that precedes the close (PusherError, data.code).
    const err = next<{ data?: { code?: number } }>((cb) => eve.connection.bind('error', cb), 5000, 'refused');
    eve.signin();
    assert.equal((await err).data?.code, 4009);
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});

test('mount.reload: an invalid list changes nothing; an app added in an undeclared namespace serves at once; a removed app is closed with 4001, its namespace keeps Pusher’s rules', { timeout: 30_000 }, async () => {
  assert.throws(() => pusher(createSwitchboard(), { apps: [] }), /at least one app/);
  assert.doesNotThrow(() => pusher(createSwitchboard(), { apps: [], reloadable: true }));
  const srv = await startPusher();
  const clients: PusherClient[] = [];
  try {
    const SECOND = { id: '2', key: 'second-key', secret: 'second-secret', namespace: 'second' };
    assert.throws(() => srv.mount.reload([APP, { ...SECOND, key: APP.key }]), /used twice/);
    assert.throws(() => srv.mount.reload([APP, { ...SECOND, namespace: 'x' }]), /not a valid namespace name/);
    assert.deepEqual([...srv.mount.apps.all()].map((a) => a.id), [APP.id], 'refused lists changed nothing');
    assert.equal(srv.sb.registry.namespaces.has('second'), false);

    const change = srv.mount.reload([APP, SECOND]);
    assert.deepEqual([change.added.map((a) => a.id), change.removed, change.changed], [['2'], [], []]);
    assert.equal(srv.sb.registry.namespaces.has('second'), true, 'the new app got its namespace');
    assert.equal(srv.sb.registry.resolve('second:private-x')?.isPrivate, true, 'and its overlay (private names token-only)');
    const second = pusherClient(srv, { key: SECOND.key });
    clients.push(second);
    const ch = second.subscribe('news');
    await next((cb) => ch.bind('pusher:subscription_succeeded', () => cb(undefined)), 5000, 'second subscribed');
    const got = next((cb) => ch.bind('hello', cb), 5000, 'hello');
    const lib = new PusherServer({ appId: SECOND.id, key: SECOND.key, secret: SECOND.secret, host: '127.0.0.1', port: String(srv.port), useTLS: false });
    await lib.trigger('news', 'hello', { n: 1 });
    assert.deepEqual(await got, { n: 1 });

    const first = pusherClient(srv);
    clients.push(first);
    await connectedOf(first);
    const told = next<{ data?: { code?: number } }>((cb) => first.connection.bind('error', cb), 5000, 'first told');
    const removed = srv.mount.reload([SECOND]);
    assert.deepEqual(removed.removed.map((a) => a.id), [APP.id]);
    assert.equal((await told).data?.code, 4001);
    assert.equal(srv.sb.registry.resolve('pusher:private-x')?.isPrivate, true, "the removed app's private names stay token-only for other protocols");
    await assert.rejects(srv.api.trigger('news', 'gone', {}), (err: { status?: number }) => err.status === 404);
    assert.equal(second.connection.state, 'connected');
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});
