/**
 * Measures the parameters of the capacity model in docs/scaling.md on a three-node loopback run:
 * three standalone servers (`switchboard serve`, each its own process) on a Redis of this script's
 * own (a fresh redis-server on a free port, so its CPU is only ours), C WebSocket clients
 * (native protocol, JSON) in this process, publications through the HTTP API at a fixed rate,
 * round robin over the nodes. CPU time (not wall time) of every node process and of Redis is read
 * before and after each run, from /proc and INFO cpu.
 *
 * Runs A, B, C (different mixes of publications, fan-out and channels) calibrate the per-node
 * costs (µs per API publication, per publication received from Redis, per delivery) and Redis's
 * (µs per publication, per message sent to a node) by least squares; run D, a mix not used for
 * the fit, is predicted from them and measured.
 *
 *   node --conditions=source --import tsx packages/redis/scripts/capacity.ts [--clients 3000] [--seconds 8]
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { API_KEY, type NodeProcess, RedisProcess, startNodes } from '../test/cluster.js';
import { token } from '../test/sdk.js';

interface Mix {
  name: string;
  channels: number;
  publicationsPerSecond: number;
  /** Publish to channels nobody subscribes to (the API and Redis write cost alone). */
  unsubscribed?: boolean;
}

interface Measured {
  mix: string;
  clients: number;
  channels: number;
  publications: number;
  deliveries: number;
  expectedDeliveries: number;
  /** Clients the server closed during the run (a slow pong under load): their deliveries are missing. */
  closedByServer: number;
  seconds: number;
  /** Per node: [API publications, publications received from Redis, deliveries, CPU µs]. */
  nodes: [number, number, number, number][];
  /** Per node, CPU µs per second with no publications (pings, presence refresh, node announcements, GC) for this many clients. */
  idleUsPerSecond: number[];
  /** [publications, messages Redis sent to nodes, CPU µs]. */
  redis: [number, number, number];
}

const HZ = 100; // clock ticks per second in /proc/<pid>/stat (Linux USER_HZ)

function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / HZ) * 1e6; // utime + stime
}

async function redisCpuUs(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)![1]);
  return (v('used_cpu_user') + v('used_cpu_sys')) * 1e6;
}

/** A client: connects with a token, subscribes to one channel, counts the publications it gets. */
async function client(url: string, user: string, channel: string, counter: { n: number; closed: number }): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((r) => (subscribed = r));
  ws.on('close', (code: number) => {
    if (code !== 1005 && code !== 1006) counter.closed++; // closed by the server (1005/1006: by us, at the end)
  });
  ws.on('message', (buf: Buffer) => {
    const s = buf.toString();
    if (s === '{}' || s.startsWith('{}\n') || s.includes('\n{}')) ws.send('{}'); // the server's ping: pong, or it disconnects us
    if (s.includes('"id":2')) subscribed();
    for (let i = s.indexOf('"pub":'); i >= 0; i = s.indexOf('"pub":', i + 6)) counter.n++;
  });
  ws.send(`${JSON.stringify({ id: 1, connect: { token: await token(user) } })}\n${JSON.stringify({ id: 2, subscribe: { channel } })}`);
  await ready;
  return ws;
}

export async function run(nodes: NodeProcess[], redis: Redis, clients: number, mix: Mix, seconds: number): Promise<Measured> {
  const tag = `${mix.name}-${Date.now()}`;
  const channelOf = (j: number) => `chat:${tag}-${j % mix.channels}`;
  // each client on a random node: a channel with f subscribers has them on up to three nodes
  const home = Array.from({ length: clients }, () => Math.floor(Math.random() * nodes.length));
  const counter = { n: 0, closed: 0 };
  const sockets: WebSocket[] = [];
  for (let j = 0; j < clients; j += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, clients - j) }, (_, k) => client(nodes[home[j + k]!]!.ws, `u${j + k}`, channelOf(j + k), counter)))));
  }
  // which nodes hold subscribers of each channel (each publication reaches each of them once)
  const holders = new Map<number, Set<number>>();
  for (let j = 0; j < clients; j++) {
    const c = j % mix.channels;
    if (!holders.has(c)) holders.set(c, new Set());
    holders.get(c)!.add(home[j]!);
  }
  const subscribers = (c: number) => Math.floor(clients / mix.channels) + (c < clients % mix.channels ? 1 : 0);
  await new Promise((r) => setTimeout(r, 1000)); // joins and subscribe traffic settle
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const api = nodes.map(() => 0);
  const fromRedis = nodes.map(() => 0);
  const deliveriesPer = nodes.map(() => 0);
  let expected = 0;
  let sent = 0;
  let failures = 0;
  const publish = (i: number): Promise<void> => {
    const n = i % nodes.length;
    const c = Math.floor(Math.random() * mix.channels);
    api[n]!++;
    if (!mix.unsubscribed) {
      for (const h of holders.get(c) ?? []) fromRedis[h]!++;
      expected += subscribers(c);
      for (let j = c; j < clients; j += mix.channels) deliveriesPer[home[j]!]!++;
    }
    const body = JSON.stringify({ channel: `chat:${tag}-${mix.unsubscribed ? 'none-' : ''}${c}`, data: { i, p: 'x'.repeat(48) } });
    return new Promise<void>((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: nodes[n]!.port, path: '/api/publish', method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          if (res.statusCode !== 200) failures++;
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end(body);
    });
  };
  // idle: what the connections cost without publications (subtracted before the fit)
  const idle0 = nodes.map((n) => cpuUs(n.proc.pid!));
  const ti = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const idleUsPerSecond = nodes.map((n, k) => Math.round((cpuUs(n.proc.pid!) - idle0[k]!) / ((performance.now() - ti) / 1000)));
  const cpu0 = nodes.map((n) => cpuUs(n.proc.pid!));
  const r0 = await redisCpuUs(redis);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  // paced: every 10 ms, the publications due by then
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * mix.publicationsPerSecond);
    while (sent < due) pending.push(publish(sent++));
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  // drain: until the count stands still
  for (let last = -1, still = 0; still < 5; ) {
    await new Promise((r) => setTimeout(r, 100));
    still = counter.n === last ? still + 1 : 0;
    last = counter.n;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = nodes.map((n) => cpuUs(n.proc.pid!));
  const r1 = await redisCpuUs(redis);
  agent.destroy();
  for (const s of sockets) s.terminate();
  if (failures > 0) throw new Error(`${failures} publish requests failed`);
  return {
    mix: mix.name,
    clients,
    channels: mix.channels,
    publications: sent,
    deliveries: counter.n,
    expectedDeliveries: expected,
    closedByServer: counter.closed,
    seconds: Math.round(elapsed * 100) / 100,
    nodes: nodes.map((_, k) => [api[k]!, fromRedis[k]!, deliveriesPer[k]!, Math.round(cpu1[k]! - cpu0[k]!)]),
    idleUsPerSecond,
    redis: [sent, fromRedis.reduce((a, b) => a + b, 0), Math.round(r1 - r0)],
  };
}

