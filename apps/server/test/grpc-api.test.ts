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

  test('checkconfig: TLS or reflection for the GRPC API are refused with a message', { timeout: 60_000 }, async () => {
    const bad = await runCli(['checkconfig', '--config', writeConfig(testConfig({ grpc_api: { enabled: true, reflection: true } }))]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /grpc_api\.reflection: GRPC server reflection is not supported/);
  });
});
