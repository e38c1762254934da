// The proxy handler factories used the way docs/proxy.md shows, without installProxies: each one in
// the place of an app handler (onConnecting, a route's join, onSubscribe, onPublish, rpc).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import { connectProxy, publishProxy, rpcProxy, subscribeProxy } from '../src/index.js';
import { HttpBackend, type BackendCall } from '../src/testing/index.js';
import { once, RawClient, sdk, until } from './helpers.js';
import { ChannelState, connected as pondConnected, join, pond, startMulti, stopAll, type MultiServer } from './pond-helpers.js';

function answer(call: BackendCall): unknown {
  const b = call.body;
  const data = (b['data'] ?? {}) as Record<string, unknown>;
  const channel = typeof b['channel'] === 'string' ? b['channel'] : '';
  switch (call.path) {
    case '/connect':
      return { result: { user: typeof data['user'] === 'string' ? data['user'] : 'factory-user', info: { via: 'factory' } } };
    case '/docs':
      if (channel === '/docs/secret') return { error: { code: 403, message: 'not your document' } };
      return { result: { info: { reader: true } } };
    case '/subscribe':
      if (channel === 'chat:deny') return { error: { code: 1403, message: 'denied by backend' } };
      return { result: { data: { welcome: channel } } };
    case '/publish':
      return { result: { data: { text: String(data['text']).toUpperCase() } } };
    case '/sum': {
      const nums = Array.isArray(data['nums']) ? (data['nums'] as number[]) : [];
      return { result: { data: { sum: nums.reduce((a, n) => a + n, 0), user: b['user'], method: b['method'] } } };
    }
  }
  return { status: 404 };
}

describe('proxy factories in place of app handlers (no installProxies)', () => {
  let backend: HttpBackend;
  let srv: MultiServer;
  const clients: Centrifuge[] = [];
  const raws: RawClient[] = [];

  before(async () => {
    backend = await new HttpBackend(answer).start();
    srv = await startMulti(
      { allowAnonymous: false, namespaces: { chat: { allowPublishForSubscriber: true } } },
      (sb) => {
        sb.onConnecting(connectProxy({ endpoint: backend.url('/connect') }));
        sb.route('/docs/:id', { join: subscribeProxy({ endpoint: backend.url('/docs') }) });
        sb.onSubscribe(subscribeProxy({ endpoint: backend.url('/subscribe') }));
        sb.onPublish(publishProxy({ endpoint: backend.url('/publish') }));
        sb.rpc('sum', rpcProxy({ endpoint: backend.url('/sum') }));
      },
    );
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const r of raws) r.close();
    stopAll();
    await srv.close();
    await backend.close();
  });

  test('onConnecting(connectProxy), onSubscribe(subscribeProxy), onPublish(publishProxy), rpc(name, rpcProxy) with the SDK', async () => {
    const c = sdk(srv.url, { data: { user: 'fu' } });
    clients.push(c);
    const ctxP = once<{ client: string }>(c, 'connected');
    c.connect();
    const ctx = await ctxP;
    assert.ok(backend.callsTo('/connect').some((x) => x.body['client'] === ctx.client));

    const sub = c.newSubscription('chat:f');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const subscribed = once<{ data?: unknown }>(sub, 'subscribed');
    sub.subscribe();
    assert.deepEqual((await subscribed).data, { welcome: 'chat:f' });
    await sub.publish({ text: 'shout' });
    await until(() => got.length === 1, 5000, 'the rewritten publication');
    assert.deepEqual(got, [{ text: 'SHOUT' }]);

    const denied = c.newSubscription('chat:deny');
    const unsub = once<{ code: number; reason: string }>(denied, 'unsubscribed');
    denied.subscribe();
    const u = await unsub;
    assert.equal(u.code, 1403);
    assert.equal(u.reason, 'denied by backend');

    const res = await c.rpc('sum', { nums: [1, 2, 3] });
    assert.deepEqual(res.data, { sum: 6, user: 'fu', method: 'sum' });
    // a method without a handler is not sent to the backend
    await assert.rejects(c.rpc('other', {}), (e: { code: number }) => e.code === 104);
    assert.equal(backend.callsTo('/sum').length, 1);
  });

  test("a route's join is a subscribeProxy: PondSocket joins, the backend sees the channel and join params", async () => {
    const p = pond(srv.pondUrl);
    await pondConnected(p);
    const { ch } = await join(p, '/docs/7', { seat: 2 });
    assert.equal(ch.channelState, ChannelState.JOINED);
    const call = backend.callsTo('/docs').find((x) => x.body['channel'] === '/docs/7');
    assert.ok(call, 'the backend was asked');
    assert.deepEqual(call.body['data'], { seat: 2 });
    assert.equal(call.body['user'], 'factory-user');
    const { ch: secret } = await join(p, '/docs/secret');
    assert.equal(secret.channelState, ChannelState.DECLINED);

    // the same route over plain JSON: the backend's error code reaches the client
    const r = new RawClient(srv.plainUrl);
    raws.push(r);
    await r.next((m) => m['type'] === 'connected');
    r.send({ type: 'subscribe', channel: '/docs/secret', id: 1 });
    const err = await r.next((m) => m['id'] === 1);
    assert.equal(err['type'], 'error');
    assert.equal(err['code'], 403);
    assert.equal(err['message'], 'not your document');
  });
});
