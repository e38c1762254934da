import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyError } from '../src/index.js';
import { RawClient, token } from './helpers.js';
import { startMulti, type MultiServer } from './pond-helpers.js';

async function plainServer(options: Parameters<typeof startMulti>[0] = {}): Promise<MultiServer> {
  return startMulti(
    {
      allowAnonymous: true,
      limits: { maxMessageSize: 4096 },
      namespaces: {
        chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true, historySize: 10, historyTtlMs: 60_000, presence: true, allowPresenceForSubscriber: true, allowHistoryForSubscriber: true },
        members: { allowSubscribeForClient: true },
        open: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true },
      },
      ...options,
    },
    (sb) => {
      sb.rpc('add', (ctx) => {
        const d = ctx.data as { a: number; b: number };
        return { sum: d.a + d.b, user: ctx.client.user };
      });
      sb.rpc('fail', () => {
        throw new ReplyError(1400, 'nope');
      });
      sb.rpc('crash', () => {
        throw new Error('bug');
      });
    },
  );
}

async function client(srv: MultiServer, user?: string): Promise<RawClient> {
  const c = new RawClient(user === undefined ? srv.plainUrl : `${srv.plainUrl}?token=${await token({ sub: user })}`);
  await c.opened;
  const hello = await c.next((m) => m['type'] === 'connected');
  assert.equal(hello['user'], user ?? '');
  return c;
}

test('plain: subscribe, receive (event and non-event data), unsubscribe', async () => {
  const srv = await plainServer();
  try {
    const c = await client(srv, 'alice');
    c.send({ type: 'subscribe', channel: 'chat:room', id: 1 });
    assert.deepEqual(await c.next(), { type: 'subscribed', channel: 'chat:room', id: 1 });
    await srv.sb.publish('chat:room', { event: 'news', payload: { n: 1 } });
    await srv.sb.publish('chat:room', { text: 'plain' });
    await srv.sb.publish('chat:room', { event: 'error', payload: { sneaky: true } });
    const a = await c.next((m) => m['channel'] === 'chat:room');
    assert.equal(a['type'], 'news');
    assert.deepEqual(a['data'], { n: 1 });
    assert.equal(a['offset'], 1);
    const b = await c.next((m) => m['channel'] === 'chat:room');
    assert.equal(b['type'], 'publication');
    assert.deepEqual(b['data'], { text: 'plain' });
    // An event named like a control frame never masquerades as one.
    const e = await c.next((m) => m['channel'] === 'chat:room');
    assert.equal(e['type'], 'publication');
    assert.deepEqual(e['data'], { event: 'error', payload: { sneaky: true } });

    c.send({ type: 'unsubscribe', channel: 'chat:room', id: 'u' });
    assert.deepEqual(await c.next(), { type: 'unsubscribed', channel: 'chat:room', id: 'u' });
    await srv.sb.publish('chat:room', { text: 'after' });
    c.send({ type: 'ping', id: 9 });
    // pong arrives, and nothing from the channel before it
    assert.deepEqual(await c.next(), { type: 'pong', id: 9 });
    assert.equal(c.messages.length, 0);
    c.close();
  } finally {
    await srv.close();
  }
});

test("plain: a publication to '*' reaches every connection, subscribed or not", async () => {
  const srv = await plainServer();
  try {
    const a = await client(srv, 'alice');
    const b = await client(srv);
    a.send({ type: 'subscribe', channel: 'chat:x' });
    await a.next((m) => m['type'] === 'subscribed');
    await srv.sb.publish('*', { event: 'maintenance', payload: { at: 'noon' } });
    for (const c of [a, b]) {
      const m = await c.next((x) => x['channel'] === '*');
      assert.equal(m['type'], 'maintenance');
      assert.deepEqual(m['data'], { at: 'noon' });
    }
    a.close();
    b.close();
  } finally {
    await srv.close();
  }
});

