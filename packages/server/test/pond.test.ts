import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Disconnects, type Switchboard } from '../src/index.js';
import { RawClient, token, until } from './helpers.js';
import { ChannelState, ConnectionState, connected, join, pond, startMulti, stop, stopAll, waitFor, type MultiServer, type Recorded } from './pond-helpers.js';

afterEach(() => stopAll());

/** The channel's presence list (a getter in the 0.0.32 build, although its typings declare a method). */
function presenceOf(ch: object): Record<string, unknown>[] {
  return (ch as unknown as { presence: Record<string, unknown>[] }).presence;
}

/** The chat app of the PondSocket docs: token auth, rooms by path, presence, targeted events. */
function chatApp(sb: Switchboard): void {
  sb.route('/chat/:roomId', {
    join(ctx) {
      const params = ctx.data as Record<string, unknown>;
      if (ctx.params.roomId === 'locked') return ctx.decline(403, 'room is locked');
      if (params['password'] === 'wrong') return ctx.decline(401, 'bad password');
      ctx.assign('room', ctx.params.roomId);
      ctx.track({ name: ctx.client.assigns['name'] });
      ctx.accept();
      ctx.reply('welcome', { room: ctx.params.roomId, params, name: ctx.client.assigns['name'] });
    },
  })
    .on('shout', (ctx) => ctx.broadcast('shout', { from: ctx.client.user, ...(ctx.payload as object) }))
    .on('whisper', (ctx) => ctx.broadcastFrom('whisper', { from: ctx.client.user, ...(ctx.payload as object) }))
    .on('dm', (ctx) => {
      const p = ctx.payload as { to: string[]; text: string };
      return ctx.broadcastTo(p.to, 'dm', { from: ctx.client.user, text: p.text });
    })
    .on('ask', (ctx) => ctx.reply('answer', { echo: ctx.payload, by: ctx.client.user, room: ctx.client.assigns['room'] }))
    .on('status', async (ctx) => {
      await ctx.updatePresence({ status: (ctx.payload as { status: string }).status });
      ctx.reply('status-ok', {});
    })
    .on('kick', async (ctx) => {
      await ctx.evict((ctx.payload as { user: string }).user, 'behave');
      ctx.reply('kick-ok', {});
    })
    .on('boom', () => {
      throw new Error('handler bug');
    });
}

async function chatServer(): Promise<MultiServer> {
  return startMulti(
    {
      namespaces: {
        chat: { allowSubscribeForClient: true, allowPublishForClient: true, presence: true, historySize: 10, historyTtlMs: 60_000 },
        news: { allowSubscribeForClient: true },
      },
    },
    chatApp,
    (ctx) => {
      if (!ctx.claims) return ctx.decline(401, 'a valid token is required');
      ctx.accept({ assigns: { name: ctx.claims.user.toUpperCase(), extra: ctx.request.query.get('extra') } });
    },
  );
}

async function member(srv: MultiServer, user: string, extra: Record<string, unknown> = {}) {
  const c = pond(srv.pondUrl, { token: await token({ sub: user }), ...extra });
  await connected(c);
  return c;
}

function count(msgs: Recorded[], event: string): number {
  return msgs.filter((m) => m.event === event).length;
}

test('pond: a valid token connects (assigns from the connect handler, form-encoded query decoded); none or a bad one is declined with 401', async () => {
  const srv = await chatServer();
  let seen: Record<string, unknown> | undefined;
  srv.sb.on('connect', (c) => {
    if (c.protocol === 'pond') seen = { ...c.assigns, user: c.user };
  });
  try {
    const ok = await member(srv, 'alice', { extra: 'a b&c=d/é' });
    assert.equal(ok.getState(), ConnectionState.CONNECTED);
    await until(() => seen !== undefined);
    assert.deepEqual(seen, { name: 'ALICE', extra: 'a b&c=d/é', user: 'alice' });

    // Declined: the official client never reaches CONNECTED and reports an error.
    const bad = pond(srv.pondUrl, { token: 'not-a-jwt' });
    const errors: Error[] = [];
    bad.onError((e) => errors.push(e));
    bad.connect();
    await until(() => errors.length > 0, 5000, 'client error');
    assert.notEqual(bad.getState(), ConnectionState.CONNECTED);
    stop(bad);

    // The status itself, as a raw client sees it.
    for (const url of [srv.pondUrl, `${srv.pondUrl}?token=garbage`]) {
      const raw = new RawClient(url);
      await assert.rejects(raw.opened, /HTTP 401/);
    }
  } finally {
    await srv.close();
  }
});

