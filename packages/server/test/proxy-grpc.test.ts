import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { installProxies, proxyStats, type SwitchboardOptions } from '../src/index.js';
import { GrpcBackend, type GrpcBackendCall } from '../src/testing/index.js';
import { freePort, once, RawClient, sdk, startServer, until, type TestServer } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);
let refreshes = 0;
let subRefreshes = 0;

/** The backend's answers, in the JSON form (the backend sends them as proxy.proto messages). */
function answer(call: GrpcBackendCall): unknown {
  const b = call.body;
  const data = (b['data'] ?? {}) as Record<string, unknown>;
  const channel = typeof b['channel'] === 'string' ? b['channel'] : '';
  switch (call.method) {
    case 'connect':
      if (data['mode'] === 'decline') return { disconnect: { code: 4501, reason: 'unauthorized' } };
      if (data['mode'] === 'expiring') return { result: { user: 'exp', expire_at: now() + 2 } };
      return { result: { user: typeof data['user'] === 'string' ? data['user'] : 'g1', info: { via: 'grpc' }, data: { hello: 'grpc' }, channels: ['news:grpc'], meta: { m: 1 } } };
    case 'refresh':
      refreshes++;
      return refreshes === 1 ? { result: { expire_at: now() + 2 } } : { result: { expired: true } };
    case 'subscribe':
      if (channel === 'chat:deny') return { error: { code: 403, message: 'not allowed', temporary: false } };
      if (channel === 'chat:kick') return { disconnect: { code: 4503, reason: 'go away' } };
      if (channel.startsWith('timed:')) return { result: { expire_at: now() + 2 } };
      if (channel === 'chat:badbytes') return { result: { info: Buffer.from('not json at all') } };
      if (channel === 'chat:status') return { grpcStatus: 12 };
      if (channel.startsWith('slow:')) return { hang: true };
      return { result: { info: { seat: 'grpc' }, override: { presence: { value: true } } } };
    case 'publish':
      if (data['text'] === 'forbidden') return { error: { code: 1001, message: 'no' } };
      return { result: { data: { text: 'rewritten' }, skip_history: true } };
    case 'rpc':
      return b['method'] === 'fail' ? { error: { code: 1002, message: 'rpc failed' } } : { result: { data: { got: b['data'], method: b['method'] } } };
    case 'sub_refresh':
      subRefreshes++;
      return subRefreshes === 1 ? { result: { expire_at: now() + 2 } } : { result: { expired: true } };
  }
  return {};
}

