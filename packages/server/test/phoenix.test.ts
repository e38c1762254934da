import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Presence, Socket, type Channel } from 'phoenix';
import { SubscriptionState } from 'centrifuge';
import { RawClient, sdk, startServer, token, until, type TestServer } from './helpers.js';

/** Every socket a test made, disconnected at the end (the official client reconnects forever otherwise). */
const sockets = new Set<Socket>();
const servers = new Set<TestServer>();

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets.clear();
  for (const srv of servers) await srv.close();
  servers.clear();
});

async function server(): Promise<TestServer & { phxUrl: string }> {
  const srv = await startServer({
    namespaces: {
      chat: { allowSubscribeForClient: true, allowPublishForClient: true, presence: true },
      news: { allowSubscribeForClient: true },
      secret: {},
    },
  });
  srv.sb.attach(srv.http, { path: '/socket/websocket', protocol: 'phoenix' });
  servers.add(srv);
  return { ...srv, phxUrl: `ws://127.0.0.1:${srv.port}/socket` };
}

/** The official client, unchanged: `ws`'s WebSocket as its transport (Node 20 has none). */
function phx(url: string, opts: { params?: Record<string, unknown>; authToken?: string } = {}): Socket {
  const s = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 50, rejoinAfterMs: () => 200, timeout: 3000, ...opts });
  sockets.add(s);
  return s;
}

async function open(s: Socket): Promise<void> {
  let opened = false;
  s.onOpen(() => (opened = true));
  s.connect();
  await until(() => opened, 5000, 'phoenix socket open');
}

function joined(ch: Channel): Promise<unknown> {
  return new Promise((resolve, reject) => {
    ch.join()
      .receive('ok', resolve)
      .receive('error', (r: unknown) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

function pushed(ch: Channel, event: string, payload: object): Promise<{ status: string; response: unknown }> {
  return new Promise((resolve) => {
    ch.push(event, payload)
      .receive('ok', (response: unknown) => resolve({ status: 'ok', response }))
      .receive('error', (response: unknown) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

function record(ch: Channel, event: string): unknown[] {
  const seen: unknown[] = [];
  ch.on(event, (p: unknown) => seen.push(p));
  return seen;
}

test('phoenix: token in params, join, API publication as a broadcast, push answered ok and shared with a centrifuge client', async () => {
  const srv = await server();
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'alice' }) } });
  await open(s);
  const ch = s.channel('chat:room1', {});
  const news = record(ch, 'news');
  const messages = record(ch, 'message');
  assert.deepEqual(await joined(ch), {});

  // A library publication: event envelope → that event; anything else → `message`.
  await srv.sb.publish('chat:room1', { event: 'news', payload: { n: 1 } });
  await srv.sb.publish('chat:room1', { text: 'plain' });
  await until(() => news.length === 1 && messages.length === 1, 5000, 'broadcasts');
  assert.deepEqual(news[0], { n: 1 });
  assert.deepEqual(messages[0], { text: 'plain' });

  // A centrifuge SDK client on the same channel sees Phoenix pushes; Phoenix sees its publications.
  const cent = sdk(srv.url, { token: await token({ sub: 'bob' }) });
  const got: unknown[] = [];
  const sub = cent.newSubscription('chat:room1');
  sub.on('publication', (ctx) => got.push(ctx.data));
  cent.connect();
  sub.subscribe();
  await until(() => sub.state === SubscriptionState.Subscribed, 5000, 'centrifuge subscribed');
  try {
    assert.deepEqual(await pushed(ch, 'publish', { text: 'raw' }), { status: 'ok', response: {} });
    assert.deepEqual(await pushed(ch, 'shout', { loud: true }), { status: 'ok', response: {} });
    await until(() => got.length === 2, 5000, 'centrifuge got both');
    assert.deepEqual(got, [{ text: 'raw' }, { event: 'shout', payload: { loud: true } }]);
    // The sender receives its own publications like every subscriber (broadcast! semantics).
    const shouts = record(ch, 'from-cent');
    await sub.publish({ event: 'from-cent', payload: { hi: 1 } });
    await until(() => shouts.length === 1, 5000, 'phoenix got the centrifuge publication');
    assert.deepEqual(shouts[0], { hi: 1 });
  } finally {
    cent.disconnect();
  }
});

test('phoenix: refused joins and pushes get error replies with reason and code', async () => {
  const srv = await server();
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'alice' }) } });
  await open(s);
  const errors: unknown[] = [];
  for (const topic of ['nope:x', 'secret:x']) {
    const ch = s.channel(topic, {});
    await new Promise<void>((resolve) => {
      ch.join().receive('error', (r: unknown) => {
        errors.push(r);
        ch.leave(); // stop the client's own rejoin loop
        resolve();
      });
    });
  }
  assert.deepEqual(errors, [
    { reason: 'unknown channel', code: 102 },
    { reason: 'permission denied', code: 103 },
  ]);
  // A push where the namespace forbids client publishing, and a reserved event name.
  const news = s.channel('news:1', {});
  await joined(news);
  assert.deepEqual(await pushed(news, 'publish', { x: 1 }), { status: 'error', response: { reason: 'permission denied', code: 103 } });
  const chat = s.channel('chat:1', {});
  await joined(chat);
  assert.deepEqual(await pushed(chat, 'presence_diff', {}), { status: 'error', response: { reason: 'reserved event', code: 107 } });
});

