/**
 * Cross-node publish-to-deliver latency and throughput: node B publishes, clients on node A
 * receive, Redis in between; the same run on one node with the memory engine for comparison.
 *
 *   node --conditions=source --import tsx packages/redis/scripts/cross-node.ts [redis-address] [clients] [messages]
 *
 * `measure()` is exported for bench/. Both nodes run in this process (separate Switchboards,
 * separate Redis connections); clients are raw WebSockets speaking the native protocol.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';

export interface CrossNodeResult {
  engine: 'memory' | 'redis';
  clients: number;
  messages: number;
  /** One publication at a time. */
  p50Ms: number;
  p99Ms: number;
  /** Under the throughput run (queueing included). */
  loadedP50Ms: number;
  loadedP99Ms: number;
  deliveriesPerSecond: number;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

async function node(options: SwitchboardOptions): Promise<{ sb: Switchboard; http: Server; url: string }> {
  const sb = createSwitchboard({ insecure: true, ...options, limits: { maxQueueBytes: 16 * 1024 * 1024 } });
  const http = createServer();
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return { sb, http, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket` };
}

async function subscriber(url: string, channel: string, onPub: (sentAt: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((r) => (subscribed = r));
  ws.on('message', (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) {
      if (line === '' || line === '{}') continue;
      const m = JSON.parse(line) as { id?: number; push?: { pub?: { data: { t: number } } } };
      if (m.id === 2) subscribed();
      const t = m.push?.pub?.data.t;
      if (t !== undefined) onPub(t);
    }
  });
  ws.send(JSON.stringify({ id: 1, connect: {} }));
  ws.send(JSON.stringify({ id: 2, subscribe: { channel } }));
  await ready;
  return ws;
}

/** Publishes `messages` from the publishing node (awaiting each, a few in flight) to `clients` subscribers on the other. */
export async function measure(opts: { engine: 'memory' | 'redis'; address?: string; clients?: number; messages?: number }): Promise<CrossNodeResult> {
  const clients = opts.clients ?? 100;
  const messages = opts.messages ?? 2000;
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const make = (): SwitchboardOptions => (opts.engine === 'redis' ? createRedisEngine({ addresses: [opts.address ?? '127.0.0.1:6379'], prefix }) : {});
  const a = await node(make());
  const b = opts.engine === 'redis' ? await node(make()) : a;
  const latencies: number[] = [];
  const channel = 'bench';
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < clients; i++) sockets.push(await subscriber(a.url, channel, (t) => latencies.push(now() - t)));
    // latency: one publication at a time, the next once every client has the previous one
    const rounds = Math.min(300, messages);
    for (let i = 0; i < rounds; i++) {
      await b.sb.publish(channel, { t: now() });
      const want = clients * (i + 1);
      while (latencies.length < want) await new Promise((r) => setImmediate(r));
    }
    latencies.sort((x, y) => x - y);
    const q = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]! * 100) / 100;
    const p50Ms = q(0.5);
    const p99Ms = q(0.99);
    latencies.length = 0;
    // throughput: `messages` publications with a few in flight
    const expected = clients * messages;
    const start = now();
    const inFlight = 8;
    let sent = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (sent < messages) {
          sent++;
          await b.sb.publish(channel, { t: now() });
        }
      }),
    );
    const end = Date.now() + 30_000;
    while (latencies.length < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    const elapsed = (now() - start) / 1000;
    latencies.sort((x, y) => x - y);
    return { engine: opts.engine, clients, messages, p50Ms, p99Ms, loadedP50Ms: q(0.5), loadedP99Ms: q(0.99), deliveriesPerSecond: Math.round(latencies.length / elapsed) };
  } finally {
    for (const s of sockets) s.terminate();
    for (const n of new Set([a, b])) {
      await n.sb.shutdown({ timeoutMs: 200 });
      n.http.closeAllConnections();
      n.http.close();
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [address = '127.0.0.1:6379', clients = '100', messages = '2000'] = process.argv.slice(2);
  for (const engine of ['memory', 'redis'] as const) {
    const r = await measure({ engine, address, clients: Number(clients), messages: Number(messages) });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
