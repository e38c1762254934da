/**
 * `npm run bench -- --scenario proxy [--connects 2000] [--subscribes 2000] [--no-update]`: what a
 * backend proxy costs, beside JWT auth, in one run on loopback. One node (memory engine) in this
 * process with the load's WebSocket clients; the backend (HTTP and GRPC, answering at once) in a
 * child process. Three ways in, measured the same way:
 * - connect: `connects` native-protocol connects, 32 in flight (open, connect command, reply),
 *   with a JWT, through the HTTP connect proxy, through the GRPC connect proxy;
 * - subscribe: `subscribes` subscribes one after another on one connection, allowed by the
 *   namespace's rules, by the HTTP subscribe proxy, by the GRPC subscribe proxy.
 * Connects per second and p50/p99 latency (ms) of one connect or subscribe.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { cpus, loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { updateResultsFile } from './report.js';

const SECRET = 'bench-proxy-secret-key-for-hs256!';

interface Row {
  what: string;
  auth: string;
  n: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function summary(what: string, auth: string, lat: number[], seconds: number): Row {
  lat.sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return { what, auth, n: lat.length, perSecond: Math.round(lat.length / seconds), p50ms: r2(quantile(lat, 0.5)), p99ms: r2(quantile(lat, 0.99)) };
}

/** A native-protocol client: open, connect; `command` sends one command and resolves with its reply. */
async function open(url: string, connect: object): Promise<{ ws: WebSocket; command: (c: object) => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map<number, (r: Record<string, unknown>) => void>();
  ws.on('message', (data: Buffer) => {
    for (const line of data.toString().split('\n')) {
      if (line === '') continue;
      const m = JSON.parse(line) as Record<string, unknown>;
      if (typeof m['id'] === 'number') waiting.get(m['id'])?.(m);
    }
  });
  const command = (c: object) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const n = ++id;
      const timer = setTimeout(() => reject(new Error(`no reply to command ${n} in 10 s`)), 10_000);
      waiting.set(n, (r) => {
        clearTimeout(timer);
        waiting.delete(n);
        if (r['error'] !== undefined) reject(new Error(`command ${n}: ${JSON.stringify(r['error'])}`));
        else resolve(r);
      });
      ws.send(JSON.stringify({ id: n, ...c }));
    });
  await command({ connect });
  return { ws, command };
}

export async function proxyAuthCli(argv: string[]): Promise<void> {
  const arg = (name: string, d: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const connects = arg('--connects', 2000);
  const subscribes = arg('--subscribes', 2000);
  const { createSwitchboard, installProxies } = await import('@switchboard/server');

  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./proxy-backend-child.ts', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ports = await new Promise<{ http: number; grpc: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the backend child did not start in 30 s')), 30_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)) as { http: number; grpc: number });
      }
    });
    child.once('exit', (code) => reject(new Error(`the backend child exited with ${code}`)));
  });

  const load = loadavg()[0]!.toFixed(1);
  const rows: Row[] = [];
  const servers: { close(): Promise<void> }[] = [];
  /** A node whose connects and subscribes go to `via` (undefined: JWT and namespace rules). */
  const node = async (via: 'http' | 'grpc' | undefined) => {
    const endpoint = via === 'http' ? `http://127.0.0.1:${ports.http}/connect` : `grpc://127.0.0.1:${ports.grpc}`;
    const subEndpoint = via === 'http' ? `http://127.0.0.1:${ports.http}/subscribe` : endpoint;
    const sb = createSwitchboard({
      token: { hmacSecret: SECRET },
      namespaces: { open: { allowSubscribeForClient: true }, proxied: {} },
      limits: { maxChannelsPerConnection: subscribes + 100 },
    });
    const proxies = via ? installProxies(sb, { connect: { endpoint }, subscribe: { endpoint: subEndpoint }, namespaces: { proxied: { subscribe: 'default' } } }) : undefined;
    const http = createServer();
    sb.attach(http, '/connection/websocket');
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`;
    const srv = {
      url,
      async close() {
        await sb.shutdown({ timeoutMs: 1000 });
        proxies?.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      },
    };
    servers.push(srv);
    return srv;
  };

  const jwt = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  try {
    for (const via of [undefined, 'http', 'grpc'] as const) {
      const auth = via === undefined ? 'JWT / namespace rules' : `${via.toUpperCase()} proxy`;
      const srv = await node(via);
      const connect = via === undefined ? { token: jwt } : {};
      // warm-up: the backend's connection pool, JIT
      for (let i = 0; i < 50; i++) (await open(srv.url, connect)).ws.terminate();
      const lat: number[] = [];
      let next = 0;
      const started = performance.now();
      const worker = async () => {
        while (next < connects) {
          next++;
          const t0 = performance.now();
          const c = await open(srv.url, connect);
          lat.push(performance.now() - t0);
          c.ws.terminate();
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
      rows.push(summary('connect, 32 in flight', auth, lat, (performance.now() - started) / 1000));
      console.log(`connect ${auth}: ${rows.at(-1)!.perSecond}/s`);

      const c = await open(srv.url, via === undefined ? { token: jwt } : {});
      const ns = via === undefined ? 'open' : 'proxied';
      for (let i = 0; i < 50; i++) await c.command({ subscribe: { channel: `${ns}:warm${i}` } });
      const subLat: number[] = [];
      const subStarted = performance.now();
      for (let i = 0; i < subscribes; i++) {
        const t0 = performance.now();
        await c.command({ subscribe: { channel: `${ns}:c${i}` } });
        subLat.push(performance.now() - t0);
      }
      rows.push(summary('subscribe, one at a time', auth, subLat, (performance.now() - subStarted) / 1000));
      console.log(`subscribe ${auth}: p50 ${rows.at(-1)!.p50ms} ms`);
      c.ws.terminate();
      await srv.close();
      servers.splice(servers.indexOf(srv), 1);
    }
  } finally {
    for (const s of servers) await s.close().catch(() => {});
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
  }
  const md = [
    `### Backend proxies beside JWT (loopback, backend in a child process; ${cpus().length} cores, load average ${load} at the start; ${new Date().toISOString()})`,
    '',
    '| operation | authorized by | n | per second | p50 ms | p99 ms |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.what} | ${r.auth} | ${r.n} | ${r.perSecond} | ${r.p50ms} | ${r.p99ms} |`),
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario proxy --connects ${connects} --subscribes ${subscribes}`, md, 'proxy');
}
