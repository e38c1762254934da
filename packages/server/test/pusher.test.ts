import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { clientIdOf, createSwitchboard, Disconnects, pusher } from '../src/index.js';
import { RawClient, SECRET, sdk, token, until } from './helpers.js';
import { APP, connectedOf, next, PusherJs, pusherClient, startPusher, type PusherClient } from './pusher-helpers.js';

test('pusher-js: connect, public channel event from the official pusher library, unsubscribe', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const c = pusherClient(srv);
  try {
    await connectedOf(c);
    assert.match(c.connection.socket_id, /^\d+\.\d+$/);
    const ch = c.subscribe('news');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 5000, 'subscribed');
    const got = next<unknown>((cb) => ch.bind('shipped', cb), 5000, 'shipped');
    await srv.api.trigger('news', 'shipped', { order: 7 });
    assert.deepEqual(await got, { order: 7 });
    // A library publication on the mapped Switchboard channel reaches the Pusher client too.
    const lib = next<unknown>((cb) => ch.bind('from-lib', cb), 5000, 'from-lib');
    await srv.sb.publish('pusher:news', { event: 'from-lib', payload: 'plain text' });
    assert.equal(await lib, 'plain text');
    // Reserved names never reach a Pusher client as protocol events.
    const msg = next<unknown>((cb) => ch.bind('message', cb), 5000, 'message');
    await srv.sb.publish('pusher:news', { event: 'pusher_internal:member_added', payload: { user_id: 'x' } });
    assert.deepEqual(await msg, { event: 'pusher_internal:member_added', payload: { user_id: 'x' } });
    // Unsubscribe: delivery stops (a later event on a second channel arrives, the first does not).
    c.unsubscribe('news');
    const other = c.subscribe('other');
    await next((cb) => other.bind('pusher:subscription_succeeded', cb), 5000, 'subscribed other');
    await until(async () => ((await srv.sb.channels('pusher:news')).get('pusher:news') ?? 0) === 0, 5000, 'news vacated');
    let leaked = false;
    ch.bind('after', () => (leaked = true));
    const last = next<unknown>((cb) => other.bind('after', cb), 5000, 'after on other');
    await srv.api.trigger(['news', 'other'], 'after', { n: 1 });
    await last;
    assert.equal(leaked, false);
  } finally {
    c.disconnect();
    await srv.close();
  }
});

test('pusher-js: an unknown app key is refused with 4001 and no retry', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const c = pusherClient(srv, { key: 'nope' });
  const control = pusherClient(srv);
  try {
    const states: string[] = [];
    let retries = 0;
    c.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    c.connection.bind('connecting_in', () => retries++);
    const err = await next<{ error?: { data?: { code?: number } } }>((cb) => c.connection.bind('error', cb), 5000, 'error');
    assert.equal(err.error?.data?.code, 4001);
    await until(() => c.connection.state === 'disconnected', 5000, 'disconnected');
    // A control client closed afterwards with a reconnectable code comes back after pusher-js's 1 s
    // back-off; by then the refused client would have tried again had it been going to.
    await connectedOf(control);
    const back = next((cb) => control.connection.bind('connecting_in', () => control.connection.bind('connected', () => cb(undefined))), 10_000, 'control back');
    await srv.sb.disconnectUser({ client: clientIdOf(control.connection.socket_id) }, Disconnects.expired);
    await back;
    assert.deepEqual(states, ['disconnected']);
    assert.equal(retries, 0);
  } finally {
    c.disconnect();
    control.disconnect();
    await srv.close();
  }
});

