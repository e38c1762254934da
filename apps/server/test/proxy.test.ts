import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcBackend, HttpBackend, waitFor, type BackendCall } from '@switchboard/server/testing';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { API_KEY, once, runCli, sdk, startServerProcess, type ServerProcess, writeConfig } from './helpers.js';

/** A port nothing listens on (taken, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A raw Centrifugo-protocol JSON WebSocket client (the SDK would reconnect after 3005). */
async function rawClient(url: string, headers: Record<string, string>) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
  const messages: Record<string, unknown>[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.on('message', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line !== '') messages.push(JSON.parse(line) as Record<string, unknown>);
  });
  ws.on('close', (code: number, reason: Buffer) => (closed = { code, reason: reason.toString() }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    send: (v: unknown) => ws.send(JSON.stringify(v)),
    async next(pred: (m: Record<string, unknown>) => boolean, ms = 10_000): Promise<Record<string, unknown>> {
      let found: Record<string, unknown> | undefined;
      await waitFor(() => (found = messages.find(pred)) !== undefined, ms, 'a message');
      messages.splice(messages.indexOf(found!), 1);
      return found!;
    },
    async closed(ms = 15_000) {
      await waitFor(() => closed !== undefined, ms, 'close');
      return closed!;
    },
    close: () => ws.terminate(),
  };
}

/** A Centrifugo v6 configuration using proxies, as a Centrifugo user would have written it. */
function centrifugoConfig(backendPort: number, grpcPort: number, deadPort: number): Record<string, unknown> {
  const base = `http://127.0.0.1:${backendPort}`;
  return {
    http_api: { key: API_KEY },
    log: { level: 'info' },
    shutdown: { timeout: '5s' },
    client: {
      allowed_origins: ['http://localhost:3000'],
      proxy: {
        connect: { enabled: true, endpoint: `${base}/centrifugo/connect`, timeout: '1s', http_headers: ['Cookie', 'Origin', 'User-Agent'] },
        refresh: { enabled: true, endpoint: `${base}/centrifugo/refresh`, timeout: '1s' },
      },
    },
    channel: {
      proxy: {
        subscribe: { endpoint: `${base}/centrifugo/subscribe`, timeout: '1s' },
        publish: { endpoint: `${base}/centrifugo/publish`, timeout: '1s', include_connection_meta: true },
        sub_refresh: { endpoint: `${base}/centrifugo/sub_refresh`, timeout: '1s' },
      },
      without_namespace: { subscribe_proxy_enabled: true },
      namespaces: [
        { name: 'chat', presence: true, allow_presence_for_subscriber: true, subscribe_proxy_enabled: true, publish_proxy_enabled: true },
        { name: 'ns2', subscribe_proxy_enabled: true, subscribe_proxy_name: 'subscribe2' },
        { name: 'viagrpc', subscribe_proxy_enabled: true, subscribe_proxy_name: 'grpc1' },
        { name: 'timed', subscribe_proxy_enabled: true, sub_refresh_proxy_enabled: true },
        { name: 'dead', subscribe_proxy_enabled: true, subscribe_proxy_name: 'deadone' },
      ],
    },
    proxies: [
      { name: 'subscribe2', endpoint: `${base}/centrifugo/subscribe2`, http: { static_headers: { 'X-Api-Key': 'k1' } } },
      { name: 'grpc1', endpoint: `grpc://127.0.0.1:${grpcPort}`, timeout: '2s', grpc: { credentials_key: 'x-token', credentials_value: 't1' }, grpc_metadata: ['authorization'] },
      { name: 'deadone', endpoint: `http://127.0.0.1:${deadPort}/centrifugo/subscribe`, timeout: '1s' },
    ],
    rpc: {
      proxy: { endpoint: `${base}/centrifugo/rpc` },
      without_namespace: { proxy_enabled: true },
      namespaces: [{ name: 'billing', proxy_enabled: true, proxy_name: 'default' }],
    },
  };
}

const now = () => Math.floor(Date.now() / 1000);
/** Refresh and sub refresh calls so far, per client (and channel): the first extends, the second ends. */
const refreshCount = new Map<string, number>();
const counted = (key: string) => {
  const n = (refreshCount.get(key) ?? 0) + 1;
  refreshCount.set(key, n);
  return n;
};

