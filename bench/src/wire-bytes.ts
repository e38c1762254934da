/**
 * `npm run bench -- --scenario wire-bytes [--n 1000,5000] [--pubs 200]`: fan-out in the native
 * protocol's JSON and Protobuf encodings, with and without fossil delta, side by side: bytes per
 * delivery (WebSocket payload bytes the clients received, divided by deliveries) and server CPU
 * per delivery (the server child's user+system CPU over the publishing window, divided by
 * deliveries). One channel, N subscribers, `pubs` publications of a ~1 KB document that changes a
 * few fields each time (the case delta is for), published from app code at a paced rate.
 * The server runs in a child process so the clients' CPU is not counted against it.
 * Each run is written to `bench/results/wire-bytes-<date>.json` (with the commit and the load
 * average, as every result) unless `--no-save`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import protobuf from 'protobufjs';
import { endMeta, metaLine, runMeta, type RunMeta } from './meta.js';

const SECRET = 'bench-wire-bytes-secret-0123456789';
const CHANNEL = 'doc:prices';

function doc(i: number): Record<string, unknown> {
  return {
    id: 'instrument-42',
    seq: i,
    price: 100 + (i % 7) * 0.25,
    volume: 1000 + i,
    book: Array.from({ length: 20 }, (_, k) => ({ level: k, bid: 99 - k * 0.05, ask: 101 + k * 0.05, size: 10 * (k + 1) + (k === i % 20 ? i : 0) })),
  };
}

// ─────────── the server child ───────────

async function child(): Promise<void> {
  const { createSwitchboard } = await import('@switchboard/server');
  const sb = createSwitchboard({
    token: { hmacSecret: SECRET },
    limits: { maxConnections: 100_000, maxQueueBytes: 64 * 1024 * 1024 },
    namespaces: { doc: { allowSubscribeForClient: true, allowedDeltaTypes: ['fossil'], deltaPublish: true } },
  });
  const http = createServer();
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  const send = (m: unknown) => process.send!(m);
  process.on('message', (m: { op: string; pubs?: number; rate?: number }) => {
    void (async () => {
      if (m.op === 'publish') {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const interval = 1000 / m.rate!;
        for (let i = 0; i < m.pubs!; i++) {
          await sb.publish(CHANNEL, doc(i));
          const due = t0 + (i + 1) * interval;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        // Let the last flushes go out before reading the CPU.
        await new Promise((r) => setTimeout(r, 50));
        const cpu = process.cpuUsage(cpu0);
        return send({ op: 'published', cpuUs: cpu.user + cpu.system, ms: performance.now() - t0 });
      }
      if (m.op === 'stop') {
        await sb.shutdown({ timeoutMs: 500 });
        http.closeAllConnections();
        process.exit(0);
      }
    })();
  });
  send({ op: 'ready', port: (http.address() as AddressInfo).port });
}

// ─────────── the orchestrator and its clients ───────────

function request<T>(c: ChildProcess, msg: object, op: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { op: string }) => {
      if (m.op !== op) return;
      c.off('message', on);
      resolve(m as T);
    };
    c.on('message', on);
    c.send(msg);
  });
}

const root = protobuf.Root.fromJSON({
  nested: {
    Reply: { fields: { id: { id: 1, type: 'uint32' } } },
    Command: { fields: { id: { id: 1, type: 'uint32' }, connect: { id: 4, type: 'ConnectRequest' }, subscribe: { id: 5, type: 'SubscribeRequest' } } },
    ConnectRequest: { fields: { token: { id: 1, type: 'string' } } },
    SubscribeRequest: { fields: { channel: { id: 1, type: 'string' }, delta: { id: 12, type: 'string' } } },
  },
});
const Command = root.lookupType('Command');
const Reply = root.lookupType('Reply');

/** How many replies (here: publication pushes) a message holds. */
function countReplies(d: Buffer, isProtobuf: boolean): number {
  if (!isProtobuf) {
    let n = 0;
    for (let i = d.indexOf('{"push"'); i >= 0; i = d.indexOf('{"push"', i + 7)) n++;
    return n;
  }
  let n = 0;
  const r = protobuf.Reader.create(d);
  while (r.pos < r.len) {
    r.skip(r.uint32());
    n++;
  }
  return n;
}

/** Whether a message holds the reply to command `id` (JSON lines or delimited Protobuf replies). */
function hasReply(d: Buffer, isProtobuf: boolean, id: number): boolean {
  if (!isProtobuf) return d.toString().split('\n').some((l) => l.startsWith(`{"id":${id},`));
  const r = protobuf.Reader.create(d);
  while (r.pos < r.len) if ((Reply.decodeDelimited(r) as unknown as { id: number }).id === id) return true;
  return false;
}

export interface Variant {
  name: string;
  protobuf: boolean;
  delta: boolean;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'JSON', protobuf: false, delta: false },
  { name: 'Protobuf', protobuf: true, delta: false },
  { name: 'JSON + delta', protobuf: false, delta: true },
  { name: 'Protobuf + delta', protobuf: true, delta: true },
];

export interface WireBytesConfig {
  /** Subscriber counts. */
  sizes: number[];
  /** Publications per variant and size. */
  pubs: number;
  /** Publications per second (paced, the same for every variant). */
  rate: number;
  /** How long to wait for the last deliveries after publishing, per variant and size. */
  drainTimeoutMs: number;
}