/** Least squares for x in A x = b (normal equations, Gaussian elimination; A is small). */
export function leastSquares(rows: number[][], b: number[]): number[] {
  const k = rows[0]!.length;
  const m = Array.from({ length: k }, (_, i) => [...Array.from({ length: k }, (_, j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)), rows.reduce((s, r, n) => s + r[i]! * b[n]!, 0)]);
  for (let i = 0; i < k; i++) {
    let p = i;
    for (let r = i + 1; r < k; r++) if (Math.abs(m[r]![i]!) > Math.abs(m[p]![i]!)) p = r;
    [m[i], m[p]] = [m[p]!, m[i]!];
    for (let r = 0; r < k; r++) {
      if (r === i) continue;
      const f = m[r]![i]! / m[i]![i]!;
      for (let c = i; c <= k; c++) m[r]![c]! -= f * m[i]![c]!;
    }
  }
  return m.map((row, i) => row[k]! / row[i]!);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '3000' }, seconds: { type: 'string', default: '8' } } });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const server = await RedisProcess.start();
  const redis = new Redis({ host: '127.0.0.1', port: server.port });
  // presence refresh every 20 s (TTL 600 s): at most one refresh falls in a run; history and join/leave on (namespace chat)
  // pings every 25 s (Centrifugo's default): a loaded client process then keeps its connections
  const nodes = await startNodes({ addresses: [server.address], prefix: 'cap', presenceTtlMs: 600_000, ping: { interval: '25s', pongTimeout: '8s' } }, ['A', 'B', 'C']);
  const out: Measured[] = [];
  try {
    const mixes: Mix[] = [
      { name: 'E', channels: 1000, publicationsPerSecond: 300, unsubscribed: true }, // API and Redis write only
      { name: 'B', channels: 20, publicationsPerSecond: 100 }, // f = clients/20: deliveries dominate
      { name: 'C', channels: clients / 3, publicationsPerSecond: 300 }, // f = 3: publications received dominate
      { name: 'D', channels: 100, publicationsPerSecond: 200 }, // f = clients/100: predicted, then measured
    ];
    for (const mix of mixes) {
      const m = await run(nodes, redis, clients, mix, seconds);
      out.push(m);
      process.stderr.write(`${JSON.stringify(m)}\n`);
    }
    const fit = out.filter((m) => m.mix !== 'D');
    // the CPU of a run minus its idle share, per node
    const busy = (m: Measured, k: number) => m.nodes[k]![3] - m.idleUsPerSecond[k]! * m.seconds;
    const node = leastSquares(
      fit.flatMap((m) => m.nodes.map(([a, r, d]) => [a, r, d])),
      fit.flatMap((m) => m.nodes.map((_, k) => busy(m, k))),
    );
    const red = leastSquares(
      fit.map((m) => [m.redis[0], m.redis[1]]),
      fit.map((m) => m.redis[2]),
    );
    const d = out.find((m) => m.mix === 'D')!;
    const predictedNodes = d.nodes.map(([a, r, dl], k) => Math.round(node[0]! * a + node[1]! * r + node[2]! * dl + d.idleUsPerSecond[k]! * d.seconds));
    const predictedRedis = Math.round(red[0]! * d.redis[0] + red[1]! * d.redis[1]);
    process.stdout.write(
      `${JSON.stringify({
        runs: out,
        nodeUs: { perApiPublication: +node[0]!.toFixed(1), perPublicationFromRedis: +node[1]!.toFixed(1), perDelivery: +node[2]!.toFixed(2), idlePerClientPerSecond: +(out.flatMap((m) => m.idleUsPerSecond).reduce((a, b) => a + b, 0) / out.length / clients).toFixed(2) },
        redisUs: { perPublication: +red[0]!.toFixed(2), perMessageToANode: +red[1]!.toFixed(2) },
        check: { mix: 'D', nodesCpuUs: { predicted: predictedNodes, measured: d.nodes.map((n) => n[3]) }, redisCpuUs: { predicted: predictedRedis, measured: d.redis[2] } },
      })}\n`,
    );
  } finally {
    redis.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
    await server.stop();
  }
}