function answer(call: BackendCall): unknown {
  const b = call.body;
  switch (call.path) {
    case '/centrifugo/connect':
      if (call.headers['cookie'] === 'session=banned') return { disconnect: { code: 4501, reason: 'banned' } };
      if (call.headers['cookie'] === 'session=expiring') return { result: { user: 'u-expiring', expire_at: now() + 2 } };
      return { result: { user: 'u-' + String(call.headers['cookie'] ?? 'none').replace('session=', ''), info: { plan: 'pro' } } };
    case '/centrifugo/refresh':
      return counted(String(b['client'])) === 1 ? { result: { expire_at: now() + 2 } } : { result: { expired: true } };
    case '/centrifugo/sub_refresh':
      return counted(`${String(b['client'])} ${String(b['channel'])}`) === 1 ? { result: { expire_at: now() + 2 } } : { result: { expired: true } };
    case '/centrifugo/subscribe':
      if (String(b['channel']).startsWith('timed:')) return { result: { expire_at: now() + 2 } };
      return b['channel'] === 'chat:secret' ? { error: { code: 403, message: 'permission denied' } } : { result: { info: { seat: 1 } } };
    case '/centrifugo/subscribe2':
      return { result: {} };
    case '/centrifugo/publish':
      return { result: { data: { wrapped: b['data'] } } };
    case '/centrifugo/rpc':
      return { result: { data: { method: b['method'], echo: b['data'] } } };
  }
  return { status: 404 };
}

