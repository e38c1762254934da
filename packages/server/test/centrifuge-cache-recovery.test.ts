import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Cache recovery mode (`forceRecoveryMode: 'cache'`, Centrifugo's `force_recovery_mode: "cache"`)
 * with the official SDK: a subscriber gets the channel's latest publication on subscribe and on
 * every resubscribe where it missed something, instead of the whole stream.
 */
describe('cache recovery mode with the official SDK', () => {
  let srv: TestServer;
  const clients: Centrifuge[] = [];
  before(async () => {
    srv = await startServer({ namespaces: { state: { allowSubscribeForClient: true, historySize: 1, historyTtlMs: 300_000, forceRecoveryMode: 'cache' } } });
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

  test('a new subscriber gets the latest publication first, then live ones; an empty channel gives nothing', async () => {
    for (let i = 1; i <= 3; i++) await srv.sb.publish('state:now-playing', { song: i });
    const { c } = await client('listener');
    const sub = c.newSubscription('state:now-playing');
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

    const empty = c.newSubscription('state:empty');
    const emptyGot: unknown[] = [];
    empty.on('publication', (p) => emptyGot.push(p.data));
    const ok2 = once(empty, 'subscribed');
    empty.subscribe();
    await ok2;
    await srv.sb.publish('state:empty', { first: true });
    await until(() => emptyGot.length === 1);
    assert.deepEqual(emptyGot, [{ first: true }]);
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
    srv.sb.getConnection(id())!.transport.terminate();
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
    srv.sb.getConnection(id())!.transport.terminate();
    await dropped;
    const ctx2 = await resubscribed;
    assert.equal(ctx2['recovered'], true);
    await srv.sb.publish('state:score', { goals: 4 });
    await until(() => got.length === 3);
    assert.deepEqual(got, [{ goals: 0 }, { goals: 3 }, { goals: 4 }]);
  });
});