test('pusher mounted elsewhere: attach at /ws/app (pusher-js wsPath) and handleUpgrade from the app\'s own upgrade routing', { timeout: 20_000 }, async () => {
  const sb = createSwitchboard({ namespaces: { pusher: {} } });
  const mount = pusher(sb, { apps: [APP] });
  const http = createServer((_req, res) => res.writeHead(404).end());
  mount.attach(http, '/ws/app');
  // A framework that routes upgrades itself hands this one over (any path ending in the key).
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.url ?? '').startsWith('/custom/')) mount.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const c = new PusherJs(APP.key, { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, wsPath: '/ws', forceTLS: false, enabledTransports: ['ws'] });
  const raw = new RawClient(`ws://127.0.0.1:${port}/custom/pusher/${APP.key}?protocol=7`);
  try {
    await connectedOf(c);
    assert.match(c.connection.socket_id, /^\d+\.\d+$/);
    const ch = c.subscribe('news');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 5000, 'subscribed');
    await raw.next((m) => m['event'] === 'pusher:connection_established');
    raw.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'news' } });
    await raw.next((m) => m['event'] === 'pusher_internal:subscription_succeeded');
    const got = next<unknown>((cb) => ch.bind('e', cb), 5000, 'e');
    await sb.publish('pusher:news', { event: 'e', payload: { n: 1 } });
    assert.deepEqual(await got, { n: 1 });
    assert.equal((await raw.next((m) => m['event'] === 'e'))['data'], '{"n":1}');
  } finally {
    c.disconnect();
    raw.close();
    await sb.shutdown({ timeoutMs: 0 });
    await mount.close();
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});

test('pusher-js: private channel admitted by signature, refused by the backend; client events not echoed', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const a = pusherClient(srv, { user: 'alice' });
  const b = pusherClient(srv, { user: 'bob' });
  try {
    await Promise.all([connectedOf(a), connectedOf(b)]);
    const pa = a.subscribe('private-chat');
    const pb = b.subscribe('private-chat');
    await Promise.all([next((cb) => pa.bind('pusher:subscription_succeeded', cb)), next((cb) => pb.bind('pusher:subscription_succeeded', cb))]);
    const refused = a.subscribe('private-forbidden');
    const e = await next<{ status?: number }>((cb) => refused.bind('pusher:subscription_error', cb), 5000, 'subscription_error');
    assert.equal(e.status, 403);
    let echoed = false;
    pa.bind('client-typing', () => (echoed = true));
    const got = next<unknown>((cb) => pb.bind('client-typing', cb), 5000, 'client-typing');
    assert.equal(pa.trigger('client-typing', { who: 'alice' }), true);
    assert.deepEqual(await got, { who: 'alice' });
    // Server events after the client event arrive at the sender: had the echo come, it came first.
    const after = next((cb) => pa.bind('done', cb), 5000, 'done');
    await srv.api.trigger('private-chat', 'done', {});
    await after;
    assert.equal(echoed, false);
    // A forged signature (raw frame with a wrong auth) is refused by the server itself.
    const forged = next<{ status?: number; type?: string }>((cb) => b.bind_global((ev: string, d: unknown) => ev === 'pusher:subscription_error' && cb(d as never)), 5000, 'forged refused');
    b.send_event('pusher:subscribe', { auth: 'app-key:00', channel: 'private-other' });
    assert.equal((await forged).type, 'AuthError');
  } finally {
    a.disconnect();
    b.disconnect();
    await srv.close();
  }
});