test('plain: actions are routed to rpc handlers and answered with the same id; errors are coded', async () => {
  const srv = await plainServer();
  try {
    const c = await client(srv, 'bob');
    c.send({ action: 'add', data: { a: 2, b: 3 }, id: 'x1' });
    assert.deepEqual(await c.next(), { type: 'reply', action: 'add', id: 'x1', data: { sum: 5, user: 'bob' } });
    c.send({ action: 'add', data: { a: 1, b: 1 } });
    assert.deepEqual(await c.next(), { type: 'reply', action: 'add', data: { sum: 2, user: 'bob' } });
    c.send({ action: 'nope', id: 2 });
    const nf = await c.next();
    assert.equal(nf['type'], 'error');
    assert.equal(nf['code'], 104);
    assert.equal(nf['id'], 2);
    c.send({ action: 'fail', id: 3 });
    assert.deepEqual(await c.next(), { type: 'error', code: 1400, message: 'nope', id: 3, action: 'fail' });
    c.send({ action: 'crash', id: 4 });
    const crash = await c.next();
    assert.equal(crash['code'], 100);
    assert.equal(crash['id'], 4);
    c.close();
  } finally {
    await srv.close();
  }
});

test('plain: every kind of bad input gets an error frame; the connection and the others keep working', async () => {
  const srv = await plainServer();
  try {
    const c = await client(srv, 'carol');
    const other = await client(srv, 'dave');
    other.send({ type: 'subscribe', channel: 'chat:room' });
    await other.next((m) => m['type'] === 'subscribed');
    const cases: [string, number, RegExp][] = [
      ['{not json', 107, /invalid JSON/],
      ['[1,2,3]', 107, /JSON object/],
      ['"str"', 107, /JSON object/],
      [JSON.stringify({ type: 'dance' }), 107, /unknown type: dance/],
      [JSON.stringify({ type: 7 }), 107, /type must be a string/],
      [JSON.stringify({ hello: 1 }), 107, /missing field: type/],
      [JSON.stringify({ type: 'subscribe' }), 107, /missing field: channel/],
      [JSON.stringify({ type: 'subscribe', channel: 'bad channel' }), 107, /bad channel name/],
      [JSON.stringify({ type: 'subscribe', channel: 'nosuch:x' }), 102, /unknown channel/],
      [JSON.stringify({ type: 'publish', channel: 'chat:room' }), 107, /missing field: data/],
      [JSON.stringify({ type: 'publish', channel: 'chat:room', data: { x: 1 } }), 103, /permission denied/],
      [JSON.stringify({ action: 42 }), 107, /action must be/],
      [JSON.stringify({ action: 'add', id: { no: 1 } }), 107, /id must be/],
    ];
    for (const [frame, code, message] of cases) {
      c.send(frame);
      const e = await c.next();
      assert.equal(e['type'], 'error', frame);
      assert.equal(e['code'], code, frame);
      assert.match(String(e['message']), message, frame);
    }
    c.ws.send(Buffer.from([0, 1, 2]), { binary: true });
    assert.match(String((await c.next())['message']), /binary/);
    c.send({ type: 'subscribe', channel: 'chat:room', id: 'ok' });
    assert.deepEqual(await c.next(), { type: 'subscribed', channel: 'chat:room', id: 'ok' });
    c.send({ type: 'subscribe', channel: 'chat:room', id: 'again' });
    assert.equal((await c.next())['code'], 105);
    // Now a subscriber: publishing is allowed (allowPublishForSubscriber) and reaches both.
    c.send({ type: 'publish', channel: 'chat:room', data: { text: 'still here' }, id: 'p' });
    const ack = await c.next((m) => m['type'] === 'published');
    assert.equal(ack['id'], 'p');
    for (const x of [c, other]) assert.deepEqual((await x.next((m) => m['channel'] === 'chat:room'))['data'], { text: 'still here' });
    assert.equal(c.closed, undefined);

    // Oversized frames: ws closes the connection with 1009 (documented); the others are unaffected.
    c.send(JSON.stringify({ type: 'publish', channel: 'chat:room', data: 'x'.repeat(5000) }));
    assert.equal((await c.waitClose()).code, 1009);
    await srv.sb.publish('chat:room', { text: 'others fine' });
    assert.deepEqual((await other.next((m) => m['channel'] === 'chat:room'))['data'], { text: 'others fine' });
    other.close();
  } finally {
    await srv.close();
  }
});