describe('standalone server: a Centrifugo v6 configuration with proxies', () => {
  let backend: HttpBackend;
  let grpcBackend: GrpcBackend;
  let server: ServerProcess;
  let config: string;
  let deadPort = 0;

  before(async () => {
    backend = await new HttpBackend(answer).start();
    grpcBackend = await new GrpcBackend((call) => (call.body['channel'] === 'viagrpc:no' ? { error: { code: 1403, message: 'grpc says no' } } : { result: {} })).start();
    deadPort = await freePort();
    config = writeConfig(centrifugoConfig(backend.port, grpcBackend.port, deadPort));
    server = await startServerProcess(config);
  });
  after(async () => {
    await server?.stop();
    await backend?.close();
    await grpcBackend?.close();
  });

  test('checkconfig loads it unchanged; a proxy name that is not defined is refused, naming the key', { timeout: 90_000 }, async () => {
    const ok = await runCli(['checkconfig', '--config', config]);
    assert.equal(ok.code, 0, ok.stderr);
    const broken = centrifugoConfig(backend.port, grpcBackend.port, deadPort);
    ((broken['channel'] as Record<string, unknown>)['namespaces'] as Record<string, unknown>[])[1]!['subscribe_proxy_name'] = 'nope';
    const bad = await runCli(['checkconfig', '--config', writeConfig(broken)]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /channel\.namespaces\[1\]\.subscribe_proxy_name: proxy "nope" is not defined in proxies/);
    // grpc_metadata loads, and the running server says it forwards nothing (no GRPC client transport)
    const warned = server.logs.find((l) => l['proxy'] === 'grpc1' && String(l['msg']).startsWith('grpc_metadata forwards nothing'));
    assert.ok(warned, 'a warning names the proxy');
  });

  test('the SDK connects without a token (cookie forwarded), subscribes, publishes and calls RPC through the backend', { timeout: 60_000 }, async () => {
    const { default: WebSocket } = await import('ws');
    class CookieWs extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { cookie: 'session=alice', 'x-not-listed': 'secret' } });
      }
    }
    const c = sdk(server.wsUrl, { websocket: CookieWs });
    try {
      const connected = once<{ client: string }>(c, 'connected');
      c.connect();
      const ctx = await connected;
      const connectCall = backend.callsTo('/centrifugo/connect').find((x) => x.body['client'] === ctx.client)!;
      assert.equal(connectCall.headers['cookie'], 'session=alice');
      assert.equal(connectCall.headers['x-not-listed'], undefined);

      const sub = c.newSubscription('chat:room');
      const got: unknown[] = [];
      sub.on('publication', (p) => got.push(p.data));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
      const presence = await sub.presence();
      assert.deepEqual(presence.clients[ctx.client]?.connInfo, { plan: 'pro' });
      assert.equal(presence.clients[ctx.client]?.user, 'u-alice');
      assert.deepEqual(presence.clients[ctx.client]?.chanInfo, { seat: 1 });
      await sub.publish({ text: 'hi' });
      await waitFor(() => got.length === 1, 5000, 'the rewritten publication');
      assert.deepEqual(got, [{ wrapped: { text: 'hi' } }]);

      const denied = c.newSubscription('chat:secret');
      const unsub = once<{ code: number }>(denied, 'unsubscribed');
      denied.subscribe();
      assert.equal((await unsub).code, 403);

      const other = c.newSubscription('ns2:x');
      const ok2 = once(other, 'subscribed');
      other.subscribe();
      await ok2;
      assert.equal(backend.callsTo('/centrifugo/subscribe2')[0]?.headers['x-api-key'], 'k1');

      const viaGrpc = c.newSubscription('viagrpc:yes');
      const ok3 = once(viaGrpc, 'subscribed');
      viaGrpc.subscribe();
      await ok3;
      assert.equal(grpcBackend.callsTo('subscribe')[0]?.metadata['x-token'], 't1');
      const grpcNo = c.newSubscription('viagrpc:no');
      const refused = once<{ code: number }>(grpcNo, 'unsubscribed');
      grpcNo.subscribe();
      assert.equal((await refused).code, 1403);

      assert.deepEqual((await c.rpc('billing:charge', { amount: 5 })).data, { method: 'billing:charge', echo: { amount: 5 } });
      assert.deepEqual((await c.rpc('plain', [1])).data, { method: 'plain', echo: [1] });

      const metrics = await (await fetch(`${server.base}/metrics`)).text();
      assert.match(metrics, /switchboard_proxy_calls_total\{[^}]*protocol="http",type="connect",name="default"[^}]*\} [1-9]/);
    } finally {
      c.disconnect();
    }
  });

  test('a declined connect closes with the backend\'s code; refresh proxy extends then ends a connection (3005); sub_refresh extends then ends a subscription (2501); a dead backend is 100 and counted', { timeout: 60_000 }, async () => {
    const conn = await rawClient(server.wsUrl, { cookie: 'session=expiring' });
    const timed = await rawClient(server.wsUrl, { cookie: 'session=bob' });
    const banned = await rawClient(server.wsUrl, { cookie: 'session=banned' });
    try {
      banned.send({ id: 1, connect: {} });
      assert.deepEqual(await banned.closed(), { code: 4501, reason: 'banned' }, 'a declined connect closes with the backend\'s code');

      conn.send({ id: 1, connect: {} });
      const reply = (await conn.next((m) => m['id'] === 1))['connect'] as Record<string, unknown>;
      assert.equal(reply['expires'], undefined, 'the server refreshes, the client is not asked');

      timed.send({ id: 1, connect: {} });
      const timedClient = ((await timed.next((m) => m['id'] === 1))['connect'] as Record<string, unknown>)['client'];
      timed.send({ id: 2, subscribe: { channel: 'timed:1' } });
      assert.ok((await timed.next((m) => m['id'] === 2))['subscribe'], 'subscribed');
      timed.send({ id: 3, subscribe: { channel: 'dead:1' } });
      assert.deepEqual((await timed.next((m) => m['id'] === 3))['error'], { code: 100, message: 'internal server error', temporary: true });

      const unsub = await timed.next((m) => (m['push'] as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined, 15_000);
      assert.deepEqual(unsub['push'], { channel: 'timed:1', unsubscribe: { code: 2501, reason: 'subscription expired' } });
      assert.equal(backend.callsTo('/centrifugo/sub_refresh').filter((x) => x.body['client'] === timedClient).length, 2, 'extended once, then expired');

      assert.equal((await conn.closed()).code, 3005);
      const refreshes = backend.callsTo('/centrifugo/refresh').filter((x) => x.body['client'] === reply['client']);
      assert.equal(refreshes.length, 2, 'extended once, then expired');
      assert.equal(refreshes[0]!.body['user'], 'u-expiring');

      const metrics = await (await fetch(`${server.base}/metrics`)).text();
      assert.match(metrics, /switchboard_proxy_errors_total\{[^}]*type="subscribe",name="deadone"[^}]*\} 1\b/);
      assert.match(metrics, /switchboard_proxy_calls_total\{[^}]*type="sub_refresh",name="default"[^}]*\} [2-9]/);
      assert.match(metrics, /switchboard_proxy_calls_total\{[^}]*type="refresh",name="default"[^}]*\} [2-9]/);
    } finally {
      conn.close();
      timed.close();
      banned.close();
    }
  });
});
