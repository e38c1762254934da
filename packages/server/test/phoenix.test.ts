import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Presence, Socket, type Channel } from 'phoenix';
import { phoenixProtocol } from '../src/index.js';
import { RawClient, once, sdk, startServer, token, until, type TestServer } from './helpers.js';

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
      hist: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000, forceRecovery: true },
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
  s.onOpen(() => void (opened = true));
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
  ch.on(event, (p: unknown) => void seen.push(p));
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
  // Reserved event names in publications never reach the client as those events (a publication
  // {event: 'phx_close'} would close the channel, §13.6): they are `message` with the whole data;
  // scalars are wrapped as {data}.
  await srv.sb.publish('chat:room1', { event: 'phx_close', payload: { x: 1 } });
  await srv.sb.publish('chat:room1', { event: 'chan_reply_9', payload: {} });
  await srv.sb.publish('chat:room1', { event: 'presence_diff', payload: { joins: {}, leaves: {} } });
  await srv.sb.publish('chat:room1', 42);
  await until(() => messages.length === 5, 5000, 'reserved events and a scalar as message');
  assert.deepEqual(messages.slice(1), [{ event: 'phx_close', payload: { x: 1 } }, { event: 'chan_reply_9', payload: {} }, { event: 'presence_diff', payload: { joins: {}, leaves: {} } }, { data: 42 }]);
  assert.equal(ch.state, 'joined');

  // A centrifuge SDK client on the same channel sees Phoenix pushes; Phoenix sees its publications.
  const cent = sdk(srv.url, { token: await token({ sub: 'bob' }) });
  const got: unknown[] = [];
  const sub = cent.newSubscription('chat:room1');
  sub.on('publication', (ctx) => got.push(ctx.data));
  const subscribed = once(sub, 'subscribed');
  cent.connect();
  sub.subscribe();
  await subscribed;
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
  // authToken wins over a params token (the subprotocol is the documented source when both are sent).
  const s = phx(srv.phxUrl, { authToken: await token({ sub: 'carol' }), params: { token: await token({ sub: 'mallory' }) } });
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
  // (The client drops the channel itself on leave(), so "nothing more arrives" is checked on the raw wire below.)

  // Refusals before the upgrade: HTTP statuses the raw client sees.
  await assert.rejects(new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=bad&vsn=2.0.0`).opened, /HTTP 401/);
  const good = await token({ sub: 'x' });
  await assert.rejects(new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${good}&vsn=1.0.0`).opened, /HTTP 400/);
});

test('phoenix: Presence lists members of every protocol and drops the one who left', async () => {
  const srv = await server();
  const a = phx(srv.phxUrl, { params: { token: await token({ sub: 'alice' }) } });
  await open(a);
  const ch = a.channel('chat:presence', {});
  const presence = new Presence(ch);
  let keys: string[] = [];
  const left: string[] = [];
  const came: string[] = [];
  presence.onSync(() => void (keys = presence.list((k: string) => k).sort()));
  presence.onJoin((k: string | undefined, current: unknown) => {
    if (k !== undefined && current === undefined) came.push(k);
  });
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
    // onJoin saw each newcomer once (alice herself from her presence_state).
    assert.deepEqual([...came].sort(), ['alice', 'bob', 'cent']);
    b.disconnect();
    await until(() => keys.join() === 'alice,cent', 5000, 'bob dropped');
    assert.deepEqual(left, ['bob']);
  } finally {
    cent.disconnect();
  }
});