test('pond: join accepted with route and join params, assigns, the reply after ACKNOWLEDGE; declined joins carry status and message', async () => {
  const srv = await chatServer();
  let joinSeen: { params: unknown; data: unknown } | undefined;
  srv.sb.route('/probe/:a/:b', {
    join(ctx) {
      joinSeen = { params: { ...ctx.params }, data: ctx.data };
      ctx.accept();
    },
  });
  try {
    const alice = await member(srv, 'alice');
    const { ch, msgs } = await join(alice, '/chat/room1', { welcome: true, n: 1 });
    assert.equal(ch.channelState, ChannelState.JOINED);
    const w = await waitFor(msgs, 'welcome');
    assert.deepEqual(w.payload, { room: 'room1', params: { welcome: true, n: 1 }, name: 'ALICE' });
    // The app sees ACKNOWLEDGE first (frames before it would be dropped by the client).
    assert.equal(msgs[0]!.event, 'ACKNOWLEDGE');

    const probe = await join(alice, '/probe/x1/y2', { q: 'z' });
    assert.equal(probe.ch.channelState, ChannelState.JOINED);
    assert.deepEqual(joinSeen, { params: { a: 'x1', b: 'y2' }, data: { q: 'z' } });

    // Assigns set at join are visible to later event handlers.
    const ans = (await ch.sendForResponse('ask' as never, { q: 1 } as never)) as unknown;
    assert.deepEqual(ans, { echo: { q: 1 }, by: 'alice', room: 'room1' });

    const locked = await join(alice, '/chat/locked');
    assert.equal(locked.ch.channelState, ChannelState.DECLINED);
    const wrong = await join(alice, '/chat/room2', { password: 'wrong' });
    assert.equal(wrong.ch.channelState, ChannelState.DECLINED);
    const unknown = await join(alice, 'nosuchns:x');
    assert.equal(unknown.ch.channelState, ChannelState.DECLINED);

    // What the decline frames say, on the wire.
    const raw = new RawClient(`${srv.pondUrl}?token=${await token({ sub: 'rawuser' })}`);
    await raw.opened;
    const hello = await raw.next();
    assert.deepEqual({ action: hello['action'], event: hello['event'], channelName: hello['channelName'], payload: hello['payload'] }, {
      action: 'CONNECT',
      event: 'CONNECTION',
      channelName: 'ENDPOINT',
      payload: {},
    });
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['/chat/locked', {}, 403, 'room is locked'],
      ['/chat/room2', { password: 'wrong' }, 401, 'bad password'],
      ['nosuchns:x', {}, 404, 'unknown channel'],
      ['bad channel', {}, 400, 'bad channel name'],
    ];
    for (const [name, payload, statusCode, message] of cases) {
      raw.send({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: name, requestId: `r-${name}`, payload });
      const d = await raw.next((m) => m['channelName'] === name);
      assert.equal(d['action'], 'SYSTEM');
      assert.equal(d['event'], 'UNAUTHORIZED');
      assert.equal(d['requestId'], `r-${name}`);
      const p = d['payload'] as Record<string, unknown>;
      assert.equal(p['statusCode'], statusCode, name);
      assert.equal(p['message'], message, name);
    }
    raw.close();
  } finally {
    await srv.close();
  }
});