describe('GRPC proxies: Centrifugo\'s proxy.proto over @grpc/grpc-js', () => {
  let backend: GrpcBackend;
  let srv: TestServer;
  const clients: Centrifuge[] = [];
  const raws: RawClient[] = [];
  const raw = async (user: string): Promise<RawClient> => {
    const r = new RawClient(srv.url);
    raws.push(r);
    await r.opened;
    r.send({ id: 1, connect: { data: { user } } });
    await r.next((m) => m['id'] === 1);
    return r;
  };

  before(async () => {
    backend = await new GrpcBackend(answer).start();
    const dead = `grpc://127.0.0.1:${await freePort()}`;
    const namespaces: SwitchboardOptions['namespaces'] = {
      chat: { historySize: 10, historyTtlMs: 60_000, allowHistoryForSubscriber: true },
      timed: {},
      news: { allowSubscribeForClient: true },
      slow: {},
      dead: {},
    };
    const grpcEndpoint = { endpoint: backend.endpoint };
    srv = await startServer({ namespaces }, (sb) => {
      installProxies(sb, {
        connect: { ...grpcEndpoint, httpHeaders: ['x-allowed'], emulatedHeaders: ['authorization'], grpc: { credentialsKey: 'x-backend-key', credentialsValue: 'k1', staticMetadata: { 'x-static': 's' } } },
        refresh: grpcEndpoint,
        subscribe: { ...grpcEndpoint, includeConnectionMeta: true },
        publish: grpcEndpoint,
        subRefresh: grpcEndpoint,
        rpc: grpcEndpoint,
        named: { slow: { endpoint: backend.endpoint, timeoutMs: 300 }, dead: { endpoint: dead } },
        namespaces: { chat: { subscribe: 'default', publish: 'default' }, timed: { subscribe: 'default', subRefresh: 'default' }, slow: { subscribe: 'slow' }, dead: { subscribe: 'dead' } },
        rpcNamespaces: { '': { proxy: 'default' } },
      });
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const r of raws) r.close();
    await srv.close();
    await backend.close();
  });

  test('connect: the SDK gets the user, info, data and channels the backend chose; metadata carries only what is allowed', async () => {
    class HeaderWs extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { 'x-allowed': 'yes', 'x-secret': 'no' } });
      }
    }
    const c = sdk(srv.url, { websocket: HeaderWs, data: { user: 'g-user' }, headers: { Authorization: 'Bearer e', 'X-Other': 'no' } });
    clients.push(c);
    const serverSide = once<{ channel: string }>(c, 'subscribed');
    const connected = once<{ client: string; data: unknown }>(c, 'connected');
    c.connect();
    const ctx = await connected;
    assert.deepEqual(ctx.data, { hello: 'grpc' });
    assert.equal((await serverSide).channel, 'news:grpc');
    const call = backend.callsTo('connect').find((x) => x.body['client'] === ctx.client)!;
    assert.equal(call.body['transport'], 'websocket');
    assert.equal(call.body['protocol'], 'json');
    assert.deepEqual(call.body['data'], { user: 'g-user' });
    assert.equal(call.metadata['x-allowed'], 'yes');
    assert.equal(call.metadata['authorization'], 'Bearer e');
    assert.equal(call.metadata['x-backend-key'], 'k1');
    assert.equal(call.metadata['x-static'], 's');
    assert.equal(call.metadata['x-secret'], undefined);
    assert.equal(call.metadata['x-other'], undefined);
    // info and chan info (with the presence override) as others see them
    const sub = c.newSubscription('chat:g');
    sub.subscribe();
    await once(sub, 'subscribed');
    const entry = (await srv.sb.presenceStore.get('chat:g')).get(ctx.client);
    assert.equal(entry?.user, 'g-user');
    assert.equal(entry?.connInfo, '{"via":"grpc"}');
    assert.equal(entry?.chanInfo, '{"seat":"grpc"}');
    assert.deepEqual(backend.callsTo('subscribe').find((x) => x.body['channel'] === 'chat:g')?.body['meta'], { m: 1 });

    // Centrifugo 6.9: x-allowed is in http_headers only, so the same name sent inside the connect
    // command (emulated) never becomes metadata; authorization (emulated_headers) does.
    const forged = sdk(srv.url, { data: { user: 'g-forged' }, headers: { 'X-Allowed': 'forged', Authorization: 'Bearer f' } });
    clients.push(forged);
    const forgedConnected = once<{ client: string }>(forged, 'connected');
    forged.connect();
    const fctx = await forgedConnected;
    const fcall = backend.callsTo('connect').find((x) => x.body['client'] === fctx.client)!;
    assert.equal(fcall.metadata['authorization'], 'Bearer f');
    assert.equal(fcall.metadata['x-allowed'], undefined);
  });

  test('connect declined with the backend\'s disconnect code', async () => {
    const c = sdk(srv.url, { data: { mode: 'decline' } });
    clients.push(c);
    const gone = once<{ code: number }>(c, 'disconnected');
    c.connect();
    assert.equal((await gone).code, 4501);
  });

  test('refresh extends, then ends the connection (3005)', async () => {
    const r = new RawClient(srv.url);
    raws.push(r);
    await r.opened;
    r.send({ id: 1, connect: { data: { mode: 'expiring' } } });
    await r.next((m) => m['id'] === 1);
    assert.equal((await r.waitClose(10_000)).code, 3005);
    assert.equal(refreshes, 2);
  });

  test('subscribe refused with the backend\'s error or disconnect; publish rewritten and refused; RPC both ways', async () => {
    const r = await raw('s1');
    r.send({ id: 2, subscribe: { channel: 'chat:deny' } });
    assert.deepEqual((await r.next((m) => m['id'] === 2))['error'], { code: 403, message: 'not allowed' });
    r.send({ id: 3, subscribe: { channel: 'chat:p' } });
    await r.next((m) => m['id'] === 3);
    r.send({ id: 4, publish: { channel: 'chat:p', data: { text: 'x' } } });
    await r.next((m) => m['id'] === 4);
    const pub = await r.next<{ push: { pub: { data: unknown } } }>((m) => (m['push'] as { pub?: unknown } | undefined)?.pub !== undefined);
    assert.deepEqual(pub.push.pub.data, { text: 'rewritten' });
    assert.equal((await srv.sb.history('chat:p', { limit: 10 })).publications.length, 0, 'skip_history');
    r.send({ id: 5, publish: { channel: 'chat:p', data: { text: 'forbidden' } } });
    assert.equal(((await r.next((m) => m['id'] === 5))['error'] as { code: number }).code, 1001);
    r.send({ id: 6, rpc: { method: 'sum', data: { a: 1 } } });
    assert.deepEqual(((await r.next((m) => m['id'] === 6))['rpc'] as { data: unknown }).data, { got: { a: 1 }, method: 'sum' });
    r.send({ id: 7, rpc: { method: 'fail', data: {} } });
    assert.equal(((await r.next((m) => m['id'] === 7))['error'] as { code: number }).code, 1002);
    r.send({ id: 8, subscribe: { channel: 'chat:kick' } });
    assert.equal((await r.waitClose()).code, 4503);
  });

  test('sub refresh extends, then the subscription expires (2501)', async () => {
    const r = await raw('t1');
    r.send({ id: 2, subscribe: { channel: 'timed:g' } });
    await r.next((m) => m['id'] === 2);
    const push = await r.next<{ push: { unsubscribe: { code: number } } }>((m) => (m['push'] as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined, 10_000);
    assert.equal(push.push.unsubscribe.code, 2501);
    assert.equal(subRefreshes, 2);
  });

  test('a slow backend, a dead one, a GRPC error status and bytes that are not JSON: 100 for that call, counted', async () => {
    const grpcErrors = () => proxyStats().filter((s) => s.protocol === 'grpc').reduce((n, s) => n + s.errors, 0);
    const before = grpcErrors();
    const r = await raw('f1');
    const channels = ['slow:1', 'dead:1', 'chat:status', 'chat:badbytes'];
    channels.forEach((ch, i) => r.send({ id: 10 + i, subscribe: { channel: ch } }));
    for (let i = 0; i < channels.length; i++) {
      const reply = await r.next<{ error?: { code: number; temporary?: boolean } }>((m) => m['id'] === 10 + i);
      assert.deepEqual(reply.error, { code: 100, message: 'internal server error', temporary: true }, channels[i]);
    }
    await until(() => grpcErrors() >= before + channels.length, 5000, 'the failures counted');
    assert.equal(r.closed, undefined);
  });
});

