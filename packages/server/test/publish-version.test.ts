// Centrifugo's publish `version` / `version_epoch`: in a channel with history, a publication whose
// version is not greater than the channel's last (same epoch, or none given) is dropped, through the
// HTTP API, the GRPC API and app code, on one node (the memory engine).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { Centrifuge, Subscription } from 'centrifuge';
import { API_PROTO, createApiHandler, createGrpcApi, type GrpcApiServer, MAX_VERSION_EPOCH_LENGTH, VersionGate } from '../src/index.js';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';

const KEY = 'version-test-key';
type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;
type ApiReply = { result?: Record<string, unknown>; error?: { code: number; message: string } };

describe('publish version and version_epoch on one node', () => {
  let srv: TestServer;
  let http: Server;
  let base = '';
  let grpcApi: GrpcApiServer;
  let grpcClient: grpc.Client & Record<string, Unary>;
  let c: Centrifuge;
  const post = async (method: string, body: unknown): Promise<ApiReply> =>
    (await (await fetch(`${base}/api/${method}`, { method: 'POST', headers: { 'x-api-key': KEY }, body: JSON.stringify(body) })).json()) as ApiReply;
  const grpcCall = (method: string, req: object): Promise<Record<string, unknown>> => {
    const m = new grpc.Metadata();
    m.set('authorization', `apikey ${KEY}`);
    return new Promise((resolve, reject) => grpcClient[method]!(req, m, (err, res) => (err ? reject(err) : resolve(res))));
  };
  /** A subscription's received data, in order. */
  const watch = async (channel: string): Promise<{ sub: Subscription; got: unknown[] }> => {
    const sub = c.newSubscription(channel);
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const s = once(sub, 'subscribed');
    sub.subscribe();
    await s;
    return { sub, got };
  };
  const historyData = async (channel: string) => (await srv.sb.history(channel, { limit: -1 })).publications.map((p) => JSON.parse(p.data) as unknown);

  before(async () => {
    srv = await startServer({
      namespaces: {
        state: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 },
        live: { allowSubscribeForClient: true },
      },
    });
    const handler = createApiHandler(srv.sb, { key: KEY, prefix: '/api' });
    http = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    grpcApi = createGrpcApi(srv.sb, { key: KEY });
    await grpcApi.listen(0, '127.0.0.1');
    const root = protobuf.parse(API_PROTO, { keepCase: true }).root;
    const def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, defaults: false });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } } };
    grpcClient = new pkg.centrifugal.centrifugo.api.CentrifugoApi(`127.0.0.1:${grpcApi.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
    c = sdk(srv.url, { token: await token({ sub: 'watcher' }) });
    const connected = once(c, 'connected');
    c.connect();
    await connected;
  });
  after(async () => {
    c.disconnect();
    grpcClient.close();
    await grpcApi.close();
    await new Promise<void>((r) => http.close(() => r()));
    await srv.close();
  });

  test('HTTP API: an older or equal version is dropped and answered with the current top; a newer one is published', async () => {
    const { got } = await watch('state:http');
    const v1 = await post('publish', { channel: 'state:http', data: { v: 1 }, version: 1 });
    assert.equal(v1.result?.['offset'], 1);
    assert.equal((await post('publish', { channel: 'state:http', data: { v: 3 }, version: 3 })).result?.['offset'], 2);
    // stale: older and equal; the answer is the stream's top, nothing is published
    for (const v of [2, 3, 1]) {
      const r = await post('publish', { channel: 'state:http', data: { v, stale: true }, version: v });
      assert.deepEqual(r.result, { offset: 2, epoch: v1.result?.['epoch'] }, `version ${v}`);
    }
    // a publication without a version is not checked and does not change the channel's version
    await post('publish', { channel: 'state:http', data: { plain: true } });
    assert.equal((await post('publish', { channel: 'state:http', data: { v: 3, stale: true }, version: 3 })).result?.['offset'], 3);
    await post('publish', { channel: 'state:http', data: { v: 4 }, version: 4 });
    await until(() => got.length === 4, 10_000, 'four publications');
    assert.deepEqual(got, [{ v: 1 }, { v: 3 }, { plain: true }, { v: 4 }]);
    assert.deepEqual(await historyData('state:http'), got);
  });

  test('version_epoch: another epoch starts the versions over; an empty epoch matches the stored one', async () => {
    const { got } = await watch('state:epoch');
    await post('publish', { channel: 'state:epoch', data: { e: 'a', v: 5 }, version: 5, version_epoch: 'a' });
    await post('publish', { channel: 'state:epoch', data: { e: 'a', v: 4, stale: true }, version: 4, version_epoch: 'a' });
    // a new epoch (the source restarted its counter): 1 is newer than a:5
    await post('publish', { channel: 'state:epoch', data: { e: 'b', v: 1 }, version: 1, version_epoch: 'b' });
    // no epoch given: compared with the stored one whatever it is
    await post('publish', { channel: 'state:epoch', data: { e: '', v: 1, stale: true }, version: 1 });
    await post('publish', { channel: 'state:epoch', data: { e: '', v: 2 }, version: 2 });
    // the stored epoch is now '' (the last versioned publication's, as given): b is another epoch, so b:2 goes
    await post('publish', { channel: 'state:epoch', data: { e: 'b', v: 2 }, version: 2, version_epoch: 'b' });
    await post('publish', { channel: 'state:epoch', data: { end: true } });
    await until(() => got.some((d) => (d as { end?: boolean }).end === true), 10_000, 'the last publication');
    assert.deepEqual(got, [{ e: 'a', v: 5 }, { e: 'b', v: 1 }, { e: '', v: 2 }, { e: 'b', v: 2 }, { end: true }]);
  });

  test('concurrent publications with shuffled versions: what is delivered goes up strictly, the highest always arrives', async () => {
    const { got } = await watch('state:race');
    const versions = [5, 2, 9, 1, 7, 3, 10, 4, 8, 6];
    await Promise.all(versions.map((v) => post('publish', { channel: 'state:race', data: { v }, version: v })));
    await post('publish', { channel: 'state:race', data: { end: true } });
    await until(() => got.some((d) => (d as { end?: boolean }).end === true), 10_000, 'the last publication');
    const vs = got.slice(0, -1).map((d) => (d as { v: number }).v);
    assert.ok(vs.length >= 1 && vs.every((v, i) => i === 0 || v > vs[i - 1]!), `strictly increasing: ${vs.join(',')}`);
    assert.equal(vs.at(-1), 10);
    assert.deepEqual(await historyData('state:race'), got);
  });

  test('GRPC API: version and version_epoch (uint64, string) work as over HTTP', async () => {
    const { got } = await watch('state:grpc');
    const data = (v: unknown) => Buffer.from(JSON.stringify(v));
    const r1 = (await grpcCall('Publish', { channel: 'state:grpc', data: data({ v: 2 }), version: 2, version_epoch: 'g' }))['result'] as { offset: number };
    assert.equal(r1.offset, 1);
    const stale = (await grpcCall('Publish', { channel: 'state:grpc', data: data({ v: 1 }), version: 1, version_epoch: 'g' }))['result'] as { offset: number };
    assert.equal(stale.offset, 1, 'answered with the top');
    await grpcCall('Publish', { channel: 'state:grpc', data: data({ v: 3 }), version: 3, version_epoch: 'g' });
    const tooBig = (await grpcCall('Publish', { channel: 'state:grpc', data: data({ v: 'huge' }), version: 2 ** 60 }))['error'] as { code: number; message: string };
    assert.equal(tooBig.code, 107);
    assert.match(tooBig.message, /version/);
    await until(() => got.length === 2, 10_000, 'two publications');
    assert.deepEqual(got, [{ v: 2 }, { v: 3 }]);
  });

  test('app code: sb.publish with version; stale calls `stale` and emits no publish event', async () => {
    const { got } = await watch('state:lib');
    const events: unknown[] = [];
    srv.sb.on('publish', (channel, pub) => {
      if (channel === 'state:lib') events.push(JSON.parse(pub.data));
    });
    let stale = 0;
    const first = await srv.sb.publish('state:lib', { v: 2 }, { version: 2, versionEpoch: 'x', stale: () => stale++ });
    const again = await srv.sb.publish('state:lib', { v: 1 }, { version: 1, versionEpoch: 'x', stale: () => stale++ });
    assert.deepEqual(again, first);
    assert.equal(stale, 1);
    // with an idempotency key too: a duplicate key is answered first; a new key with a stale version is still dropped
    await srv.sb.publish('state:lib', { v: 3 }, { version: 3, versionEpoch: 'x', idempotencyKey: 'k3' });
    await srv.sb.publish('state:lib', { v: 3 }, { version: 3, versionEpoch: 'x', idempotencyKey: 'k3', stale: () => stale++ });
    assert.equal(stale, 1, 'the duplicate key was answered before the version was looked at');
    await srv.sb.publish('state:lib', { v: 3, again: true }, { version: 3, versionEpoch: 'x', idempotencyKey: 'k3b', stale: () => stale++ });
    assert.equal(stale, 2);
    await srv.sb.publish('state:lib', { end: true });
    await until(() => got.length === 3, 10_000, 'three publications');
    assert.deepEqual(got, [{ v: 2 }, { v: 3 }, { end: true }]);
    assert.deepEqual(events, got);
  });

  test('bad versions are refused with 107 and publish nothing; a version needs history', async () => {
    const before = (await srv.sb.history('state:bad', { limit: 0 })).position.offset;
    const bad: [unknown, RegExp][] = [
      [{ version: -1 }, /version must be a non-negative integer/],
      [{ version: 1.5 }, /version must be a non-negative integer/],
      [{ version: '3' }, /version must be a non-negative integer/],
      [{ version: 2 ** 53 }, /version must be a non-negative integer/],
      [{ version: 1, version_epoch: 7 }, /version_epoch must be a string/],
      [{ version: 1, version_epoch: 'e'.repeat(MAX_VERSION_EPOCH_LENGTH + 1) }, /version_epoch must be a string/],
      [{ version: 1, skip_history: true }, /not with skip_history/],
    ];
    for (const [fields, message] of bad) {
      const r = await post('publish', { channel: 'state:bad', data: { bad: true }, ...(fields as object) });
      assert.equal(r.error?.code, 107, JSON.stringify(fields));
      assert.match(r.error?.message ?? '', message, JSON.stringify(fields));
    }
    const noHistory = await post('publish', { channel: 'live:x', data: { v: 1 }, version: 1 });
    assert.equal(noHistory.error?.code, 107);
    assert.match(noHistory.error?.message ?? '', /version needs history in the channel/);
    // broadcast: per channel, each answered
    const b = await post('broadcast', { channels: ['state:bad', 'live:x'], data: { v: 1 }, version: 1 });
    const responses = b.result?.['responses'] as ApiReply[];
    assert.equal(typeof responses[0]?.result?.['offset'], 'number');
    assert.equal(responses[1]?.error?.code, 107);
    await assert.rejects(srv.sb.publish('*', { v: 1 }, { version: 1 }), /broadcast to all/);
    assert.equal((await srv.sb.history('state:bad', { limit: 0 })).position.offset, before + 1, 'only the valid broadcast was published');
  });
});

test('VersionGate: a failed publication leaves the previous version; entries expire; the size is bounded', async () => {
  const gate = new VersionGate(2);
  const a = gate.admit('ch', { version: 5, epoch: '' }, 60_000);
  assert.equal(a.stale, false);
  assert.equal(gate.admit('ch', { version: 5, epoch: '' }, 60_000).stale, true);
  const b = gate.admit('ch', { version: 6, epoch: '' }, 60_000);
  assert.ok(!b.stale);
  b.undo(); // the publication of 6 failed: 5 stays
  assert.equal(gate.admit('ch', { version: 5, epoch: '' }, 60_000).stale, true);
  assert.equal(gate.admit('ch', { version: 6, epoch: '' }, 60_000).stale, false);
  gate.admit('x', { version: 1, epoch: '' }, 60_000);
  gate.admit('y', { version: 1, epoch: '' }, 60_000);
  assert.equal(gate.size, 2);
  // 'ch' was the least recent: forgotten
  assert.equal(gate.admit('ch', { version: 1, epoch: '' }, 60_000).stale, false);
  const short = new VersionGate();
  short.admit('ch', { version: 9, epoch: '' }, 1);
  await until(() => !short.admit('ch', { version: 1, epoch: '' }, 1).stale, 5000, 'the version to expire');
});