test('phoenix: authToken subprotocol (phoenix echoed), bad token and wrong vsn refused before the upgrade, heartbeat, leave stops delivery', async () => {
  const srv = await server();
  let connectedUser: string | undefined;
  const unsubscribed: string[] = [];
  srv.sb.on('connect', (c) => {
    if (c.protocol === 'phoenix') connectedUser = c.user;
  });
  srv.sb.on('unsubscribe', (c, channel) => {
    if (c.protocol === 'phoenix') unsubscribed.push(channel);
  });
  const s = phx(srv.phxUrl, { authToken: await token({ sub: 'carol' }) });
  await open(s);
  await until(() => connectedUser !== undefined, 5000, 'connect event');
  assert.equal(connectedUser, 'carol');
  // Heartbeat: the client's ping callback fires on the matching reply.
  const rtt = await new Promise<number>((resolve) => s.ping(resolve));
  assert.ok(rtt >= 0);

  const ch = s.channel('chat:leave', {});
  const msgs = record(ch, 'message');
  await joined(ch);
  await srv.sb.publish('chat:leave', { n: 1 });
  await until(() => msgs.length === 1, 5000, 'first message');
  await new Promise<void>((resolve) => ch.leave().receive('ok', () => resolve()));
  await until(() => unsubscribed.includes('chat:leave'), 5000, 'server-side leave');
  await srv.sb.publish('chat:leave', { n: 2 });
  await srv.sb.publish('chat:other', { n: 3 }); // nothing of chat:leave may arrive any more
  assert.equal(msgs.length, 1);

  // Refusals before the upgrade: HTTP statuses the raw client sees.
  const bad = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=bad&vsn=2.0.0`);
  const wrongVsn = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'x' })}&vsn=1.0.0`);
  await assert.rejects(bad.opened, /HTTP 401/);
  await assert.rejects(wrongVsn.opened, /HTTP 400/);
});

test('phoenix: Presence lists members of every protocol and drops the one who left', async () => {
  const srv = await server();
  const a = phx(srv.phxUrl, { params: { token: await token({ sub: 'alice' }) } });
  await open(a);
  const ch = a.channel('chat:presence', {});
  const presence = new Presence(ch);
  let keys: string[] = [];
  const left: string[] = [];
  presence.onSync(() => (keys = presence.list((k: string) => k).sort()));
  presence.onLeave((k: string | undefined, current: { metas: unknown[] } | undefined) => {
    if (k !== undefined && (current === undefined || current.metas.length === 0)) left.push(k);
  });
  await joined(ch);
  await until(() => keys.join() === 'alice', 5000, 'alice sees herself');

  const b = phx(srv.phxUrl, { params: { token: await token({ sub: 'bob' }) } });
  await open(b);
  const chB = b.channel('chat:presence', {});
  await joined(chB);
  const cent = sdk(srv.url, { token: await token({ sub: 'cent' }) });
  const sub = cent.newSubscription('chat:presence');
  cent.connect();
  sub.subscribe();
  try {
    await until(() => keys.join() === 'alice,bob,cent', 5000, 'three members of two protocols');
    b.disconnect();
    await until(() => keys.join() === 'alice,cent', 5000, 'bob dropped');
    assert.deepEqual(left, ['bob']);
  } finally {
    cent.disconnect();
  }
});
