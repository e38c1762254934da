import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { API_PROTO } from '@switchboard/server';
import { API_KEY, runCli, startServerProcess, testConfig, writeConfig, type ServerProcess } from './helpers.js';

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('standalone server: grpc_api as in Centrifugo', () => {
  let server: ServerProcess;
  let client: grpc.Client & Record<string, Unary>;
  let config: string;

  before(async () => {
    const port = await freePort();
    config = writeConfig(testConfig({ grpc_api: { enabled: true, port, key: 'grpc-secret' } }));
    server = await startServerProcess(config);
    const def = protoLoader.fromJSON(protobuf.parse(API_PROTO, { keepCase: true }).root.toJSON(), { keepCase: true, longs: Number, defaults: false });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } } };
    client = new pkg.centrifugal.centrifugo.api.CentrifugoApi(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  const call = (method: string, req: object, key: string): Promise<Record<string, unknown>> => {
    const md = new grpc.Metadata();
    md.set('authorization', `apikey ${key}`);
    return new Promise((resolve, reject) => client[method]!(req, md, (err, res) => (err ? reject(err) : resolve(res))));
  };

  test('the key is checked; publish and history answer as the HTTP API does', { timeout: 60_000 }, async () => {
    await assert.rejects(call('Info', {}, 'wrong'), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    const info = (await call('Info', {}, 'grpc-secret'))['result'] as { nodes: { name: string }[] };
    assert.equal(info.nodes.length, 1);
    const pub = (await call('Publish', { channel: 'chat:g', data: Buffer.from('{"n":1}') }, 'grpc-secret'))['result'] as { offset: number; epoch: string };
    assert.equal(pub.offset, 1);
    const res = await fetch(`${server.base}/api/history`, { method: 'POST', headers: { authorization: `apikey ${API_KEY}` }, body: JSON.stringify({ channel: 'chat:g', limit: 10 }) });
    const history = (await res.json()) as { result: { publications: { data: unknown }[]; epoch: string } };
    assert.deepEqual(history.result.publications.map((p) => p.data), [{ n: 1 }]);
    assert.equal(history.result.epoch, pub.epoch);
    const grpcHistory = (await call('History', { channel: 'chat:g', limit: 10 }, 'grpc-secret'))['result'] as { publications: { data: Buffer }[] };
    assert.deepEqual(JSON.parse(grpcHistory.publications[0]!.data.toString()), { n: 1 });
  });

  test('every method answers on the standalone server as its HTTP API does', { timeout: 60_000 }, async () => {
    const http = async (method: string, params: object) => {
      const res = await fetch(`${server.base}/api/${method}`, { method: 'POST', headers: { authorization: `apikey ${API_KEY}` }, body: JSON.stringify(params) });
      return (await res.json()) as Record<string, unknown>;
    };
    const calls: [string, string, object][] = [
      ['Broadcast', 'broadcast', { channels: ['chat:b1', 'chat:b2'], data: Buffer.from('{"x":1}') }],
      ['Subscribe', 'subscribe', { channel: 'chat:s', user: 'nobody' }],
      ['Unsubscribe', 'unsubscribe', { channel: 'chat:s', user: 'nobody' }],
      ['Disconnect', 'disconnect', { user: 'nobody' }],
      ['Refresh', 'refresh', { user: 'nobody', expire_at: 4102444800 }],
      ['Presence', 'presence', { channel: 'chat:s' }],
      ['PresenceStats', 'presence_stats', { channel: 'chat:s' }],
      ['HistoryRemove', 'history_remove', { channel: 'chat:b1' }],
      ['Channels', 'channels', {}],
      ['RPC', 'rpc', { method: 'anything' }],
      ['Batch', 'batch', { commands: [{ presence_stats: { channel: 'chat:s' } }] }],
    ];
    for (const [rpc, method, params] of calls) {
      const g = await call(rpc, params, 'grpc-secret');
      const h = await http(method, { ...params, ...('data' in params ? { data: { x: 1 } } : {}) });
      if (rpc === 'Batch') assert.deepEqual(g['replies'], (h['result'] as { replies: unknown }).replies, rpc);
      else if (rpc === 'Broadcast') assert.equal((g['result'] as { responses: unknown[] }).responses.length, (h['result'] as { responses: unknown[] }).responses.length);
      else {
        // proto3 cannot tell an empty map or list from an absent one: compare with those filled in
        const expected = (h['error'] ?? h['result']) as Record<string, unknown>;
        const got = { ...((g['error'] ?? g['result']) as Record<string, unknown>) };
        for (const [k, v] of Object.entries(expected)) if (!(k in got) && typeof v === 'object' && v !== null && Object.keys(v).length === 0) got[k] = v;
        assert.deepEqual(got, expected, `${rpc} and HTTP ${method}`);
      }
    }
  });

  test('checkconfig: TLS or reflection for the GRPC API are refused with a message', { timeout: 60_000 }, async () => {
    const bad = await runCli(['checkconfig', '--config', writeConfig(testConfig({ grpc_api: { enabled: true, reflection: true } }))]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /grpc_api\.reflection: GRPC server reflection is not supported/);
  });
});