test('pond: broadcast, broadcastFrom and broadcastTo reach exactly the right members; replies only the sender', async () => {
  const srv = await chatServer();
  try {
    const [a, b, c] = [await member(srv, 'alice'), await member(srv, 'bob'), await member(srv, 'carol')];
    const A = await join(a, '/chat/r');
    const B = await join(b, '/chat/r');
    const C = await join(c, '/chat/r');
    A.ch.sendMessage('shout' as never, { text: 'all' });
    A.ch.sendMessage('whisper' as never, { text: 'not me' });
    A.ch.sendMessage('dm' as never, { to: ['carol'], text: 'psst' });
    A.ch.sendMessage('ask' as never, { q: 'only me' });
    // A final broadcast to all: once everyone has it, everything before it has arrived (one ordered stream per member).
    A.ch.sendMessage('shout' as never, { text: 'end' });
    for (const M of [A, B, C]) await until(() => M.msgs.some((m) => m.event === 'shout' && m.payload['text'] === 'end'));
    assert.deepEqual(A.msgs.find((m) => m.event === 'shout')?.payload, { from: 'alice', text: 'all' });
    for (const [M, shout, whisper, dm, answer] of [
      [A, 2, 0, 0, 1],
      [B, 2, 1, 0, 0],
      [C, 2, 1, 1, 0],
    ] as const) {
      assert.equal(count(M.msgs, 'shout'), shout);
      assert.equal(count(M.msgs, 'whisper'), whisper);
      assert.equal(count(M.msgs, 'dm'), dm);
      assert.equal(count(M.msgs, 'answer'), answer);
    }
    assert.deepEqual(C.msgs.find((m) => m.event === 'dm')?.payload, { from: 'alice', text: 'psst' });
  } finally {
    await srv.close();
  }
});

test('pond: request/response settles for replies, echoes and refusals; handler errors become ERROR frames', async () => {
  const srv = await chatServer();
  try {
    const a = await member(srv, 'alice');
    const b = await member(srv, 'bob');
    const A = await join(a, '/chat/r');
    await join(b, '/chat/r');
    assert.deepEqual(await A.ch.sendForResponse('ask' as never, { n: 7 } as never), { echo: { n: 7 }, by: 'alice', room: 'r' });
    // broadcast to all: the sender's copy carries its requestId
    assert.deepEqual(await A.ch.sendForResponse('shout' as never, { text: 'x' } as never), { from: 'alice', text: 'x' });
    // a handler that sends the sender nothing (broadcastFrom): an empty `ack` settles the request
    assert.deepEqual(await A.ch.sendForResponse('whisper' as never, { text: 'psst' } as never), {});
    assert.ok(A.msgs.some((m) => m.event === 'ack'));
    // a handler that throws: the sender gets an error frame for its request, the connection stays
    const err = (await A.ch.sendForResponse('boom' as never, {} as never)) as Record<string, unknown>;
    assert.equal(err['code'], 500);
    assert.deepEqual(await A.ch.sendForResponse('ask' as never, { n: 8 } as never), { echo: { n: 8 }, by: 'alice', room: 'r' });

    // [SB] namespace channels: a client broadcast is a publication where the namespace allows it…
    const N = await join(a, 'chat:room1');
    const NB = await join(b, 'chat:room1');
    assert.deepEqual(await N.ch.sendForResponse('hello' as never, { text: 'hi' } as never), { text: 'hi' });
    const got = await waitFor(NB.msgs, 'hello');
    assert.deepEqual(got.payload, { text: 'hi' });
    // …non-object payloads are wrapped…
    N.ch.sendMessage('num' as never, 42 as never);
    assert.deepEqual((await waitFor(NB.msgs, 'num')).payload, { data: 42 });
    // …and refused where it does not, with UNAUTHORIZED_BROADCAST answering the request.
    const RO = await join(a, 'news:today');
    const refused = (await RO.ch.sendForResponse('hello' as never, { text: 'no' } as never)) as Record<string, unknown>;
    assert.equal(refused['code'], 403);
    assert.equal(typeof refused['message'], 'string');
    // Reserved event names are refused, never relayed.
    const reserved = (await N.ch.sendForResponse('UNAUTHORIZED' as never, {} as never)) as Record<string, unknown>;
    assert.equal(reserved['code'], 403);
    assert.equal(NB.ch.channelState, ChannelState.JOINED);
    assert.equal(N.ch.channelState, ChannelState.JOINED);
  } finally {
    await srv.close();
  }
});

