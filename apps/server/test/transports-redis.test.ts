/**
 * Two standalone servers on one Redis behind a TCP balancer that sends every connection to a
 * random node, with no sticky sessions: the SDK over SSE and over HTTP-streaming (each request on
 * a connection of its own, so every emulation request is balanced anew) subscribes, publishes and
 * receives everything once, in order.
 */
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge, Subscription } from 'centrifuge';
import { api, once, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';
import { sdkOver } from '../../../packages/server/test/http-transport-helpers.js';

const REDIS = { host: '127.0.0.1', port: 6379 };

function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(REDIS, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(2000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

const up = await redisUp();
const skip = !up && process.env['CI'] !== 'true' ? 'Redis is not running on 127.0.0.1:6379' : false;

async function balancer(ports: number[]): Promise<{ port: number; perNode: number[]; close(): Promise<void> }> {
  const perNode = ports.map(() => 0);
  const sockets = new Set<Socket>();
  const srv = createTcpServer((client) => {
    const i = Math.floor(Math.random() * ports.length);
    perNode[i]!++;
    const upstream = connect(ports[i]!, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    perNode,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** The SDK's fetch, on a new connection for every request (`Connection: close`): no connection reuse can make a request sticky. */
const freshFetch: typeof fetch = (input, init = {}) => fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), connection: 'close' } });

test('two standalone nodes on Redis behind a random balancer: SSE and HTTP-streaming clients get everything once, in order', { skip, timeout: 120_000 }, async () => {
  assert.ok(up, 'Redis is not running on 127.0.0.1:6379 (CI=true: this suite must run)');
  const prefix = `sbtest-${randomBytes(4).toString('hex')}`;
  const config = writeConfig(testConfig({ engine: { type: 'redis', redis: { address: `${REDIS.host}:${REDIS.port}`, prefix } }, http_stream: { enabled: true }, sse: { enabled: true } }));
  const [a, b] = await Promise.all([startServerProcess(config), startServerProcess(config)]);
  const lb = await balancer([a.port, b.port]);
  const clients: Centrifuge[] = [];
  try {
    // Each node knows the other before clients come (node announcements over Redis).
    await until(
      async () => {
        const infos = await Promise.all([a, b].map((n) => api(n.base, 'info', {})));
        return infos.every((i) => (i.json as { result?: { nodes: unknown[] } }).result?.nodes.length === 2);
      },
      15_000,
      'both nodes known to each other',
    );
    const base = `http://127.0.0.1:${lb.port}`;
    const subs: Subscription[] = [];
    const got: number[][] = [];
    for (const user of ['sse-1', 'stream-1', 'sse-2', 'stream-2']) {
      const c = sdkOver(base, user.startsWith('sse') ? 'sse' : 'http_stream', { token: await signToken(user), fetch: freshFetch });
      clients.push(c);
      const ready = once(c, 'connected', 15_000);
      c.connect();
      await ready;
      const sub = c.newSubscription('chat:balanced');
      const mine: number[] = [];
      sub.on('publication', (p) => mine.push((p.data as { n: number }).n));
      sub.subscribe();
      await sub.ready(15_000);
      subs.push(sub);
      got.push(mine);
    }
    const N = 30;
    for (let n = 1; n <= N; n++) await subs[n % subs.length]!.publish({ n });
    await until(() => got.every((g) => g.length >= N), 20_000, 'every publication at every client');
    for (const g of got) assert.deepEqual(g, Array.from({ length: N }, (_, i) => i + 1), 'each publication once, in order');
    assert.ok(lb.perNode.every((n) => n > 0), 'the balancer used both nodes');
  } finally {
    for (const c of clients) c.disconnect();
    await lb.close();
    await Promise.all([a.stop(), b.stop()]);
  }
});