export interface WireBytesRow {
  n: number;
  encoding: string;
  protobuf: boolean;
  delta: boolean;
  /** n × pubs. */
  expected: number;
  /** Publication pushes the clients received. */
  delivered: number;
  /** WebSocket payload bytes the clients received after their subscribe replies. */
  bytes: number;
  bytesPerDelivery: number;
  /** The server child's user+system CPU over the publishing window. */
  cpuUs: number;
  cpuUsPerDelivery: number;
}

export interface WireBytesResult {
  scenario: 'wire-bytes';
  meta: RunMeta;
  config: WireBytesConfig;
  rows: WireBytesRow[];
}

export const WIRE_BYTES_DEFAULTS: WireBytesConfig = { sizes: [1000, 5000], pubs: 200, rate: 20, drainTimeoutMs: 60_000 };

/** One client: connect + subscribe in one message; counts payload bytes and publications after its subscribe reply. */
async function openClient(url: string, v: Variant, tok: string, stats: { bytes: number; messages: number }): Promise<WebSocket> {
  const ws = v.protobuf ? new WebSocket(url, 'centrifuge-protobuf') : new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let subscribed = false;
  const ready = new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      if (!subscribed) {
        // Publications are counted from the message after the subscribe reply on.
        subscribed = hasReply(d, v.protobuf, 2);
        if (subscribed) resolve();
        return;
      }
      stats.bytes += d.length;
      stats.messages += countReplies(d, v.protobuf);
    });
  });
  const sub = { channel: CHANNEL, ...(v.delta ? { delta: 'fossil' } : {}) };
  if (v.protobuf) {
    ws.send(Buffer.concat([Command.encodeDelimited({ id: 1, connect: { token: tok } }).finish(), Command.encodeDelimited({ id: 2, subscribe: sub }).finish()]));
  } else {
    ws.send(`${JSON.stringify({ id: 1, connect: { token: tok } })}\n${JSON.stringify({ id: 2, subscribe: sub })}`);
  }
  await ready;
  return ws;
}

/** Every variant at every size, each on a fresh server child. */
export async function runWireBytes(config: WireBytesConfig, variants: readonly Variant[] = VARIANTS): Promise<WireBytesResult> {
  const meta = runMeta();
  const tok = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
  const rows: WireBytesRow[] = [];
  const { pubs } = config;
  for (const n of config.sizes) {
    for (const v of variants) {
      const c = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: process.execArgv.filter((a) => !a.startsWith('--test')), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      try {
        const { port } = await request<{ port: number }>(c, { op: 'hello' }, 'ready');
        const url = `ws://127.0.0.1:${port}/connection/websocket`;
        const stats = { bytes: 0, messages: 0 };
        const clients: WebSocket[] = [];
        for (let i = 0; i < n; i += 100) clients.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => openClient(url, v, tok, stats)))));
        // Every client has its subscribe reply: its subscription is live.
        // Paced so every variant sees the same load.
        const r = await request<{ cpuUs: number; ms: number }>(c, { op: 'publish', pubs, rate: config.rate }, 'published');
        const deadline = Date.now() + config.drainTimeoutMs;
        while (stats.messages < n * pubs && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        const expected = n * pubs;
        rows.push({
          n,
          encoding: v.name,
          protobuf: v.protobuf,
          delta: v.delta,
          expected,
          delivered: stats.messages,
          bytes: stats.bytes,
          bytesPerDelivery: stats.bytes / expected,
          cpuUs: r.cpuUs,
          cpuUsPerDelivery: r.cpuUs / expected,
        });
        for (const w of clients) w.terminate();
      } finally {
        const exited = new Promise((res) => c.once('exit', res));
        if (c.exitCode === null && c.signalCode === null) {
          c.send({ op: 'stop' });
          await exited;
        }
      }
    }
  }
  return { scenario: 'wire-bytes', meta: endMeta(meta), config, rows };
}

export function wireBytesMarkdown(r: WireBytesResult): string {
  return [
    `${r.config.pubs} publications of a ~1 KB document (a few fields change each time) to N subscribers of one channel, ${r.config.rate}/s; ${metaLine(r.meta)}:`,
    '',
    '| N | encoding | bytes per delivery | server CPU µs per delivery | delivered |',
    '|---:|---|---:|---:|---:|',
    ...r.rows.map((x) => `| ${x.n} | ${x.encoding} | ${x.bytesPerDelivery.toFixed(0)} | ${x.cpuUsPerDelivery.toFixed(2)} | ${((x.delivered / x.expected) * 100).toFixed(1)} % |`),
  ].join('\n');
}

export async function wireBytesCli(argv: string[]): Promise<void> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const config: WireBytesConfig = {
    ...WIRE_BYTES_DEFAULTS,
    sizes: (opt('--n') ?? WIRE_BYTES_DEFAULTS.sizes.join(',')).split(',').map(Number),
    pubs: Number(opt('--pubs') ?? WIRE_BYTES_DEFAULTS.pubs),
  };
  if (config.sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--n wants positive integers, got ${opt('--n')}`);
  if (!Number.isInteger(config.pubs) || config.pubs <= 0) throw new Error(`--pubs wants a positive integer, got ${opt('--pubs')}`);
  const result = await runWireBytes(config);
  console.log(`\n${wireBytesMarkdown(result)}`);
  if (!argv.includes('--no-save')) {
    const dir = fileURLToPath(new URL('../results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = `${dir}wire-bytes-${result.meta.date.replace(/[:.]/g, '-')}.json`;
    writeFileSync(file, JSON.stringify(result, null, 1));
    console.log(`\nraw results: ${file}`);
  }
}

if (process.argv.includes('--child')) await child();