/**
 * A backend as a Node team writing for Centrifugo would build it: @grpc/proto-loader on a proto
 * file (test/fixtures/centrifugo-proxy.proto, written apart from src/proxy/proxy-proto.ts, with
 * upstream's full messages) and `addService`, camelCase fields, bytes as Buffers. Nothing here
 * shares the in-repo schema, so a field number that drifts from upstream fails this test.
 */
describe('GRPC proxies against a backend built from its own copy of Centrifugo\'s proxy.proto', () => {
  type Req = Record<string, unknown> & { data?: Buffer; meta?: Buffer };
  type Cb = (err: null, res: object) => void;
  let server: grpc.Server;
  let srv: TestServer;
  const seen: { method: string; req: Req }[] = [];
  const clients: Centrifuge[] = [];
  const json = (b: Buffer | undefined) => (b && b.length > 0 ? (JSON.parse(b.toString('utf8')) as unknown) : undefined);
  const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

  before(async () => {
    const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/centrifugo-proxy.proto', import.meta.url)), { longs: Number, defaults: false });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { proxy: { CentrifugoProxy: grpc.ServiceClientConstructor } } } };
    const record = (method: string) => (call: { request: Req }) => void seen.push({ method, req: call.request });
    server = new grpc.Server();
    server.addService(pkg.centrifugal.centrifugo.proxy.CentrifugoProxy.service, {
      Connect: (call: { request: Req }, cb: Cb) => {
        record('connect')(call);
        const user = (json(call.request.data) as { user?: string } | undefined)?.user ?? 'anon';
        cb(null, {
          result: {
            user,
            expireAt: 0,
            info: bytes({ from: 'fixture' }),
            data: bytes({ hi: user }),
            meta: bytes({ plan: 'x' }),
            subs: { 'news:fx': { info: bytes({ s: 1 }), data: bytes({ sub: 'fx' }), override: { presence: { value: true } } } },
            caps: [{ channels: ['news:fx'], allow: ['sub'] }],
          },
        });
      },
      Refresh: (call: { request: Req }, cb: Cb) => (record('refresh')(call), cb(null, { result: { expired: true } })),
      Subscribe: (call: { request: Req }, cb: Cb) => {
        record('subscribe')(call);
        if (call.request['channel'] === 'chat:no') return cb(null, { error: { code: 1403, message: 'fixture says no', temporary: false } });
        cb(null, { result: { info: bytes({ seat: 'fx' }), data: bytes({ motd: 'fx' }), override: { presence: { value: true }, forceRecovery: { value: true } }, allow: ['pub'] } });
      },
      Publish: (call: { request: Req }, cb: Cb) => {
        record('publish')(call);
        cb(null, { result: { data: bytes({ wrapped: json(call.request.data) }), skipHistory: true } });
      },
      RPC: (call: { request: Req }, cb: Cb) => {
        record('rpc')(call);
        cb(null, { result: { data: bytes({ method: call.request['method'], echo: json(call.request.data), user: call.request['user'] }) } });
      },
      SubRefresh: (call: { request: Req }, cb: Cb) => (record('sub_refresh')(call), cb(null, { result: { expired: true } })),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const endpoint = { endpoint: `grpc://127.0.0.1:${port}` };
    srv = await startServer({ namespaces: { chat: { historySize: 10, historyTtlMs: 60_000 }, news: {} } }, (sb) => {
      installProxies(sb, {
        connect: endpoint,
        subscribe: { ...endpoint, includeConnectionMeta: true },
        publish: { ...endpoint, includeConnectionMeta: true },
        rpc: endpoint,
        namespaces: { chat: { subscribe: 'default', publish: 'default' } },
        rpcNamespaces: { '': { proxy: 'default' } },
      });
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
    server.forceShutdown();
  });

  test('connect (with subs), subscribe (override, refusal), publish, RPC: every field crosses in both directions', async () => {
    const c = sdk(srv.url, { data: { user: 'fx-user' }, name: 'fx-sdk' });
    clients.push(c);
    const serverSide = once<{ channel: string; data?: unknown }>(c, 'subscribed');
    const connected = once<{ client: string; data?: unknown }>(c, 'connected');
    c.connect();
    const ctx = await connected;
    assert.deepEqual(ctx.data, { hi: 'fx-user' });
    const ss = await serverSide;
    assert.equal(ss.channel, 'news:fx');
    assert.deepEqual(ss.data, { sub: 'fx' });
    const connectReq = seen.find((s) => s.method === 'connect' && s.req['client'] === ctx.client)!.req;
    assert.equal(connectReq['transport'], 'websocket');
    assert.equal(connectReq['protocol'], 'json');
    assert.equal(connectReq['encoding'], 'json');
    assert.equal(connectReq['name'], 'fx-sdk');
    assert.deepEqual(json(connectReq.data), { user: 'fx-user' });
    assert.equal((await srv.sb.presenceStore.get('news:fx')).get(ctx.client)?.chanInfo, '{"s":1}');

    const sub = c.newSubscription('chat:fx');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const subscribed = once<{ data?: unknown; recoverable?: boolean }>(sub, 'subscribed');
    sub.subscribe();
    const sctx = await subscribed;
    assert.deepEqual(sctx.data, { motd: 'fx' });
    assert.equal(sctx.recoverable, true, 'force_recovery (field 3 of the override) arrived');
    const entry = (await srv.sb.presenceStore.get('chat:fx')).get(ctx.client);
    assert.equal(entry?.connInfo, '{"from":"fixture"}');
    assert.equal(entry?.chanInfo, '{"seat":"fx"}');
    const subReq = seen.find((s) => s.method === 'subscribe' && s.req['channel'] === 'chat:fx')!.req;
    assert.equal(subReq['user'], 'fx-user');
    assert.deepEqual(json(subReq.meta), { plan: 'x' });

    await sub.publish({ n: 1 });
    await until(() => got.length === 1, 5000, 'the rewritten publication');
    assert.deepEqual(got, [{ wrapped: { n: 1 } }]);
    assert.equal((await srv.sb.history('chat:fx', { limit: 10 })).publications.length, 0, 'skip_history (field 3) arrived');
    const pubReq = seen.find((s) => s.method === 'publish')!.req;
    assert.equal(pubReq['channel'], 'chat:fx');
    assert.deepEqual(json(pubReq.meta), { plan: 'x' });

    const no = c.newSubscription('chat:no');
    const refused = once<{ code: number; reason: string }>(no, 'unsubscribed');
    no.subscribe();
    assert.deepEqual(await refused.then((u) => ({ code: u.code, reason: u.reason })), { code: 1403, reason: 'fixture says no' });

    const res = await c.rpc('calc', { x: [1, 'a'] });
    assert.deepEqual(res.data, { method: 'calc', echo: { x: [1, 'a'] }, user: 'fx-user' });
  });
});