test('pond: publications from the app map to events ([SB]) and reach pond members; the client ping is accepted', async () => {
  const srv = await chatServer();
  try {
    const a = pond(srv.pondUrl, { token: await token({ sub: 'alice' }) }, { pingInterval: 30 });
    await connected(a);
    const N = await join(a, 'chat:feed');
    await srv.sb.publish('chat:feed', { event: 'news', payload: { n: 1 } });
    await srv.sb.publish('chat:feed', { text: 'plain' });
    await srv.sb.publish('chat:feed', [1, 2]);
    await srv.sb.publish('chat:feed', { event: 'ACKNOWLEDGE', payload: { sneaky: true } });
    await srv.sb.publish('chat:feed', { event: 'bare' });
    await until(() => N.msgs.filter((m) => m.event !== 'ACKNOWLEDGE').length >= 5);
    const got = N.msgs.filter((m) => m.event !== 'ACKNOWLEDGE');
    assert.deepEqual(got, [
      { event: 'news', payload: { n: 1 } },
      { event: 'message', payload: { text: 'plain' } },
      { event: 'message', payload: { data: [1, 2] } },
      { event: 'message', payload: { event: 'ACKNOWLEDGE', payload: { sneaky: true } } },
      { event: 'bare', payload: {} },
    ]);
    // '*' reaches pond clients on the '*' pseudo-channel.
    const star = await join(a, '*');
    await srv.sb.publish('*', { event: 'maintenance', payload: { at: 'noon' } });
    assert.deepEqual((await waitFor(star.msgs, 'maintenance')).payload, { at: 'noon' });
    // Pings kept flowing all along, and the connection still works: a later publication arrives.
    await srv.sb.publish('*', { event: 'later', payload: {} });
    await waitFor(star.msgs, 'later');
    assert.equal(a.getState(), ConnectionState.CONNECTED);
  } finally {
    await srv.close();
  }
});

test('pond: presence join, update and leave are seen by the other members with the full list', async () => {
  const srv = await chatServer();
  try {
    const a = await member(srv, 'alice');
    const b = await member(srv, 'bob');
    const A = await join(a, '/chat/p');
    const joins: Record<string, unknown>[] = [];
    const leaves: Record<string, unknown>[] = [];
    const changes: { changed: Record<string, unknown>; presence: Record<string, unknown>[] }[] = [];
    A.ch.onJoin((p) => joins.push(p));
    A.ch.onLeave((p) => leaves.push(p));
    A.ch.onPresenceChange((p) => changes.push(p));
    await until(() => presenceOf(A.ch).length === 1, 5000, 'own presence');
    assert.equal(presenceOf(A.ch)[0]!['user'], 'alice');

    const B = await join(b, '/chat/p');
    await until(() => joins.some((j) => j['user'] === 'bob'), 5000, 'bob joined');
    await until(() => presenceOf(A.ch).length === 2 && presenceOf(B.ch).length === 2, 5000, 'both lists');
    const bobEntry = joins.find((j) => j['user'] === 'bob')!;
    assert.equal(typeof bobEntry['client'], 'string');
    assert.deepEqual(bobEntry['chan_info'], { name: 'BOB' });

    assert.deepEqual(await B.ch.sendForResponse('status' as never, { status: 'away' } as never), {});
    await until(() => changes.some((c) => (c.changed['chan_info'] as Record<string, unknown> | undefined)?.['status'] === 'away'), 5000, 'update');
    const bobNow = presenceOf(A.ch).find((p) => p['user'] === 'bob')!;
    assert.deepEqual(bobNow['chan_info'], { status: 'away' });

    B.ch.leave();
    await until(() => leaves.some((l) => l['user'] === 'bob'), 5000, 'bob left');
    await until(() => presenceOf(A.ch).length === 1);
    // After leaving, bob's client gets nothing more on the channel.
    const before = B.msgs.length;
    A.ch.sendMessage('shout' as never, { text: 'after' });
    await waitFor(A.msgs, 'shout');
    assert.equal(B.msgs.length, before);
    // A disconnect is a leave too.
    const carol = await member(srv, 'carol');
    await join(carol, '/chat/p');
    await until(() => presenceOf(A.ch).length === 2);
    stop(carol);
    await until(() => leaves.some((l) => l['user'] === 'carol'), 5000, 'carol gone');
    assert.equal(presenceOf(A.ch).length, 1);
  } finally {
    await srv.close();
  }
});

