import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import { createSwitchboard } from '../src/index.js';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';
import { startHttpServer, StreamReader } from './http-transport-helpers.js';

/**
 * Cache recovery mode (`forceRecoveryMode: 'cache'`, Centrifugo's `force_recovery_mode: "cache"`)
 * with the official SDK: a subscriber that recovers (`since: {}` on its first subscribe, every
 * resubscribe) gets the channel's latest publication, instead of the whole stream; with
 * `autoCacheRecover` (Centrifugo's `auto_cache_recover`) every subscribe does, server-side ones too.
 */
describe('cache recovery mode with the official SDK', () => {
  let srv: TestServer;
  const clients: Centrifuge[] = [];
  before(async () => {
    srv = await startServer({
      namespaces: {
        state: { allowSubscribeForClient: true, historySize: 1, historyTtlMs: 300_000, forceRecoveryMode: 'cache' },
        auto: { allowSubscribeForClient: true, historySize: 1, historyTtlMs: 300_000, forceRecovery: true, forceRecoveryMode: 'cache', autoCacheRecover: true },
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });
  const client = async (user: string, opts = {}) => {
    const c = sdk(srv.url, { token: await token({ sub: user }), ...opts });
    clients.push(c);
    const ids: string[] = [];
    c.on('connected', (ctx) => ids.push(ctx.client));
    const p = once(c, 'connected');
    c.connect();
    await p;
    /** The current connection's id on the server. */
    return { c, id: () => ids[ids.length - 1]! };
  };

  test('a new subscriber asking to recover (since: {}) gets the latest publication first, then live ones; an empty channel gives nothing', async () => {
    for (let i = 1; i <= 3; i++) await srv.sb.publish('state:now-playing', { song: i });
    const { c } = await client('listener');
    const sub = c.newSubscription('state:now-playing', { since: {} });
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const ok = once<{ recoverable: boolean }>(sub, 'subscribed');
    sub.subscribe();
    assert.equal((await ok).recoverable, true);
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ song: 3 }]);
    await srv.sb.publish('state:now-playing', { song: 4 });
    await until(() => got.length === 2);
    assert.deepEqual(got, [{ song: 3 }, { song: 4 }]);

    const empty = c.newSubscription('state:empty', { since: {} });
    const emptyGot: unknown[] = [];
    empty.on('publication', (p) => emptyGot.push(p.data));
    const ok2 = once(empty, 'subscribed');
    empty.subscribe();
    await ok2;
    await srv.sb.publish('state:empty', { first: true });
    await until(() => emptyGot.length === 1);
    assert.deepEqual(emptyGot, [{ first: true }]);
  });

  test('without since (and without autoCacheRecover) a first subscribe gets no publication, as in Centrifugo', async () => {
    await srv.sb.publish('state:quiet', { v: 1 });
    const { c } = await client('quiet');
    const sub = c.newSubscription('state:quiet');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const ok = once<Record<string, unknown>>(sub, 'subscribed');
    sub.subscribe();
    const ctx = await ok;
    assert.equal(ctx['recoverable'], true);
    assert.equal(ctx['wasRecovering'], false);
    await srv.sb.publish('state:quiet', { v: 2 });
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ v: 2 }], 'only the live publication');
  });

  test('autoCacheRecover: a first subscribe without since gets the latest; server-side subscriptions get it at connect and from subscribeUser', async () => {
    await srv.sb.publish('auto:score', { goals: 7 });
    await srv.sb.publish('auto:token', { from: 'token channel' });
    await srv.sb.publish('auto:api', { from: 'api' });
    // client-side, no since
    const { c } = await client('auto-client');
    const sub = c.newSubscription('auto:score');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const ok = once<Record<string, unknown>>(sub, 'subscribed');
    sub.subscribe();
    assert.equal((await ok)['wasRecovering'], true);
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ goals: 7 }]);
    // server-side: a token `channels` claim at connect, then subscribeUser at runtime
    const server: { channel: string; data: unknown }[] = [];
    const s = sdk(srv.url, { token: await token({ sub: 'auto-server', channels: ['auto:token'] }) });
    clients.push(s);
    s.on('publication', (ctx) => server.push({ channel: ctx.channel, data: ctx.data }));
    const connected = once(s, 'connected');
    s.connect();
    await connected;
    await until(() => server.length === 1, 5000, 'the latest of the token channel');
    const subscribed = once(s, 'subscribed');
    await srv.sb.subscribeUser({ user: 'auto-server' }, 'auto:api');
    await subscribed;
    await until(() => server.length === 2, 5000, 'the latest of the API-subscribed channel');
    await srv.sb.publish('auto:api', { live: true });
    await until(() => server.length === 3, 5000, 'a live publication');
    assert.deepEqual(server, [
      { channel: 'auto:token', data: { from: 'token channel' } },
      { channel: 'auto:api', data: { from: 'api' } },
      { channel: 'auto:api', data: { live: true } },
    ]);
  });

  test('autoCacheRecover without forceRecoveryMode cache is refused when the options are given', () => {
    assert.throws(() => createSwitchboard({ namespaces: { bad: { historySize: 1, historyTtlMs: 1000, autoCacheRecover: true } } }), /autoCacheRecover needs forceRecoveryMode: 'cache'/);
  });

  test('after a dropped connection: only the latest of what was missed; nothing again when nothing was missed', async () => {
    const { c, id } = await client('reconnector', { minReconnectDelay: 300, maxReconnectDelay: 500 });
    const sub = c.newSubscription('state:score');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
    await srv.sb.publish('state:score', { goals: 0 });
    await until(() => got.length === 1);

    let resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
    let dropped = once(c, 'connecting');
    srv.sb.liveConnection(id())!.transport.terminate();
    await dropped;
    for (let g = 1; g <= 3; g++) await srv.sb.publish('state:score', { goals: g });
    const ctx = await resubscribed;
    assert.equal(ctx['wasRecovering'], true);
    assert.equal(ctx['recovered'], true);
    await until(() => got.length === 2);
    assert.deepEqual(got, [{ goals: 0 }, { goals: 3 }]);

    // Nothing published meanwhile: the client is up to date and gets nothing again.
    resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
    dropped = once(c, 'connecting');
    srv.sb.liveConnection(id())!.transport.terminate();
    await dropped;
    const ctx2 = await resubscribed;
    assert.equal(ctx2['recovered'], true);
    await srv.sb.publish('state:score', { goals: 4 });
    await until(() => got.length === 3);
    assert.deepEqual(got, [{ goals: 0 }, { goals: 3 }, { goals: 4 }]);
  });
});

test('autoCacheRecover: a unidirectional client gets the latest publication of its token channel in the connect push', async (t) => {
  const srv = await startHttpServer({
    namespaces: { auto: { historySize: 1, historyTtlMs: 300_000, forceRecovery: true, forceRecoveryMode: 'cache', autoCacheRecover: true } },
  });
  t.after(() => srv.close());
  await srv.sb.publish('auto:feed', { price: 42 });
  const r = new StreamReader(`${srv.base}/connection/uni_http_stream`, 'lines', {
    method: 'POST',
    body: JSON.stringify({ token: await token({ sub: 'uni', channels: ['auto:feed'] }) }),
    headers: { 'content-type': 'application/json' },
  });
  t.after(() => r.close());
  const connect = (await r.find((m) => m['connect'] !== undefined, 'the connect push'))['connect'] as { subs: Record<string, { publications?: { data: unknown }[]; recovered?: boolean }> };
  assert.deepEqual(
    connect.subs['auto:feed']?.publications?.map((p) => p.data),
    [{ price: 42 }],
  );
  assert.equal(connect.subs['auto:feed']?.recovered, true);
});