test('pusher-js: presence members, member_added/removed, a user counted once over two connections', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const clients: PusherClient[] = [];
  const mk = (user: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    return c;
  };
  try {
    const a = mk('alice');
    const pa = a.subscribe('presence-room');
    const here = await next<{ count: number; me: { id: string } }>((cb) => pa.bind('pusher:subscription_succeeded', cb));
    assert.equal(here.count, 1);
    assert.equal(here.me.id, 'alice');
    const added = next<{ id: string; info: unknown }>((cb) => pa.bind('pusher:member_added', cb), 5000, 'member_added');
    const b1 = mk('bob');
    const pb1 = b1.subscribe('presence-room');
    const bobHere = await next<{ count: number }>((cb) => pb1.bind('pusher:subscription_succeeded', cb));
    assert.equal(bobHere.count, 2);
    assert.deepEqual(await added, { id: 'bob', info: { name: 'bob' } });
    // Bob's second connection: no second member_added, still two members.
    let extra = 0;
    pa.bind('pusher:member_added', () => extra++);
    const b2 = mk('bob');
    const pb2 = b2.subscribe('presence-room');
    assert.equal((await next<{ count: number }>((cb) => pb2.bind('pusher:subscription_succeeded', cb))).count, 2);
    const users = (await (await srv.api.get({ path: '/channels/presence-room/users' })).json()) as { users: { id: string }[] };
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['alice', 'bob']);
    // One of bob's connections leaves: nothing; the last leaves: member_removed.
    let removedEarly = false;
    pa.bind('pusher:member_removed', () => (removedEarly = true));
    b2.disconnect();
    await until(async () => (await srv.sb.presenceStore.get('pusher:presence-room')).size === 2, 5000, 'b2 gone');
    assert.equal(removedEarly, false);
    const removed = next<{ id: string }>((cb) => pa.bind('pusher:member_removed', cb), 5000, 'member_removed');
    b1.disconnect();
    assert.equal((await removed).id, 'bob');
    assert.equal(extra, 0);
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});

test('pusher-js and the centrifuge SDK share a channel: each sees the other\'s publications, a Pusher client event included', { timeout: 20_000 }, async () => {
  const srv = await startPusher({ token: { hmacSecret: SECRET } });
  const p = pusherClient(srv, { user: 'alice' });
  const url = `ws://127.0.0.1:${srv.port}/connection/websocket`;
  const cf = sdk(url, { token: await token({ sub: 'carol' }) });
  try {
    await connectedOf(p);
    const ch = p.subscribe('lobby');
    const priv = p.subscribe('private-x');
    await Promise.all([next((cb) => ch.bind('pusher:subscription_succeeded', cb)), next((cb) => priv.bind('pusher:subscription_succeeded', cb))]);
    // Every publication the SDK sees, from the start: none can arrive before its listener.
    const seen: { channel: string; data: unknown }[] = [];
    const sub = cf.newSubscription('pusher:lobby');
    sub.on('publication', (ctx) => seen.push({ channel: 'pusher:lobby', data: ctx.data }));
    // Pusher's private names need a subscription token for the SDK (§17.2).
    const subPriv = cf.newSubscription('pusher:private-x', { token: await token({ sub: 'carol', channel: 'pusher:private-x' }) });
    subPriv.on('publication', (ctx) => seen.push({ channel: 'pusher:private-x', data: ctx.data }));
    sub.subscribe();
    subPriv.subscribe();
    cf.connect();
    await Promise.all([next((cb) => sub.on('subscribed', cb as never), 5000, 'lobby subscribed'), next((cb) => subPriv.on('subscribed', cb as never), 5000, 'private-x subscribed')]);
    const atPusher = next<unknown>((cb) => ch.bind('hello', cb), 5000, 'hello at pusher');
    await sub.publish({ event: 'hello', payload: { from: 'centrifuge' } });
    assert.deepEqual(await atPusher, { from: 'centrifuge' });
    await srv.api.trigger('lobby', 'hi', { from: 'pusher api' });
    await until(() => seen.some((s) => (s.data as { event?: string }).event === 'hi'), 5000, 'hi at the SDK');
    assert.deepEqual(seen.find((s) => (s.data as { event?: string }).event === 'hi'), { channel: 'pusher:lobby', data: { event: 'hi', payload: { from: 'pusher api' } } });
    // The Pusher client publishes itself: its client event reaches the SDK subscriber.
    assert.equal(priv.trigger('client-typing', { who: 'alice' }), true);
    await until(() => seen.some((s) => s.channel === 'pusher:private-x'), 5000, 'client event at the SDK');
    assert.deepEqual(seen.find((s) => s.channel === 'pusher:private-x')!.data, { event: 'client-typing', payload: { who: 'alice' } });
  } finally {
    p.disconnect();
    cf.disconnect();
    await srv.close();
  }
});