test('phoenix: route handlers: a decline reason reaches receive("error"), reply() reaches the push\'s receive("ok")', async () => {
  const srv = await server();
  srv.sb
    .route('/room/:id', {
      join(ctx) {
        if (ctx.params.id === 'locked') return ctx.decline(403, 'room is locked');
        ctx.accept();
      },
    })
    .on('ask', (ctx) => ctx.reply('answer', { echo: ctx.payload, by: ctx.client.user }))
    .on('quiet', () => {});
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'dana' }) } });
  await open(s);
  const locked = s.channel('/room/locked', {});
  const refusal = await new Promise<unknown>((resolve) =>
    locked.join().receive('error', (r: unknown) => {
      locked.leave();
      resolve(r);
    }),
  );
  assert.deepEqual(refusal, { reason: 'room is locked', code: 103 });
  const room = s.channel('/room/1', {});
  await joined(room);
  assert.deepEqual(await pushed(room, 'ask', { q: 1 }), { status: 'ok', response: { echo: { q: 1 }, by: 'dana' } });
  // A handler that answers nothing still settles the push (never a client timeout).
  assert.deepEqual(await pushed(room, 'quiet', {}), { status: 'ok', response: {} });
});

test('phoenix: raw wire: unmatched topic, duplicate join, binary push refused with the socket up, malformed frame closes 1007', async () => {
  const srv = await server();
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'eve' })}&vsn=2.0.0`);
  await c.opened;
  const isReply = (ref: string) => (m: Record<string, unknown>) => Array.isArray(m) && m[1] === ref && m[3] === 'phx_reply';
  c.send([null, '1', 'phoenix', 'heartbeat', {}]);
  assert.deepEqual(await c.next(isReply('1')), [null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  c.send(['2', '3', 'chat:x', 'hello', {}]);
  assert.deepEqual(await c.next(isReply('3')), [null, '3', 'chat:x', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
  c.send(['4', '4', 'chat:x', 'phx_join', {}]);
  assert.deepEqual(await c.next(isReply('4')), ['4', '4', 'chat:x', 'phx_reply', { status: 'ok', response: {} }]);
  c.send(['5', '5', 'chat:x', 'phx_join', {}]);
  assert.deepEqual(await c.next((m) => Array.isArray(m) && m[3] === 'phx_close'), ['4', '4', 'chat:x', 'phx_close', {}]);
  assert.deepEqual(await c.next(isReply('5')), ['5', '5', 'chat:x', 'phx_reply', { status: 'ok', response: {} }]);
  // Binary push (§9): kind 0, lengths, "5" "6" "chat:x" "up", bytes.
  c.ws.send(Buffer.concat([Buffer.from([0, 1, 1, 6, 2]), Buffer.from('56chat:xup'), Buffer.from([1, 2, 3])]));
  const bin = await c.next<unknown[]>(isReply('6'));
  assert.deepEqual(bin.slice(0, 3), ['5', '6', 'chat:x']);
  assert.equal((bin[4] as { status: string }).status, 'error');
  c.send([null, '7', 'phoenix', 'heartbeat', {}]);
  await c.next(isReply('7'));

  // Leave (§14): ok reply with the refs, then phx_close with the join ref, and delivery stops.
  c.send(['8', '8', 'chat:y', 'phx_join', {}]);
  await c.next(isReply('8'));
  // While joined, a publication made before a heartbeat arrives before its reply (what makes the check below meaningful).
  // The frames of `topic` (presence frames aside: chat has presence) that came before the reply to a heartbeat sent now.
  const before = async (hbRef: string, topic: string): Promise<unknown[][]> => {
    c.send([null, hbRef, 'phoenix', 'heartbeat', {}]);
    await until(() => c.messages.some((m) => isReply(hbRef)(m as Record<string, unknown>)), 5000, `heartbeat ${hbRef}`);
    const i = c.messages.findIndex((m) => isReply(hbRef)(m as Record<string, unknown>));
    const got = c.messages.splice(0, i + 1).slice(0, i) as unknown[][];
    return got.filter((m) => m[2] === topic && m[3] !== 'presence_state' && m[3] !== 'presence_diff');
  };
  const onY = (m: Record<string, unknown>) => Array.isArray(m) && m[2] === 'chat:y' && m[3] !== 'presence_state' && m[3] !== 'presence_diff';
  await srv.sb.publish('chat:y', { n: 1 });
  assert.deepEqual(await before('h1', 'chat:y'), [[null, null, 'chat:y', 'message', { n: 1 }]]);
  c.send(['8', '9', 'chat:y', 'phx_leave', {}]);
  assert.deepEqual(await c.next(onY), ['8', '9', 'chat:y', 'phx_reply', { status: 'ok', response: {} }]);
  assert.deepEqual(await c.next(onY), ['8', '8', 'chat:y', 'phx_close', {}]);
  await srv.sb.publish('chat:y', { n: 2 });
  assert.deepEqual(await before('h2', 'chat:y'), [], 'nothing of chat:y after the leave');

  // A push with a stale join ref (a previous join of the topic) is ignored: no reply at all.
  c.send(['10', '10', 'chat:z', 'phx_join', {}]);
  await c.next(isReply('10'));
  c.send(['10', '11', 'chat:z', 'publish', { fresh: true }]);
  assert.deepEqual(await c.next(isReply('11')), ['10', '11', 'chat:z', 'phx_reply', { status: 'ok', response: {} }]);
  await c.next((m) => Array.isArray(m) && m[2] === 'chat:z' && m[3] === 'message');
  c.send(['9', '12', 'chat:z', 'publish', { stale: true }]);
  assert.deepEqual(await before('h3', 'chat:z'), [], 'no reply to the stale push, nothing published');

  c.send('{"not":"an array"}');
  assert.equal((await c.waitClose()).code, 1007);
});

test('phoenix: recovery beyond Phoenix: a rejoin with the last broadcast ref as `recover` replays the missed publications in order, once', async () => {
  const srv = await server();
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'rita' }) } });
  await open(s);
  // The two lines a client adds: remember the last position, send it back at every (re)join.
  let last: string | undefined;
  const ch = s.channel('hist:1', () => (last === undefined ? {} : { recover: last }));
  const got: number[] = [];
  ch.on('message', (p: { n: number }) => void got.push(p.n));
  const onMessage = ch.onMessage.bind(ch);
  ch.onMessage = (event: string, payload: unknown, ref: unknown) => {
    if (typeof ref === 'string' && ref.includes(':')) last = ref;
    return onMessage(event, payload, ref);
  };
  const replies: unknown[] = [];
  let joins = 0;
  ch.join().receive('ok', (r: unknown) => {
    joins++;
    replies.push(r);
  });
  await until(() => joins === 1, 5000, 'joined');
  await srv.sb.publish('hist:1', { n: 1 });
  await until(() => got.length === 1, 5000, 'first publication');
  assert.match(last ?? '', /^1:/);

  // The connection drops; two publications are missed meanwhile; the client reconnects and rejoins.
  s.disconnect();
  await until(() => !s.isConnected(), 5000, 'socket closed');
  await srv.sb.publish('hist:1', { n: 2 });
  await srv.sb.publish('hist:1', { n: 3 });
  s.connect();
  await until(() => joins === 2, 5000, 'rejoined');
  await srv.sb.publish('hist:1', { n: 4 });
  await until(() => got.length >= 4, 5000, 'replayed and live');
  assert.deepEqual(got, [1, 2, 3, 4]);
  const second = replies[1] as { recoverable: boolean; recovered: boolean; offset: number };
  assert.equal(second.recovered, true);
  assert.equal(second.recoverable, true);
});

test('phoenix: a server unsubscribe is phx_close (no rejoin); a dropped connection rejoins and receives again, once', async () => {
  const srv = await server();
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'kim' }) } });
  await open(s);
  const kicked = s.channel('chat:kick', {});
  let closed = false;
  kicked.onClose(() => void (closed = true));
  await joined(kicked);
  await srv.sb.unsubscribeUser({ user: 'kim' }, 'chat:kick');
  await until(() => closed, 5000, 'phx_close');

  const ch = s.channel('chat:again', {});
  const got: unknown[] = [];
  ch.on('message', (p: unknown) => void got.push(p));
  let joins = 0;
  ch.join().receive('ok', () => void joins++);
  await until(() => joins === 1, 5000, 'joined');
  let opens = 0;
  s.onOpen(() => void opens++);
  await srv.sb.disconnectUser({ user: 'kim' }, { code: 3011, reason: 'force reconnect' });
  await until(() => opens === 1 && joins === 2, 5000, 'reconnected and rejoined');
  await srv.sb.publish('chat:again', { n: 1 });
  await until(() => got.length === 1, 5000, 'delivered after the rejoin');
  await srv.sb.publish('chat:again', { n: 2 });
  await until(() => got.length === 2, 5000, 'second');
  assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
  // The kicked channel stayed closed: the client did not rejoin it.
  assert.equal(kicked.state, 'closed');
});

test('phoenix: a presence update is a leave+join in one diff: new phx_ref with phx_ref_prev, the old one left; Presence keeps one meta', async () => {
  const srv = await server();
  srv.sb
    .route('/desk/:id', {
      join(ctx) {
        ctx.track({ status: 'here' });
        ctx.accept();
      },
      options: { presence: true },
    })
    .on('status', async (ctx) => {
      await ctx.updatePresence({ status: (ctx.payload as { status: string }).status });
    });
  const a = phx(srv.phxUrl, { params: { token: await token({ sub: 'alice' }) } });
  const b = phx(srv.phxUrl, { params: { token: await token({ sub: 'bob' }) } });
  await open(a);
  await open(b);
  const chA = a.channel('/desk/1', {});
  const presence = new Presence(chA);
  const diffs: { joins: Record<string, { metas: Record<string, unknown>[] }>; leaves: Record<string, { metas: Record<string, unknown>[] }> }[] = [];
  chA.on('presence_diff', (d: (typeof diffs)[number]) => void diffs.push(d));
  const events: string[] = [];
  presence.onJoin((k: string | undefined) => void events.push(`join ${k}`));
  presence.onLeave((k: string | undefined) => void events.push(`leave ${k}`));
  let bobMetas: Record<string, unknown>[] = [];
  presence.onSync(() => {
    bobMetas = [];
    presence.list((k: string, p: { metas: Record<string, unknown>[] }) => {
      if (k === 'bob') bobMetas = p.metas;
    });
  });
  await joined(chA);
  const chB = b.channel('/desk/1', {});
  await joined(chB);
  await until(() => bobMetas.length === 1, 5000, 'alice sees bob');
  const first = bobMetas[0]!;
  assert.deepEqual(first['chan_info'], { status: 'here' });

  for (const status of ['away', 'back']) {
    assert.equal((await pushed(chB, 'status', { status })).status, 'ok');
    await until(() => bobMetas.length === 1 && (bobMetas[0]!['chan_info'] as { status: string }).status === status, 5000, `bob ${status}`);
  }
  // Each version has its own ref; the update diff names the one it replaces and leaves it.
  const updates = diffs.filter((d) => d.joins['bob'] !== undefined && d.leaves['bob'] !== undefined);
  assert.equal(updates.length, 2);
  const refs = [first['phx_ref'], ...updates.map((d) => d.joins['bob']!.metas[0]!['phx_ref'])];
  assert.equal(new Set(refs).size, 3, `three distinct refs ${JSON.stringify(refs)}`);
  for (const [i, d] of updates.entries()) {
    assert.equal(d.joins['bob']!.metas[0]!['phx_ref_prev'], refs[i]);
    assert.equal(d.leaves['bob']!.metas[0]!['phx_ref'], refs[i]);
  }
  assert.equal(bobMetas.length, 1);
  assert.equal(bobMetas[0]!['phx_ref'], refs[2]);
  assert.deepEqual(events.filter((e) => e.endsWith('bob')), ['join bob', 'join bob', 'leave bob', 'join bob', 'leave bob']);
  // A member joining now gets the current version in its presence_state.
  const c = phx(srv.phxUrl, { params: { token: await token({ sub: 'carl' }) } });
  await open(c);
  const chC = c.channel('/desk/1', {});
  const pc = new Presence(chC);
  let seen: Record<string, unknown>[] = [];
  pc.onSync(() => {
    pc.list((k: string, p: { metas: Record<string, unknown>[] }) => {
      if (k === 'bob') seen = p.metas;
    });
  });
  await joined(chC);
  await until(() => seen.length === 1, 5000, 'carl sees bob');
  assert.equal(seen[0]!['phx_ref'], refs[2]);
  assert.deepEqual(seen[0]!['chan_info'], { status: 'back' });
});

test('phoenix: a connection silent past the idle timeout is closed (no heartbeat); one that heartbeats stays', async () => {
  const srv = await startServer({ pingIntervalMs: 100, pongTimeoutMs: 5000, namespaces: { chat: { allowSubscribeForClient: true } } });
  srv.sb.registerProtocol(phoenixProtocol({ idleTimeoutMs: 600 }));
  srv.sb.attach(srv.http, { path: '/socket/websocket', protocol: 'phoenix' });
  servers.add(srv);
  const url = `ws://127.0.0.1:${srv.port}/socket`;
  // The official client heartbeating every 150 ms.
  const live = new Socket(url, { transport: WebSocket, heartbeatIntervalMs: 150, reconnectAfterMs: () => 50, params: { token: await token({ sub: 'live' }) } });
  sockets.add(live);
  let closes = 0;
  live.onClose(() => void closes++);
  await open(live);
  // A raw client that answers WebSocket pings (ws does) but sends no frame.
  const silent = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'silent' })}&vsn=2.0.0`);
  await silent.opened;
  const closed = await silent.waitClose(10_000);
  assert.deepEqual([closed.code, closed.reason], [3012, 'no heartbeat']);
  assert.equal(closes, 0, 'the heartbeating client was never closed');
  assert.ok(live.isConnected());
});

test('phoenix: "resubscribe needed" is phx_error: the client rejoins by itself and recovers', async () => {
  const srv = await server();
  let id = '';
  srv.sb.on('connect', (c) => void (id = c.id));
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'lag' }) } });
  await open(s);
  let last: string | undefined;
  const ch = s.channel('hist:lag', () => (last === undefined ? {} : { recover: last }));
  const got: number[] = [];
  ch.on('message', (p: { n: number }) => void got.push(p.n));
  const onMessage = ch.onMessage.bind(ch);
  ch.onMessage = (event: string, payload: unknown, ref: unknown) => {
    if (typeof ref === 'string' && ref.includes(':')) last = ref;
    return onMessage(event, payload, ref);
  };
  const errors: unknown[] = [];
  ch.onError((r: unknown) => void errors.push(r));
  const replies: { recovered?: boolean }[] = [];
  ch.join().receive('ok', (r: { recovered?: boolean }) => void replies.push(r));
  await until(() => replies.length === 1, 5000, 'joined');
  await srv.sb.publish('hist:lag', { n: 1 });
  await until(() => got.length === 1, 5000, 'first');
  // What the keepalive tick does to a subscriber that lost publications (slow-consumer drop).
  const conn = srv.sb.liveConnection(id)!;
  conn.session.pushLagged(conn.subscriptions.get('hist:lag')!);
  await srv.sb.publish('hist:lag', { n: 2 });
  await until(() => replies.length === 2, 10_000, 'rejoined after phx_error');
  await srv.sb.publish('hist:lag', { n: 3 });
  await until(() => got.length >= 3, 5000, 'recovered and live');
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual(errors, [{ reason: 'insufficient state' }]);
  assert.equal(replies[1]!.recovered, true);
});

test('phoenix: app code sees Phoenix clients like any other: middleware, assigns from the join handler, the command rate limit (error 111), one encode per publication', async () => {
  const seen: string[] = [];
  const srv = await startServer(
    { limits: { commandRateLimit: 5 }, namespaces: { chat: { allowSubscribeForClient: true, allowPublishForClient: true } } },
    (sb) => {
      sb.use(async (ctx, next) => {
        seen.push(`${ctx.kind}/${ctx.protocol}`);
        await next();
      });
      sb.route('/team/:id', {
        join(ctx) {
          ctx.assign('team', ctx.params.id).accept();
        },
      }).on('whoami', (ctx) => ctx.reply('me', { team: ctx.client.assigns['team'], user: ctx.client.user }));
    },
  );
  srv.sb.attach(srv.http, { path: '/socket/websocket', protocol: 'phoenix' });
  servers.add(srv);
  const s = phx(`ws://127.0.0.1:${srv.port}/socket`, { params: { token: await token({ sub: 'ann' }) } });
  await open(s);
  const team = s.channel('/team/blue', {});
  await joined(team);
  // The assign made by the join handler is read back by the event handler.
  assert.deepEqual(await pushed(team, 'whoami', {}), { status: 'ok', response: { team: 'blue', user: 'ann' } });
  const chat = s.channel('chat:mw', {});
  await joined(chat);
  assert.equal((await pushed(chat, 'publish', { n: 1 })).status, 'ok');
  for (const k of ['connect/phoenix', 'subscribe/phoenix', 'event/phoenix', 'publish/phoenix']) assert.ok(seen.includes(k), `middleware saw ${k}: ${seen.join()}`);

  // A burst of pushes over the limit: every push answered, some refused with 111 (none left to time out).
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'burst' })}&vsn=2.0.0`);
  await c.opened;
  try {
    c.send(['1', '1', 'chat:rl', 'phx_join', {}]);
    await c.next((m) => Array.isArray(m) && m[1] === '1');
    for (let i = 0; i < 9; i++) c.send(['1', `p${i}`, 'chat:rl', 'publish', { i }]);
    const replies: unknown[][] = [];
    for (let i = 0; i < 9; i++) replies.push(await c.next<unknown[]>((m) => Array.isArray(m) && m[1] === `p${i}`));
    const statuses = replies.map((r) => r[4] as { status: string; response: unknown });
    assert.ok(statuses.some((r) => r.status === 'ok'), 'some pushes passed');
    assert.deepEqual(
      statuses.find((r) => r.status === 'error'),
      { status: 'error', response: { reason: 'too many requests', code: 111 } },
    );
  } finally {
    c.close();
  }

  // Fan-out: one encode per publication for 20 Phoenix subscribers.
  const p = srv.sb.protocol('phoenix')!;
  let encodes = 0;
  const orig = p.encodePublication.bind(p);
  (p as { encodePublication: typeof orig }).encodePublication = (ch, pub) => {
    encodes++;
    return orig(ch, pub);
  };
  const subs: RawClient[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const r = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: `f${i}` })}&vsn=2.0.0`);
      subs.push(r);
      await r.opened;
      r.send(['1', '1', 'chat:fan', 'phx_join', {}]);
      await r.next((m) => Array.isArray(m) && m[1] === '1');
    }
    for (let n = 0; n < 5; n++) await srv.sb.publish('chat:fan', { event: 'tick', payload: { n } });
    for (const r of subs) for (let n = 0; n < 5; n++) assert.deepEqual(await r.next((m) => Array.isArray(m) && m[3] === 'tick'), [null, null, 'chat:fan', 'tick', { n }]);
    assert.equal(encodes, 5);
  } finally {
    for (const r of subs) r.close();
  }
});

