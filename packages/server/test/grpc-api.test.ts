import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { Centrifuge } from 'centrifuge';
import { API_PROTO, createApiHandler, createGrpcApi, type GrpcApiServer } from '../src/index.js';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';
import { within } from '../src/testing/index.js';

const KEY = 'grpc-api-test-key';

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

/** A client as a Node user of Centrifugo's api.proto would make it: @grpc/proto-loader + grpc-js. */
function apiClient(port: number): grpc.Client & Record<string, Unary> {
  const root = protobuf.parse(API_PROTO, { keepCase: true }).root;
  const def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, defaults: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } } };
  return new pkg.centrifugal.centrifugo.api.CentrifugoApi(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
}

/** The JSON form of a GRPC response: bytes holding JSON parsed, as the HTTP API answers them. */
function jsonForm(v: unknown): unknown {
  if (v instanceof Uint8Array) return JSON.parse(Buffer.from(v).toString('utf8'));
  if (Array.isArray(v)) return v.map(jsonForm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonForm(x)]));
  return v;
}

describe('the GRPC server API (CentrifugoApi) beside the HTTP API', () => {
  let srv: TestServer;
  let api: GrpcApiServer;
  let http: Server;
  let client: grpc.Client & Record<string, Unary>;
  let httpBase = '';
  const sdks: Centrifuge[] = [];
  const md = (key = KEY) => {
    const m = new grpc.Metadata();
    m.set('authorization', `apikey ${key}`);
    return m;
  };
  const call = (method: string, req: object, meta = md()): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => client[method]!(req, meta, (err, res) => (err ? reject(err) : resolve(jsonForm(res) as Record<string, unknown>))));
  const viaHttp = async (method: string, params: object): Promise<Record<string, unknown>> => {
    const res = await fetch(`${httpBase}/api/${method}`, { method: 'POST', headers: { authorization: `apikey ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(params) });
    return (await res.json()) as Record<string, unknown>;
  };

  before(async () => {
    srv = await startServer({
      namespaces: { chat: { presence: true, historySize: 10, historyTtlMs: 60_000, allowSubscribeForClient: true } },
    });
    api = createGrpcApi(srv.sb, { key: KEY });
    await api.listen(0, '127.0.0.1');
    const handler = createApiHandler(srv.sb, { key: KEY, prefix: '/api' });
    http = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    client = apiClient(api.port);
  });
  after(async () => {
    for (const c of sdks) c.disconnect();
    client.close();
    await api.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await srv.close();
  });

  test('a wrong key or none is refused with UNAUTHENTICATED', async () => {
    await assert.rejects(call('Info', {}, md('wrong')), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    await assert.rejects(call('Info', {}, new grpc.Metadata()), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  });

  test('every method answers what the HTTP API answers for the same call', async () => {
    const c = sdk(srv.url, { token: await token({ sub: 'alice', info: { name: 'Alice' } }) });
    sdks.push(c);
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const sub = c.newSubscription('chat:grpc');
    sub.subscribe();
    await once(sub, 'subscribed');

    const data = Buffer.from(JSON.stringify({ text: 'hello' }));
    const pub = await call('Publish', { channel: 'chat:grpc', data });
    assert.equal(pub['error'], undefined);
    const pubResult = pub['result'] as Record<string, unknown>;
    assert.equal(pubResult['offset'], 1);
    assert.equal(typeof pubResult['epoch'], 'string');
    const httpPub = (await viaHttp('publish', { channel: 'chat:grpc', data: { text: 'again' } }))['result'] as Record<string, unknown>;
    assert.deepEqual({ offset: httpPub['offset'], epoch: httpPub['epoch'] }, { offset: 2, epoch: pubResult['epoch'] });

    const bc = await call('Broadcast', { channels: ['chat:grpc', 'nope:x'], data });
    const httpBc = await viaHttp('broadcast', { channels: ['chat:grpc', 'nope:x'], data: { text: 'hello' } });
    const responses = (bc['result'] as { responses: Record<string, unknown>[] }).responses;
    const httpResponses = (httpBc['result'] as { responses: Record<string, unknown>[] }).responses;
    assert.equal(responses.length, 2);
    assert.deepEqual(responses[1], httpResponses[1], 'the same error for an unknown namespace');
    assert.deepEqual(responses[1]!['error'], { code: 102, message: 'unknown channel' });

    for (const [rpc, method, params] of [
      ['Presence', 'presence', { channel: 'chat:grpc' }],
      ['PresenceStats', 'presence_stats', { channel: 'chat:grpc' }],
      ['Channels', 'channels', {}],
      ['RPC', 'rpc', { method: 'x' }],
      ['Presence', 'presence', { channel: 'nope:x' }],
    ] as const) {
      assert.deepEqual(await call(rpc, params), await viaHttp(method, params), `${rpc} equals HTTP ${method}`);
    }
    const presence = (await call('Presence', { channel: 'chat:grpc' }))['result'] as { presence: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.values(presence.presence)[0]?.['conn_info'], { name: 'Alice' });

    const history = await call('History', { channel: 'chat:grpc', limit: 10 });
    assert.deepEqual(history, await viaHttp('history', { channel: 'chat:grpc', limit: 10 }));
    assert.equal((history['result'] as { publications: unknown[] }).publications.length, 4);

    const info = (await call('Info', {}))['result'] as { nodes: Record<string, unknown>[] };
    assert.equal(info.nodes[0]?.['uid'], srv.sb.id);
    assert.equal(info.nodes.length, ((await viaHttp('info', {}))['result'] as { nodes: unknown[] }).nodes.length);

    // subscribe / unsubscribe / refresh / disconnect reach the client
    const serverSub = once<{ channel: string }>(c, 'subscribed');
    assert.deepEqual(await call('Subscribe', { channel: 'chat:server', user: 'alice' }), { result: {} });
    assert.equal((await serverSub).channel, 'chat:server');
    const serverUnsub = once<{ channel: string }>(c, 'unsubscribed');
    assert.deepEqual(await call('Unsubscribe', { channel: 'chat:server', user: 'alice' }), { result: {} });
    assert.equal((await serverUnsub).channel, 'chat:server');
    assert.deepEqual(await call('Refresh', { user: 'alice', expire_at: Math.floor(Date.now() / 1000) + 3600 }), { result: {} });
    assert.deepEqual(await call('HistoryRemove', { channel: 'chat:grpc' }), { result: {} });
    assert.equal(((await call('History', { channel: 'chat:grpc', limit: 10 }))['result'] as { publications?: unknown[] }).publications, undefined);

    const batch = await call('Batch', { commands: [{ presence_stats: { channel: 'chat:grpc' } }, { publish: { channel: 'nope:x', data } }] });
    const httpBatch = await viaHttp('batch', { commands: [{ presence_stats: { channel: 'chat:grpc' } }, { publish: { channel: 'nope:x', data: { text: 'hello' } } }] });
    assert.deepEqual(batch['replies'], (httpBatch['result'] as { replies: unknown })['replies'], 'BatchResponse carries the replies directly');

    const gone = once<{ code: number }>(c, 'disconnected');
    assert.deepEqual(await call('Disconnect', { user: 'alice', disconnect: { code: 4500, reason: 'bye' } }), { result: {} });
    assert.equal((await gone).code, 4500);
    await until(() => srv.sb.counts().connections === 0, 5000, 'the connection gone');
  });

  test('bad input: data that is not JSON is 107; transport error mode turns errors into GRPC statuses', async () => {
    const bad = await call('Publish', { channel: 'chat:grpc', data: Buffer.from('not json') });
    assert.equal((bad['error'] as { code: number }).code, 107);
    assert.deepEqual(await call('Publish', { channel: 'chat:grpc' }), await viaHttp('publish', { channel: 'chat:grpc' }));
    const m = md();
    m.set('x-centrifugo-error-mode', 'transport');
    await assert.rejects(call('Presence', { channel: 'nope:x' }, m), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && e.details === '102: unknown channel');
  });

  test('a client built from a separate copy of upstream api.proto (fixture) gets the HTTP API\'s answers', async () => {
    const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/centrifugo-api-subset.proto', import.meta.url)), { keepCase: true, longs: Number, defaults: false });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } } };
    const fx = new pkg.centrifugal.centrifugo.api.CentrifugoApi(`127.0.0.1:${api.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
    const fxCall = (method: string, req: object): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => fx[method]!(req, md(), (err, res) => (err ? reject(err) : resolve(jsonForm(res) as Record<string, unknown>))));
    const c = sdk(srv.url, { token: await token({ sub: 'fx-bob', info: { name: 'Bob' } }) });
    sdks.push(c);
    try {
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      const sub = c.newSubscription('chat:fixture');
      sub.subscribe();
      await once(sub, 'subscribed');

      const pub = (await fxCall('Publish', { channel: 'chat:fixture', data: Buffer.from('{"n":1}'), tags: { k: 'v' } }))['result'] as Record<string, unknown>;
      assert.equal(pub['offset'], 1);
      const httpPub = (await viaHttp('publish', { channel: 'chat:fixture', data: { n: 2 } }))['result'] as Record<string, unknown>;
      assert.deepEqual({ offset: httpPub['offset'], epoch: httpPub['epoch'] }, { offset: 2, epoch: pub['epoch'] });
      for (const [rpc, method, params] of [
        ['Presence', 'presence', { channel: 'chat:fixture' }],
        ['PresenceStats', 'presence_stats', { channel: 'chat:fixture' }],
        ['History', 'history', { channel: 'chat:fixture', limit: 10 }],
        ['Publish', 'publish', { channel: 'nope:x', data: { n: 3 } }],
      ] as const) {
        const grpcParams = 'data' in params ? { ...params, data: Buffer.from(JSON.stringify(params.data)) } : params;
        assert.deepEqual(await fxCall(rpc, grpcParams), await viaHttp(method, params), `${rpc} equals HTTP ${method}`);
      }
      const presence = (await fxCall('Presence', { channel: 'chat:fixture' }))['result'] as { presence: Record<string, Record<string, unknown>> };
      assert.deepEqual(Object.values(presence.presence).map((p) => [p['user'], p['conn_info']]), [['fx-bob', { name: 'Bob' }]]);
      const history = (await fxCall('History', { channel: 'chat:fixture', limit: 10 }))['result'] as { publications: Record<string, unknown>[] };
      assert.deepEqual(history.publications.map((p) => [p['data'], p['offset'], p['tags']]), [[{ n: 1 }, 1, { k: 'v' }], [{ n: 2 }, 2, undefined]]);
      const batch = await fxCall('Batch', { commands: [{ presence_stats: { channel: 'chat:fixture' } }, { history: { channel: 'chat:fixture', limit: 1, reverse: true } }] });
      const httpBatch = await viaHttp('batch', { commands: [{ presence_stats: { channel: 'chat:fixture' } }, { history: { channel: 'chat:fixture', limit: 1, reverse: true } }] });
      assert.deepEqual(batch['replies'], (httpBatch['result'] as { replies: unknown })['replies']);
      const info = (await fxCall('Info', {}))['result'] as { nodes: Record<string, unknown>[] };
      assert.equal(info.nodes[0]?.['uid'], srv.sb.id);
      assert.equal(info.nodes[0]?.['num_clients'], ((await viaHttp('info', {}))['result'] as { nodes: Record<string, unknown>[] }).nodes[0]?.['num_clients']);
    } finally {
      fx.close();
    }
  });
});

describe('the GRPC server API: user status, connection queries and token revocation (issue 20)', () => {
  let srv: TestServer;
  let api: GrpcApiServer;
  let http: Server;
  let client: grpc.Client & Record<string, Unary>;
  let httpBase = '';
  const sdks: Centrifuge[] = [];
  const md = () => {
    const m = new grpc.Metadata();
    m.set('authorization', `apikey ${KEY}`);
    return m;
  };
  const call = (method: string, req: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => client[method]!(req, md(), (err, res) => (err ? reject(err) : resolve(jsonForm(res) as Record<string, unknown>))));
  const viaHttp = async (method: string, params: object): Promise<Record<string, unknown>> => {
    const res = await fetch(`${httpBase}/api/${method}`, { method: 'POST', headers: { authorization: `apikey ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(params) });
    return (await res.json()) as Record<string, unknown>;
  };
  const connect = async (claims: Record<string, unknown>, channels: string[] = []) => {
    const c = sdk(srv.url, { token: await token(claims) });
    sdks.push(c);
    const disconnected = new Promise<{ code: number; reason: string }>((resolve) => c.on('disconnected', (ctx) => resolve({ code: ctx.code, reason: ctx.reason })));
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    for (const ch of channels) {
      const sub = c.newSubscription(ch);
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
    }
    return { c, disconnected };
  };

  before(async () => {
    srv = await startServer({ userStatus: { activityIntervalMs: 0 }, namespaces: { chat: { allowSubscribeForClient: true } } });
    api = createGrpcApi(srv.sb, { key: KEY });
    await api.listen(0, '127.0.0.1');
    const handler = createApiHandler(srv.sb, { key: KEY, prefix: '/api' });
    http = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    client = apiClient(api.port);
  });
  after(async () => {
    for (const c of sdks) c.disconnect();
    client.close();
    await api.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await srv.close();
  });

  test('UserStatus: online after connect, with last_seen, as the HTTP API says', async () => {
    const { c } = await connect({ sub: 'ann' });
    await until(async () => ((await call('UserStatus', { users: ['ann'] }))['result'] as { statuses: { online?: boolean }[] }).statuses[0]!.online === true, 5000, 'ann online');
    const got = (await call('UserStatus', { users: ['ann', 'nobody'] }))['result'] as { statuses: { user: string; online?: boolean; last_seen?: number }[] };
    assert.equal(got.statuses[0]!.user, 'ann');
    assert.ok(got.statuses[0]!.last_seen! > 0);
    assert.equal(got.statuses[1]!.user, 'nobody');
    assert.notEqual(got.statuses[1]!.online, true, 'unknown user: offline');
    assert.ok(!got.statuses[1]!.last_seen, 'unknown user: no last_seen');
    const viaJson = (await viaHttp('user_status', { users: ['ann'] }))['result'] as { statuses: unknown[] };
    assert.deepEqual(got.statuses[0], viaJson.statuses[0]);
    c.disconnect();
    await until(async () => ((await call('UserStatus', { users: ['ann'] }))['result'] as { statuses: { online?: boolean }[] }).statuses[0]!.online !== true, 5000, 'ann offline');
  });

  test('Connections: filters, pagination and each connection as Centrifugo-shaped ConnectionInfo', async () => {
    await connect({ sub: 'bob', meta: { plan: 'pro' } }, ['chat:a', 'chat:b']);
    await connect({ sub: 'bob', meta: { plan: 'free' } }, ['chat:a']);
    await connect({ sub: 'cat' });
    const bob = (await call('Connections', { user: 'bob' }))['result'] as { connections: Record<string, Record<string, unknown>> };
    assert.equal(Object.keys(bob.connections).length, 2);
    const pro = (await call('Connections', { user: 'bob', meta: Buffer.from(JSON.stringify({ plan: 'pro' })) }))['result'] as {
      connections: Record<string, { user: string; protocol: string; transport: string; node: string; channels: string[]; state: { channels: Record<string, unknown>; meta: unknown } }>;
    };
    const [id, info] = Object.entries(pro.connections)[0]!;
    assert.equal(Object.keys(pro.connections).length, 1);
    assert.equal(info.user, 'bob');
    assert.deepEqual([...info.channels].sort(), ['chat:a', 'chat:b']);
    assert.deepEqual(Object.keys(info.state.channels).sort(), ['chat:a', 'chat:b']);
    assert.deepEqual(info.state.meta, { plan: 'pro' });
    const viaJson = (await viaHttp('connections', { user: 'bob', meta: { plan: 'pro' } }))['result'] as { connections: { client: string; transport: string; protocol: string; node: string }[] };
    assert.equal(viaJson.connections[0]!.client, id);
    assert.deepEqual([info.transport, info.protocol, info.node], [viaJson.connections[0]!.transport, viaJson.connections[0]!.protocol, viaJson.connections[0]!.node]);
    // pagination: one per page, the cursor walks all three
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = (await call('Connections', { limit: 1, ...(cursor ? { cursor } : {}) }))['result'] as { connections: Record<string, unknown>; next_cursor?: string };
      seen.push(...Object.keys(r.connections));
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 3);
    const inChannel = (await call('Connections', { channel: 'chat:b' }))['result'] as { connections: Record<string, unknown> };
    assert.deepEqual(Object.keys(inChannel.connections), [id]);
  });

  test('RevokeToken and InvalidateUserTokens disconnect the holders with 3520; Batch carries them too', async () => {
    const d1 = await connect({ sub: 'dan', jti: 'grpc-jti-1' });
    const e1 = await connect({ sub: 'eve' });
    assert.deepEqual(await call('RevokeToken', { uid: 'grpc-jti-1', expire_at: Math.floor(Date.now() / 1000) + 600 }), { result: {} });
    assert.equal((await within(d1.disconnected, 5000, 'dan disconnected')).code, 3520);
    const batch = (await call('Batch', { commands: [{ invalidate_user_tokens: { user: 'eve', issued_before: Math.floor(Date.now() / 1000) + 1 } }, { user_status: { users: ['eve'] } }] }))['replies'] as Record<string, unknown>[];
    assert.deepEqual(batch[0], { invalidate_user_tokens: {} });
    assert.ok('user_status' in batch[1]!);
    assert.equal((await within(e1.disconnected, 5000, 'eve disconnected')).code, 3520);
  });

  test('bad input: each refused with 107 and a message saying what is wrong', async () => {
    const bad = async (method: string, req: object, pattern: RegExp) => {
      const r = (await call(method, req))['error'] as { code: number; message: string } | undefined;
      assert.equal(r?.code, 107, `${method} ${JSON.stringify(req)}`);
      assert.match(r.message, pattern);
    };
    await bad('UserStatus', {}, /users required/);
    await bad('UserStatus', { users: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, /1\.\.1000/);
    await bad('Connections', { expression: 'user == "x"' }, /CEL/);
    await bad('Connections', { limit: 5000 }, /limit/);
    await bad('Connections', { meta: Buffer.from('not json') }, /meta must be JSON/);
    await bad('Connections', { meta: Buffer.from('[1]') }, /meta must be an object/);
    await bad('RevokeToken', {}, /uid required/);
    await bad('RevokeToken', { uid: 'x', expire_at: 1 }, /expire_at/);
    await bad('InvalidateUserTokens', {}, /user required/);
    await bad('InvalidateUserTokens', { user: 'u', channel: 'chat:x' }, /channel is not supported/);
    await bad('InvalidateUserTokens', { user: 'u', issued_before: -5 }, /issued_before/);
  });
});
