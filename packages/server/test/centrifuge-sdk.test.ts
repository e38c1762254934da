import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Centrifuge, UnauthorizedError } from 'centrifuge';
import { Disconnects, ReplyError } from '../src/index.js';
import { once, RawClient, sdk, startServer, token, until, type TestServer, SDK_CHAT_NAMESPACE } from './helpers.js';

const namespaces = {
  chat: SDK_CHAT_NAMESPACE,
  news: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 300_000, forceRecovery: true },
  tiny: { allowSubscribeForClient: true, historySize: 2, historyTtlMs: 300_000, forceRecovery: true },
  readonly: { allowSubscribeForClient: true },
  secret: {},
};

type Pub = { data: unknown; offset?: number };

describe('the official centrifuge SDK against a Switchboard node', () => {
  let srv: TestServer;
  const clients: Centrifuge[] = [];
  const client = async (opts: Parameters<typeof sdk>[1] = {}, user = '42'): Promise<Centrifuge> => {
    const c = sdk(srv.url, { token: await token({ sub: user, info: { name: `user-${user}` } }), ...opts });
    clients.push(c);
    return c;
  };
  const connected = async (c: Centrifuge) => {
    const p = once<{ client: string }>(c, 'connected');
    c.connect();
    return p;
  };
  const subscribed = async (c: Centrifuge, channel: string, opts = {}) => {
    const sub = c.newSubscription(channel, opts);
    const p = once<Record<string, unknown>>(sub, 'subscribed');
    sub.subscribe();
    return { sub, ctx: await p };
  };

  before(async () => {
    srv = await startServer({ namespaces, expiredCloseDelayMs: 1500 }, (sb) => {
      sb.rpc('getProfile', async (ctx) => ({ name: 'Bob', asked: ctx.data, by: ctx.client.user }));
      sb.rpc('fail', async () => {
        throw new ReplyError(4001, 'custom failure');
      });
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  test('a client with a valid token connects and learns its client id', async () => {
    const c = await client();
    const ctx = await connected(c);
    assert.match(ctx.client, /^[0-9a-f-]{36}$/);
    assert.equal(srv.sb.getConnection(ctx.client)?.user, '42');
  });

  test('an invalid token ends in a disconnect and the SDK does not try again', async () => {
    // Both clients reconnect after exactly 50 ms (min = max delay), so a retry would be due long before the control below finishes.
    const backoff = { minReconnectDelay: 50, maxReconnectDelay: 50 };
    const c = sdk(srv.url, { token: await token({ sub: '42' }, { secret: 'another-key' }), ...backoff });
    clients.push(c);
    let connecting = 0;
    c.on('connecting', () => connecting++);
    const refusedBefore = srv.sb.stats.disconnects.get(Disconnects.invalidToken.code) ?? 0;
    const d = once<{ code: number }>(c, 'disconnected');
    c.connect();
    const ctx = await d;
    assert.equal(ctx.code, Disconnects.invalidToken.code);
    await until(() => (srv.sb.stats.disconnects.get(Disconnects.invalidToken.code) ?? 0) === refusedBefore + 1, 5000, 'the server to count the refusal');
    // Positive event instead of a sleep: a control client with the same backoff drops its transport
    // three times and reconnects each time (each cycle at least 50 ms after the previous one).
    const control = await client(backoff);
    let id = (await connected(control)).client;
    for (let i = 0; i < 3; i++) {
      const again = once<{ client: string }>(control, 'connected');
      srv.sb.liveConnection(id)!.transport.terminate();
      id = (await again).client;
    }
    assert.equal(c.state, 'disconnected');
    assert.equal(connecting, 1, 'only the first connect attempt');
    assert.equal(srv.sb.stats.disconnects.get(Disconnects.invalidToken.code) ?? 0, refusedBefore + 1, 'the server saw no second attempt');
  });

  test('a subscriber receives server publications in order with their offsets', async () => {
    const c = await client();
    await connected(c);
    const { sub, ctx } = await subscribed(c, 'news:a');
    assert.equal(ctx['recoverable'], true);
    assert.equal(ctx['positioned'], true);
    const got: Pub[] = [];
    sub.on('publication', (p) => got.push(p as Pub));
    for (let i = 1; i <= 3; i++) await srv.sb.publish('news:a', { n: i });
    await until(() => got.length === 3);
    assert.deepEqual(got.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3]);
  });

  test('a subscribe reply carries the epoch even for a channel with no publications yet', async () => {
    const c = await client();
    await connected(c);
    const { ctx } = await subscribed(c, 'news:empty');
    const sp = ctx['streamPosition'] as { epoch: string; offset: number };
    assert.ok(sp.epoch.length > 0);
    assert.equal(sp.offset, 0);
  });

  test('client publish reaches subscribers where allowed; error 103 where not', async () => {
    const a = await client({}, 'alice');
    const b = await client({}, 'bob');
    await connected(a);
    await connected(b);
    const { sub: sa } = await subscribed(a, 'chat:room1');
    const { sub: sb2 } = await subscribed(b, 'chat:room1');
    const got = once<Pub & { info?: { user: string } }>(sb2, 'publication');
    await sa.publish({ text: 'hello' });
    const p = await got;
    assert.deepEqual(p.data, { text: 'hello' });
    assert.equal(p.info?.user, 'alice');
    const { sub: ro } = await subscribed(a, 'readonly:x');
    await assert.rejects(ro.publish({ text: 'no' }), (e: { code: number }) => e.code === 103);
  });

  test('presence and presence stats list two clients', async () => {
    const a = await client({}, 'p1');
    const b = await client({}, 'p2');
    const ida = (await connected(a)).client;
    const idb = (await connected(b)).client;
    const { sub } = await subscribed(a, 'chat:presence');
    await subscribed(b, 'chat:presence');
    const pr = await sub.presence();
    assert.deepEqual(Object.keys(pr.clients).sort(), [ida, idb].sort());
    assert.equal(pr.clients[ida]!.user, 'p1');
    assert.deepEqual(pr.clients[ida]!.connInfo, { name: 'user-p1' });
    const st = await sub.presenceStats();
    assert.deepEqual(st, { numClients: 2, numUsers: 2 });
  });

  test('history returns publications with offsets, limits and since', async () => {
    const c = await client();
    await connected(c);
    const { sub } = await subscribed(c, 'chat:hist');
    for (let i = 1; i <= 5; i++) await srv.sb.publish('chat:hist', { i });
    const top = await sub.history({ limit: 0 });
    assert.equal(top.publications.length, 0);
    assert.equal(top.offset, 5);
    const all = await sub.history({ limit: -1 });
    assert.deepEqual(all.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
    const since = await sub.history({ limit: 10, since: { offset: 3, epoch: top.epoch } });
    assert.deepEqual(since.publications.map((p) => p.data), [{ i: 4 }, { i: 5 }]);
    const rev = await sub.history({ limit: 2, reverse: true });
    assert.deepEqual(rev.publications.map((p) => p.offset), [5, 4]);
    await assert.rejects(sub.history({ limit: 10, since: { offset: 1, epoch: 'wrong' } }), (e: { code: number }) => e.code === 112);
  });

  test('a client whose connection drops while three publications happen gets all three in order after it reconnects, recovered', async () => {
    const c = await client({ minReconnectDelay: 400, maxReconnectDelay: 600 });
    const id = (await connected(c)).client;
    const { sub } = await subscribed(c, 'news:recover');
    await srv.sb.publish('news:recover', { n: 0 });
    const got: Pub[] = [];
    sub.on('publication', (p) => got.push(p as Pub));
    await until(() => got.length === 1);
    const resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
    const dropped = once(c, 'connecting');
    srv.sb.liveConnection(id)!.transport.terminate();
    await dropped;
    for (let i = 1; i <= 3; i++) await srv.sb.publish('news:recover', { n: i });
    const ctx = await resubscribed;
    assert.equal(ctx['wasRecovering'], true);
    assert.equal(ctx['recovered'], true);
    await until(() => got.length === 4);
    assert.deepEqual(got.map((p) => (p.data as { n: number }).n), [0, 1, 2, 3]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4]);
  });

  test('when history was trimmed meanwhile, the client is told recovered false', async () => {
    const c = await client({ minReconnectDelay: 400, maxReconnectDelay: 600 });
    const id = (await connected(c)).client;
    const { sub } = await subscribed(c, 'tiny:x');
    await srv.sb.publish('tiny:x', { n: 0 });
    await until(async () => (await srv.sb.history('tiny:x', { limit: 0 })).position.offset === 1);
    const resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
    const dropped = once(c, 'connecting');
    srv.sb.liveConnection(id)!.transport.terminate();
    await dropped;
    for (let i = 1; i <= 3; i++) await srv.sb.publish('tiny:x', { n: i });
    const ctx = await resubscribed;
    assert.equal(ctx['wasRecovering'], true);
    assert.equal(ctx['recovered'], false);
  });

  test('join and leave events reach subscribers who asked for them', async () => {
    const a = await client({}, 'watcher');
    await connected(a);
    const { sub } = await subscribed(a, 'chat:jl', { joinLeave: true });
    const joins: { info: { user: string } }[] = [];
    const leaves: { info: { user: string } }[] = [];
    sub.on('join', (j) => joins.push(j as never));
    sub.on('leave', (l) => leaves.push(l as never));
    const b = await client({}, 'visitor');
    await connected(b);
    const { sub: sb2 } = await subscribed(b, 'chat:jl');
    await until(() => joins.some((j) => j.info.user === 'visitor'));
    sb2.unsubscribe();
    await until(() => leaves.some((l) => l.info.user === 'visitor'));
  });

  test('RPC reaches the app handler and returns its result; unknown methods get 104; handler errors keep their code', async () => {
    const c = await client();
    await connected(c);
    const r = await c.rpc('getProfile', { id: 17 });
    assert.deepEqual(r.data, { name: 'Bob', asked: { id: 17 }, by: '42' });
    await assert.rejects(c.rpc('nope', {}), (e: { code: number }) => e.code === 104);
    await assert.rejects(c.rpc('fail', {}), (e: { code: number; message: string }) => e.code === 4001 && e.message === 'custom failure');
  });

  test('a connection with 2-second tokens stays connected through several refreshes', async () => {
    let issued = 0;
    const c = sdk(srv.url, {
      getToken: async () => {
        issued++;
        return token({ sub: 'refresher' }, { expiresIn: 2 });
      },
    });
    clients.push(c);
    let disconnects = 0;
    c.on('disconnected', () => disconnects++);
    c.on('connecting', (ctx) => {
      if (issued > 0 && ctx.code !== 0) disconnects++;
    });
    await connected(c);
    await until(() => issued >= 4, 12_000, 'three refreshes');
    assert.equal(c.state, 'connected');
    assert.equal(disconnects, 0);
  });

  test('a connection whose token is not refreshed is closed with 3005 after the grace period', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'stale' }, { expiresIn: 3 }), name: 'raw' } });
    const reply = await raw.next((m) => m['id'] === 1);
    assert.equal((reply['connect'] as { expires: boolean }).expires, true);
    // no refresh is sent: after ttl + grace the server closes with "connection expired" (reconnect, then 109 on connect)
    const closed = await raw.waitClose(10_000);
    assert.equal(closed.code, Disconnects.expired.code);
    assert.equal(closed.reason, 'connection expired');
  });

  test('a subscription token is refreshed before it expires and the subscription stays', async () => {
    const c = await client({}, 'subber');
    await connected(c);
    let issued = 0;
    const sub = c.newSubscription('secret:room', {
      getToken: async (ctx) => {
        issued++;
        return token({ sub: 'subber', channel: ctx.channel }, { expiresIn: 2 });
      },
    });
    const p = once(sub, 'subscribed');
    sub.subscribe();
    await p;
    await until(() => issued >= 3, 12_000, 'two sub refreshes');
    assert.equal(sub.state, 'subscribed');
    const got = once<Pub>(sub, 'publication');
    await srv.sb.publish('secret:room', { still: 'here' });
    assert.deepEqual((await got).data, { still: 'here' });
  });

  test('a namespace without client subscribe refuses a tokenless subscribe with 103; an unknown namespace gives 102', async () => {
    const c = await client();
    await connected(c);
    const s1 = c.newSubscription('secret:x');
    const u1 = once<{ code: number }>(s1, 'unsubscribed');
    s1.subscribe();
    assert.equal((await u1).code, 103);
    const s2 = c.newSubscription('nosuchns:x');
    const u2 = once<{ code: number }>(s2, 'unsubscribed');
    s2.subscribe();
    assert.equal((await u2).code, 102);
  });

  test('a server-side disconnect that asks to reconnect is followed by a reconnect', async () => {
    const c = await client({}, 'bouncer');
    await connected(c);
    const reconnecting = once<{ code: number }>(c, 'connecting');
    await srv.sb.disconnectUser({ user: 'bouncer' }, Disconnects.forceReconnect);
    assert.equal((await reconnecting).code, Disconnects.forceReconnect.code);
    await once(c, 'connected');
  });

  test('a server-side disconnect that does not ask to reconnect leaves the client disconnected', async () => {
    const c = await client({}, 'banned');
    await connected(c);
    const d = once<{ code: number; reason: string }>(c, 'disconnected');
    await srv.sb.disconnectUser({ user: 'banned' });
    const ctx = await d;
    assert.equal(ctx.code, 3503);
    assert.equal(ctx.reason, 'force disconnect');
  });

  test('server-side subscriptions from the token reach the client as client-level publications', async () => {
    const c = sdk(srv.url, { token: await token({ sub: 'srv', channels: ['news:server-side'] }) });
    clients.push(c);
    const subscribedEv = once<{ channel: string }>(c, 'subscribed');
    await connected(c);
    assert.equal((await subscribedEv).channel, 'news:server-side');
    const pub = once<{ channel: string; data: unknown }>(c, 'publication');
    await srv.sb.publish('news:server-side', { hello: 'server' });
    const p = await pub;
    assert.equal(p.channel, 'news:server-side');
    assert.deepEqual(p.data, { hello: 'server' });
  });

  test('a publication to * reaches every connection as an async message', async () => {
    const c = await client();
    await connected(c);
    const m = once<{ data: unknown }>(c, 'message');
    await srv.sb.publish('*', { notice: 'maintenance' });
    assert.deepEqual((await m).data, { notice: 'maintenance' });
  });

  test('getToken refusing with UnauthorizedError ends as disconnected', async () => {
    const c = sdk(srv.url, {
      getToken: async () => {
        throw new UnauthorizedError('no session');
      },
    });
    clients.push(c);
    const d = once(c, 'disconnected');
    c.connect();
    await d;
    assert.equal(c.state, 'disconnected');
  });
});
