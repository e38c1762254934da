import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { once, token, until } from '../../server/test/helpers.js';
import { sdkOver } from '../../server/test/http-transport-helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const SECRET = 'test-secret-key-for-hs256-signing';

interface Node {
  sb: Switchboard;
  port: number;
  close(): Promise<void>;
}

/** A node on Redis serving the HTTP transports; every emulation response closes its TCP connection, so the client's next request is balanced anew. */
async function node(prefix: string, name: string): Promise<Node> {
  const sb = createSwitchboard({
    ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }),
    name,
    token: { hmacSecret: SECRET },
    namespaces: { chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true, historySize: 500, historyTtlMs: 60_000, forceRecovery: true } },
  });
  const http = createServer((_req, res) => res.writeHead(404).end());
  for (const transport of ['http_stream', 'sse', 'emulation'] as const) sb.attach(http, { transport });
  http.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/emulation') === true) res.setHeader('Connection', 'close');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return {
    sb,
    port: (http.address() as AddressInfo).port,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** A TCP balancer: each connection goes to a random node (no stickiness of any kind). */
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

/** The official Protobuf SDK over HTTP-streaming (its commands go to /emulation as Protobuf EmulationRequests). */
function pbOver(base: string, options: Record<string, unknown>): CentrifugeProtobuf {
  return new CentrifugeProtobuf([{ transport: 'http_stream', endpoint: `${base}/connection/http_stream` }], {
    emulationEndpoint: `${base}/emulation`,
    fetch: globalThis.fetch,
    readableStream: globalThis.ReadableStream,
    minReconnectDelay: 50,
    maxReconnectDelay: 300,
    timeout: 5000,
    ...options,
  });
}

type AnySub = { publish(data: unknown): Promise<unknown>; on(e: 'publication', f: (p: { data: unknown }) => void): unknown; ready(ms: number): Promise<void> };

test('two nodes on Redis behind a random TCP balancer: SSE, HTTP-streaming and Protobuf HTTP-streaming clients subscribe, publish and receive everything once, in order', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('httptransports');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  const lb = await balancer([a.port, b.port]);
  const clients: (Centrifuge | CentrifugeProtobuf)[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await lb.close();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  // Each node knows the other (announcements) before clients come.
  await until(async () => (await a.sb.info()).nodes.length === 2 && (await b.sb.info()).nodes.length === 2, 10_000, 'both nodes known');

  // Which kinds of request were routed to the other node (JSON and Protobuf emulation requests).
  const routedKinds = new Set<string>();
  for (const n of [a, b]) {
    const deliver = n.sb.router.deliver.bind(n.sb.router);
    n.sb.router.deliver = (kind, to, session, data, opts) => {
      if (to !== n.sb.router.nodeId) routedKinds.add(kind);
      return deliver(kind, to, session, data, opts);
    };
  }

  const base = `http://127.0.0.1:${lb.port}`;
  const users = ['sse-1', 'sse-2', 'stream-1', 'stream-2', 'pb-1', 'pb-2'];
  const subs: AnySub[] = [];
  const pb: boolean[] = [];
  const got: number[][] = [];
  for (const user of users) {
    const isPb = user.startsWith('pb');
    const opts = { token: await token({ sub: user }) };
    const c = isPb ? pbOver(base, opts) : sdkOver(base, user.startsWith('sse') ? 'sse' : 'http_stream', opts);
    clients.push(c);
    const ready = once(c, 'connected', 10_000);
    c.connect();
    await ready;
    const sub = c.newSubscription('chat:lb');
    const mine: number[] = [];
    // Protobuf clients get the JSON text's bytes.
    sub.on('publication', (p: { data: unknown }) => mine.push((isPb ? (JSON.parse(new TextDecoder().decode(p.data as Uint8Array)) as { n: number }) : (p.data as { n: number })).n));
    sub.subscribe();
    await sub.ready(10_000);
    subs.push(sub);
    pb.push(isPb);
    got.push(mine);
  }
  // Every client publishes through the emulation endpoint (each request to a random node), one after another.
  const N = 42;
  for (let n = 1; n <= N; n++) {
    const i = n % subs.length;
    await subs[i]!.publish(pb[i] ? new TextEncoder().encode(JSON.stringify({ n })) : { n });
  }
  await until(() => got.every((g) => g.length >= N), 20_000, 'every publication at every client');
  const want = Array.from({ length: N }, (_, i) => i + 1);
  for (const g of got) assert.deepEqual(g, want, 'each publication once, in order');
  // Some of those requests landed on the node not holding the session and were routed there.
  assert.ok(a.sb.router.routedOut + b.sb.router.routedOut > 0, 'requests were routed between nodes');
  assert.equal(a.sb.router.routedOut, b.sb.router.routedIn);
  assert.equal(b.sb.router.routedOut, a.sb.router.routedIn);
  assert.ok(lb.perNode.every((n) => n > 0), 'the balancer used both nodes');
  assert.deepEqual([...routedKinds].sort(), ['centrifuge.emulation', 'centrifuge.emulation.protobuf'], 'JSON and Protobuf requests were routed');

  // Streams cut on both nodes: the clients reconnect through the balancer (maybe to the other
  // node) and recover what was published meanwhile.
  const recovered = subs.map((s) => once<{ recovered: boolean }>(s as Subscription, 'subscribed', 20_000));
  for (const n of [a, b]) for (const conn of [...n.sb.liveConnections()]) conn.transport.terminate();
  for (let n = N + 1; n <= N + 5; n++) await a.sb.publish('chat:lb', { n });
  for (const r of recovered) assert.equal((await r).recovered, true);
  await until(() => got.every((g) => g.length >= N + 5), 20_000, 'the recovered publications');
  for (const g of got) assert.deepEqual(g, Array.from({ length: N + 5 }, (_, i) => i + 1), 'nothing lost or repeated across the reconnect');
});
