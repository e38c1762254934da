import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { API_PROTO, createApiHandler, createGrpcApi } from '../src/index.js';
import { sdk, startServer, token, until } from './helpers.js';

const KEY = 'acks-api-key';
const CH = 'rcpt:room';

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

/** A client from the API's proto as a Node user would make it (@grpc/proto-loader + grpc-js). */
function apiClient(port: number): grpc.Client & Record<string, Unary> {
  const root = protobuf.parse(API_PROTO, { keepCase: true }).root;
  const def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, defaults: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } } };
  return new pkg.centrifugal.centrifugo.api.CentrifugoApi(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
}

test('"who has not acknowledged" over the HTTP and GRPC server APIs: answers, and bad input gets 107/102/108 (400/404 in transport error mode)', { timeout: 60_000 }, async (t) => {
  const s = await startServer({
    namespaces: {
      rcpt: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000, acknowledge: true, ackTimeoutMs: 60_000 },
      plain: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000 },
    },
  });
  t.after(() => s.close());
  const handler = createApiHandler(s.sb, { key: KEY });
  const http: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api`;
  const post = async (method: string, body: unknown, transport = false) => {
    const res = await fetch(`${base}/${method}`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, ...(transport ? { 'x-centrifugo-error-mode': 'transport' } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const api = createGrpcApi(s.sb, { key: KEY });
  await api.listen(0, '127.0.0.1');
  t.after(() => api.close());
  const client = apiClient(api.port);
  t.after(() => client.close());
  const md = (transport = false) => {
    const m = new grpc.Metadata();
    m.set('authorization', `apikey ${KEY}`);
    if (transport) m.set('x-centrifugo-error-mode', 'transport');
    return m;
  };
  const call = (req: object, meta = md()): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => client['Unacknowledged']!(req, meta, (err, res) => (err ? reject(err) : resolve(res))));

  // alice (per user) and bob's phone (ackClient) receive offsets 1 and 2; bob acknowledges 1
  const got: Record<string, number[]> = { alice: [], bob: [] };
  const ack: Record<string, (offsets: number[]) => Promise<unknown>> = {};
  for (const [user, data] of [
    ['alice', undefined],
    ['bob', { ackClient: 'phone' }],
  ] as const) {
    const c = sdk(s.url, { token: await token({ sub: user }) });
    t.after(() => c.disconnect());
    const sub = c.newSubscription(CH, data ? { data } : {});
    sub.on('publication', (ctx) => got[user]!.push(ctx.offset!));
    const subscribed = new Promise<void>((r) => sub.once('subscribed', () => r()));
    c.connect();
    sub.subscribe();
    await subscribed;
    ack[user] = (offsets) => c.rpc('$ack', { channel: CH, offsets });
  }
  await s.sb.publish(CH, { n: 1 });
  await s.sb.publish(CH, { n: 2 });
  await until(() => got['alice']!.length === 2 && got['bob']!.length === 2, 10_000, 'both to receive both');
  await ack['bob']!([1]);

  assert.deepEqual(await post('unacknowledged', { channel: CH, offset: 1 }), { status: 200, body: { result: { consumers: [{ user: 'alice' }] } } });
  assert.deepEqual(await post('unacknowledged', { channel: CH, offset: 2 }), { status: 200, body: { result: { consumers: [{ user: 'alice' }, { user: 'bob', client: 'phone' }] } } });
  assert.deepEqual(await post('unacknowledged', { channel: CH, offset: 3 }), { status: 200, body: { result: { consumers: [] } } });
  // in a batch too
  assert.deepEqual((await post('batch', { commands: [{ unacknowledged: { channel: CH, offset: 1 } }] })).body, { result: { replies: [{ unacknowledged: { consumers: [{ user: 'alice' }] } }] } });

  // bad input: Centrifugo's convention, a coded error in a 200 by default, the HTTP status in transport mode
  const bad: [unknown, number, number, RegExp][] = [
    [{ offset: 1 }, 107, 400, /channel required/],
    [{ channel: CH }, 107, 400, /offset required/],
    [{ channel: CH, offset: '1' }, 107, 400, /offset required: an integer from 1/],
    [{ channel: CH, offset: 0 }, 107, 400, /integer from 1/],
    [{ channel: CH, offset: 1.5 }, 107, 400, /integer from 1/],
    [{ channel: 'x'.repeat(300), offset: 1 }, 107, 400, /channel name/],
    [{ channel: 'nope:1', offset: 1 }, 102, 404, /unknown channel/],
    [{ channel: 'plain:1', offset: 1 }, 108, 400, /no acknowledged delivery/],
  ];
  for (const [params, code, status, message] of bad) {
    const r = await post('unacknowledged', params);
    assert.equal(r.status, 200);
    const e = r.body['error'] as { code: number; message: string };
    assert.equal(e.code, code, JSON.stringify(params));
    assert.match(e.message, message);
    const tr = await post('unacknowledged', params, true);
    assert.equal(tr.status, status, `transport mode status for ${JSON.stringify(params)}`);
    assert.equal((tr.body as { code: number }).code, code);
  }
  assert.equal((await post('unacknowledged', [1, 2])).body['error'] !== undefined, true, 'a body that is not an object');

  // GRPC: the same answers
  assert.deepEqual(await call({ channel: CH, offset: 2 }), { result: { consumers: [{ user: 'alice' }, { user: 'bob', client: 'phone' }] } });
  assert.deepEqual(await call({ channel: CH, offset: 1 }), { result: { consumers: [{ user: 'alice' }] } });
  const noOffset = await call({ channel: CH });
  assert.equal((noOffset['error'] as { code: number }).code, 107, 'offset 0 (unset) refused');
  assert.equal(((await call({ channel: 'nope:1', offset: 1 }))['error'] as { code: number }).code, 102);
  const batch = await new Promise<Record<string, unknown>>((resolve, reject) =>
    client['Batch']!({ commands: [{ unacknowledged: { channel: CH, offset: 1 } }, { unacknowledged: { channel: 'nope:1', offset: 1 } }] }, md(), (err, res) => (err ? reject(err) : resolve(res))),
  );
  assert.deepEqual(batch, { replies: [{ unacknowledged: { consumers: [{ user: 'alice' }] } }, { error: { code: 102, message: 'unknown channel' } }] }, 'in a GRPC batch too');
  await assert.rejects(call({ channel: CH }, md(true)), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /107: offset required/.test(e.details));
  await assert.rejects(call({ channel: 'nope:1', offset: 1 }, md(true)), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
});