test('pond: evict removes the user from the channel; it gets kicked_out, the others LEAVE and kicked', async () => {
  const srv = await chatServer();
  try {
    const a = await member(srv, 'alice');
    const b = await member(srv, 'bob');
    const A = await join(a, '/chat/e');
    const B = await join(b, '/chat/e');
    const leaves: Record<string, unknown>[] = [];
    A.ch.onLeave((p) => leaves.push(p));
    await until(() => presenceOf(A.ch).length === 2);
    assert.deepEqual(await A.ch.sendForResponse('kick' as never, { user: 'bob' } as never), {});
    const k = await waitFor(B.msgs, 'kicked_out');
    assert.equal(k.payload['message'], 'behave');
    await until(() => B.ch.channelState === ChannelState.DECLINED, 5000, 'bob declined');
    await until(() => leaves.some((l) => l['user'] === 'bob'), 5000, 'leave seen');
    const kicked = await waitFor(A.msgs, 'kicked');
    assert.deepEqual(kicked.payload, { userId: 'bob', reason: 'behave' });
    assert.equal(srv.sb.getConnection([...srv.sb.connections()].find((c) => c.user === 'bob')!.id)!.isSubscribed('/chat/e'), false);
  } finally {
    await srv.close();
  }
});

test('pond: malformed frames get ERROR/INVALID_MESSAGE and the connection keeps working', async () => {
  const srv = await chatServer();
  try {
    const raw = new RawClient(`${srv.pondUrl}?token=${await token({ sub: 'raw' })}`);
    await raw.opened;
    await raw.next((m) => m['event'] === 'CONNECTION');
    for (const bad of ['{nope', '[1,2]', JSON.stringify({ action: 'JOIN_CHANNEL', channelName: 'chat:x' }), JSON.stringify({ action: 'FLY', channelName: 'chat:x', requestId: 'q', event: 'e', payload: {} })]) {
      raw.send(bad);
      const e = await raw.next((m) => m['action'] === 'ERROR');
      assert.equal(e['event'], 'INVALID_MESSAGE');
      assert.equal(typeof e['requestId'], 'string');
      assert.equal(typeof (e['payload'] as Record<string, unknown>)['message'], 'string');
    }
    raw.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await raw.next((m) => m['event'] === 'INVALID_MESSAGE');
    raw.send({ action: 'ping' });
    raw.send({ action: 'BROADCAST', channelName: 'chat:x', requestId: 'nm', event: 'hi', payload: {} });
    const notMember = await raw.next((m) => m['requestId'] === 'nm');
    assert.equal(notMember['event'], 'UNAUTHORIZED_BROADCAST');
    raw.send({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: 'chat:x', requestId: 'j1', payload: {} });
    const ack = await raw.next((m) => m['event'] === 'ACKNOWLEDGE');
    assert.equal(ack['channelName'], 'chat:x');
    raw.send({ action: 'LEAVE_CHANNEL', event: 'LEAVE_CHANNEL', channelName: 'never-joined', requestId: 'l1', payload: {} });
    raw.send({ action: 'BROADCAST', channelName: 'chat:x', requestId: 'b1', event: 'hi', payload: { ok: 1 } });
    const echo = await raw.next((m) => m['requestId'] === 'b1');
    assert.deepEqual(echo['payload'], { ok: 1 });
    assert.equal(raw.closed, undefined);
    raw.close();
  } finally {
    await srv.close();
  }
});