test('phoenix: recovery after a real drop (server-side TCP close), with `recover` as {offset, epoch}; a wrong epoch gets recovered: false and nothing replayed', async () => {
  const srv = await server();
  // The reconnect is held at the server until the missed publications are made, so they must be replayed.
  let connects = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  srv.sb.onConnecting(async (ctx) => {
    if (ctx.protocol === 'phoenix' && ++connects === 2) await held;
    ctx.accept();
  });
  let id = '';
  srv.sb.on('connect', (c) => void (id = c.id));
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'tcp' }) } });
  const closes: number[] = [];
  s.onClose((e: { code: number }) => void closes.push(e.code));
  await open(s);
  let last: { offset: number; epoch: string } | undefined;
  const ch = s.channel('hist:drop', () => (last === undefined ? {} : { recover: last }));
  const got: number[] = [];
  ch.on('message', (p: { n: number }) => void got.push(p.n));
  const onMessage = ch.onMessage.bind(ch);
  ch.onMessage = (event: string, payload: unknown, ref: unknown) => {
    if (typeof ref === 'string' && ref.includes(':')) {
      const i = ref.indexOf(':');
      last = { offset: Number(ref.slice(0, i)), epoch: ref.slice(i + 1) };
    }
    return onMessage(event, payload, ref);
  };
  const replies: { recovered?: boolean; recoverable?: boolean; epoch?: string }[] = [];
  ch.join().receive('ok', (r: (typeof replies)[number]) => void replies.push(r));
  await until(() => replies.length === 1, 5000, 'joined');
  await srv.sb.publish('hist:drop', { n: 1 });
  await until(() => got.length === 1, 5000, 'first');

  // The server drops the TCP connection (no close frame: the client sees 1006) and the client reconnects.
  (srv.sb.liveConnection(id)!.transport as unknown as { ws: WebSocket }).ws.terminate();
  await until(() => connects === 2, 5000, 'the client is reconnecting');
  await srv.sb.publish('hist:drop', { n: 2 });
  await srv.sb.publish('hist:drop', { n: 3 });
  release();
  await until(() => replies.length === 2, 5000, 'rejoined');
  await srv.sb.publish('hist:drop', { n: 4 });
  await until(() => got.length >= 4, 5000, 'replayed and live');
  assert.deepEqual(got, [1, 2, 3, 4]);
  assert.equal(replies[1]!.recovered, true);
  assert.equal(closes[0], 1006);
  const epoch = replies[0]!.epoch!;

  // Raw wire: the object form from offset 1 replays 2, 3, 4 before the join's next heartbeat reply;
  // a wrong epoch gets recovered: false and nothing.
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'raw' })}&vsn=2.0.0`);
  await c.opened;
  try {
    c.send(['1', '1', 'hist:drop', 'phx_join', { recover: { offset: 1, epoch } }]);
    c.send([null, 'hb1', 'phoenix', 'heartbeat', {}]);
    await c.next((m) => Array.isArray(m) && m[1] === 'hb1');
    const first = c.messages.splice(0) as unknown[][];
    // (When recovered, the reply's offset is the position recovered from; each replayed broadcast carries its own.)
    assert.deepEqual(first[0], ['1', '1', 'hist:drop', 'phx_reply', { status: 'ok', response: { recoverable: true, epoch, offset: 1, recovered: true } }]);
    assert.deepEqual(
      first.slice(1).map((m) => [m[1], m[3], m[4]]),
      [2, 3, 4].map((n) => [`${n}:${epoch}`, 'message', { n }]),
    );
    await srv.sb.publish('hist:other', { n: 1 });
    await srv.sb.publish('hist:other', { n: 2 });
    c.send(['2', '2', 'hist:other', 'phx_join', { recover: { offset: 1, epoch: 'not-the-epoch' } }]);
    c.send([null, 'hb2', 'phoenix', 'heartbeat', {}]);
    await c.next((m) => Array.isArray(m) && m[1] === 'hb2');
    const second = c.messages.splice(0) as unknown[][];
    assert.equal(second.length, 1, JSON.stringify(second));
    const reply = second[0]![4] as { status: string; response: { recovered: boolean; recoverable: boolean } };
    assert.equal(reply.status, 'ok');
    assert.equal(reply.response.recovered, false);
    // A malformed recover param is no recovery at all: a plain positioned join.
    c.send(['3', '3', 'hist:third', 'phx_join', { recover: { offset: 'x' } }]);
    const third = await c.next<unknown[]>((m) => Array.isArray(m) && m[1] === '3');
    assert.equal((third[4] as { response: Record<string, unknown> }).response['recovered'], undefined);
  } finally {
    c.close();
  }
});

/** socket.onMessage hands each decoded frame over as `object`: check it has the three fields of a Phoenix message. */
function phxFrame(m: object): { topic: string; event: string; payload: unknown } {
  assert.ok('topic' in m && typeof m.topic === 'string' && 'event' in m && typeof m.event === 'string' && 'payload' in m, `not a Phoenix message: ${JSON.stringify(m)}`);
  return { topic: m.topic, event: m.event, payload: m.payload };
}

test('phoenix: mounted at another path (/rt/websocket); conn.send reaches socket.onMessage on topic phoenix; publications to * are not delivered to Phoenix clients', async () => {
  const srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true } } });
  srv.sb.attach(srv.http, { path: '/rt/websocket', protocol: 'phoenix' });
  srv.sb.attach(srv.http, { path: '/plain', protocol: 'plain' });
  servers.add(srv);
  const s = phx(`ws://127.0.0.1:${srv.port}/rt`, { params: { token: await token({ sub: 'pat' }) } });
  const frames: { topic: string; event: string; payload: unknown }[] = [];
  s.onMessage((m) => void frames.push(phxFrame(m)));
  await open(s);
  const ch = s.channel('chat:p', {});
  await joined(ch);
  const conn = [...srv.sb.connections()].find((c) => c.protocol === 'phoenix')!;
  conn.send({ hello: 'pat' });
  conn.send('scalar');
  await until(() => frames.filter((m) => m.topic === 'phoenix' && m.event === 'message').length === 2, 5000, 'conn.send frames');
  assert.deepEqual(
    frames.filter((m) => m.topic === 'phoenix' && m.event === 'message').map((m) => m.payload),
    [{ hello: 'pat' }, { data: 'scalar' }],
  );

  // '*' reaches a plain client (so it was sent) but no Phoenix frame carries it: the publication
  // made after it on a joined topic arrives with nothing of it before.
  const plain = new RawClient(`ws://127.0.0.1:${srv.port}/plain?token=${await token({ sub: 'pl' })}`);
  await plain.opened;
  try {
    await srv.sb.publish('*', { event: 'maint', payload: { at: 'noon' } });
    assert.equal((await plain.next((m) => m['channel'] === '*'))['type'], 'maint');
    await srv.sb.publish('chat:p', { event: 'after', payload: {} });
    await until(() => frames.some((m) => m.event === 'after'), 5000, 'the later publication');
    assert.deepEqual(frames.filter((m) => m.event === 'maint' || JSON.stringify(m.payload).includes('noon')), []);
  } finally {
    plain.close();
  }
});