test('plain: namespace rules and anonymous access are the same as for the native protocol', async () => {
  const srv = await plainServer();
  try {
    const anon = await client(srv);
    anon.send({ type: 'subscribe', channel: 'members:x', id: 1 });
    assert.equal((await anon.next())['code'], 103);
    anon.send({ type: 'subscribe', channel: 'open:x', id: 2 });
    assert.equal((await anon.next())['type'], 'subscribed');
    anon.close();
    const user = await client(srv, 'erin');
    user.send({ type: 'subscribe', channel: 'members:x', id: 3 });
    assert.equal((await user.next())['type'], 'subscribed');
    user.close();
    // A bad token is refused at the upgrade, even where anonymous connections are allowed.
    await assert.rejects(new RawClient(`${srv.plainUrl}?token=garbage`).opened, /HTTP 401/);
  } finally {
    await srv.close();
  }
  const closed = await plainServer({ allowAnonymous: false });
  try {
    await assert.rejects(new RawClient(closed.plainUrl).opened, /HTTP 401/);
    const ok = await client(closed, 'frank');
    ok.close();
  } finally {
    await closed.close();
  }
});

test('plain: frames sent at once on open wait for the connection to be registered and keep their order', async () => {
  const srv = await plainServer();
  try {
    const c = new RawClient(`${srv.plainUrl}?token=${await token({ sub: 'quick' })}`);
    c.ws.once('open', () => {
      c.send({ type: 'subscribe', channel: 'chat:q', id: 1 });
      c.send({ type: 'publish', channel: 'chat:q', data: { n: 1 }, id: 2 });
    });
    await c.opened;
    assert.equal((await c.next())['type'], 'connected');
    assert.deepEqual(await c.next(), { type: 'subscribed', channel: 'chat:q', id: 1 });
    assert.deepEqual((await c.next((m) => m['channel'] === 'chat:q' && m['type'] === 'publication'))['data'], { n: 1 });
    assert.equal((await c.next((m) => m['id'] === 2))['type'], 'published');
    c.close();
  } finally {
    await srv.close();
  }
});

test('plain: presence and history of a channel, under the namespace permissions', async () => {
  const srv = await plainServer();
  try {
    const a = await client(srv, 'alice');
    const b = await client(srv, 'bob');
    a.send({ type: 'presence', channel: 'chat:h', id: 0 });
    assert.equal((await a.next())['code'], 103); // not a subscriber yet
    for (const c of [a, b]) {
      c.send({ type: 'subscribe', channel: 'chat:h' });
      await c.next((m) => m['type'] === 'subscribed');
    }
    a.send({ type: 'presence', channel: 'chat:h', id: 1 });
    const p = await a.next((m) => m['id'] === 1);
    assert.equal(p['type'], 'presence');
    assert.deepEqual((p['data'] as { user: string }[]).map((e) => e.user).sort(), ['alice', 'bob']);
    await srv.sb.publish('chat:h', { event: 'e1', payload: { n: 1 } });
    await srv.sb.publish('chat:h', { n: 2 });
    a.send({ type: 'history', channel: 'chat:h', limit: 10, id: 2 });
    const h = await a.next((m) => m['id'] === 2);
    assert.equal(h['offset'], 2);
    assert.equal(typeof h['epoch'], 'string');
    assert.deepEqual(
      (h['data'] as Record<string, unknown>[]).map((x) => [x['type'], x['data'], x['offset']]),
      [
        ['e1', { n: 1 }, 1],
        ['publication', { n: 2 }, 2],
      ],
    );
    a.send({ type: 'history', channel: 'chat:h', limit: 'x', id: 3 });
    assert.equal((await a.next((m) => m['id'] === 3))['code'], 107);
    a.send({ type: 'history', channel: 'members:h', id: 4 });
    assert.equal((await a.next((m) => m['id'] === 4))['code'], 108); // no history kept there
    a.close();
    b.close();
  } finally {
    await srv.close();
  }
});