test('pond: after a server-side close the client reconnects and its rejoin is a fresh join (ACKNOWLEDGE, presence, reply again)', async () => {
  const srv = await chatServer();
  try {
    const a = await member(srv, 'alice');
    const b = await member(srv, 'bob');
    const A = await join(a, '/chat/re');
    const B = await join(b, '/chat/re');
    await until(() => presenceOf(A.ch).length === 2);
    const firstClient = [...srv.sb.connections()].find((c) => c.user === 'bob')!.id;
    await srv.sb.disconnectUser({ user: 'bob' }, Disconnects.forceReconnect);
    // bob's client comes back by itself and rejoins with a new connection (new client id).
    await until(() => B.msgs.filter((m) => m.event === 'welcome').length === 2, 10_000, 'second welcome');
    assert.equal(B.msgs.filter((m) => m.event === 'ACKNOWLEDGE').length, 2);
    assert.equal(B.ch.channelState, ChannelState.JOINED);
    await until(() => presenceOf(A.ch).length === 2 && presenceOf(A.ch).every((p) => p['client'] !== firstClient), 5000, 'fresh presence');
    B.ch.sendMessage('shout' as never, { text: 'back' });
    await until(() => A.msgs.some((m) => m.event === 'shout' && m.payload['text'] === 'back'), 5000, 'message after rejoin');
  } finally {
    await srv.close();
  }
});

test('pond: frames sent before the connection is registered wait for it and keep their order', async () => {
  const srv = await chatServer();
  try {
    const raw = new RawClient(`${srv.pondUrl}?token=${await token({ sub: 'early' })}`);
    raw.ws.once('open', () => {
      raw.send({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: 'chat:early', requestId: 'j', payload: {} });
      raw.send({ action: 'BROADCAST', event: 'hi', channelName: 'chat:early', requestId: 'b', payload: { n: 1 } });
    });
    await raw.opened;
    const first = await raw.next();
    assert.equal(first['event'], 'CONNECTION');
    assert.equal((await raw.next())['event'], 'ACKNOWLEDGE');
    await raw.next((m) => m['requestId'] === 'b' && m['event'] === 'hi');
    raw.close();
  } finally {
    await srv.close();
  }
});

test('pond and plain: liveness by WebSocket pings; a peer that never answers is closed, the official client stays', async () => {
  // pings every 200 ms; a peer gets 1.5 s to answer (a live client on a loaded machine must not miss it)
  const srv = await startMulti({ pingIntervalMs: 200, pongTimeoutMs: 1500, namespaces: { chat: { allowSubscribeForClient: true } } });
  try {
    const ok = pond(srv.pondUrl, { token: await token({ sub: 'live' }) });
    await connected(ok);
    const J = await join(ok, 'chat:live');
    const deadPond = new RawClient(`${srv.pondUrl}?token=${await token({ sub: 'dead1' })}`, { autoPong: false });
    const deadPlain = new RawClient(`${srv.plainUrl}?token=${await token({ sub: 'dead2' })}`, { autoPong: false });
    const livePlain = new RawClient(`${srv.plainUrl}?token=${await token({ sub: 'live2' })}`);
    await Promise.all([deadPond.opened, deadPlain.opened, livePlain.opened]);
    await deadPond.waitClose(15_000);
    await deadPlain.waitClose(15_000);
    assert.equal(livePlain.closed, undefined);
    assert.equal(ok.getState(), ConnectionState.CONNECTED);
    await srv.sb.publish('chat:live', { event: 'still', payload: {} });
    await waitFor(J.msgs, 'still');
    livePlain.close();
  } finally {
    await srv.close();
  }
});