test('phoenix: a revoked token is closed with 3520 and every reconnect of the 1.8.16 client is refused before the upgrade (403); other users stay', async () => {
  const srv = await server();
  const s = phx(srv.phxUrl, { params: { token: await token({ sub: 'gone', jti: 'jti-gone' }) } });
  let opens = 0;
  const errors: unknown[] = [];
  const closes: number[] = [];
  s.onOpen(() => void opens++);
  s.onError((e: unknown) => void errors.push(e));
  s.onClose((e: { code: number }) => void closes.push(e.code));
  await open(s);
  const other = phx(srv.phxUrl, { params: { token: await token({ sub: 'stays' }) } });
  await open(other);
  const och = other.channel('chat:stay', {});
  const got: unknown[] = [];
  och.on('message', (p: unknown) => void got.push(p));
  await joined(och);

  await srv.sb.revokeToken('jti-gone', Date.now() + 60_000);
  await until(() => closes.length >= 1, 5000, 'the revoked connection closed');
  assert.equal(closes[0], 3520);
  // The client comes back whatever the code; each try is refused at the upgrade, so it never opens again.
  const before = errors.length;
  await until(() => errors.length >= before + 2, 10_000, 'two refused reconnects');
  assert.equal(opens, 1);
  await assert.rejects(new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${await token({ sub: 'gone', jti: 'jti-gone' })}&vsn=2.0.0`).opened, /HTTP 403/);
  // Another user's connection was not touched.
  await srv.sb.publish('chat:stay', { n: 1 });
  await until(() => got.length === 1, 5000, 'the other user still receives');
  assert.ok(other.isConnected());
  s.disconnect();
});
