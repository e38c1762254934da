/**
 * `npm run bench -- --scenario patterns [--patterns 10000] [--seconds 3] [--no-update]`: what pattern
 * subscriptions cost a publication. One node (memory engine) with N active pattern subscriptions
 * (`pp:r<i>:*`, 100 per connection over N/100 WebSocket connections in this process), then
 * Switchboard.publish awaited one after another for `seconds` on:
 * - a channel no pattern matches (`qq:x:1`): the lookup alone;
 * - a channel one pattern matches (`pp:r7:x`), its one subscriber receiving;
 * - the same with an exact subscription instead of the pattern, for comparison;
 * and the no-pattern baseline. In-process, one core: µs per publication (1e6 / rate).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { updateResultsFile } from './report.js';

const SECRET = 'bench-patterns-secret-key-hs256!';

interface Row {
  case: string;
  patterns: number;
  perSecond: number;
  usPerPublication: number;
}

async function client(url: string, tok: string): Promise<{ ws: WebSocket; received: () => number; command: (c: object) => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  let pushes = 0;
  const waiting = new Map<number, (r: Record<string, unknown>) => void>();
  ws.on('message', (data: Buffer) => {
    for (const line of data.toString().split('\n')) {
      if (line === '') continue;
      const m = JSON.parse(line) as Record<string, unknown>;
      if (typeof m['id'] === 'number') waiting.get(m['id'])?.(m);
      else if (m['push'] !== undefined) pushes++;
    }
  });
  const command = (c: object) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const n = ++id;
      waiting.set(n, resolve);
      ws.send(JSON.stringify({ id: n, ...c }));
    });
  const r = await command({ connect: { token: tok } });
  if (r['error']) throw new Error(`connect: ${JSON.stringify(r['error'])}`);
  return { ws, received: () => pushes, command };
}

async function rate(seconds: number, publish: (i: number) => Promise<unknown>, warm = true): Promise<number> {
  if (warm) await rate(0.5, publish, false); // warm-up, not counted
  const until = Date.now() + seconds * 1000;
  let n = 0;
  const started = process.hrtime.bigint();
  while (Date.now() < until) {
    for (let k = 0; k < 100; k++) await publish(n++);
    await new Promise((r) => setImmediate(r)); // let the outbound queues flush (their cost counts too)
  }
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

export async function patternsCli(argv: string[]): Promise<void> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const total = Number(opt('--patterns') ?? 10_000);
  const seconds = Number(opt('--seconds') ?? 3);
  const { createSwitchboard } = await import('@switchboard/server');
  const rows: Row[] = [];
  for (const n of [0, total]) {
    const sb = createSwitchboard({
      token: { hmacSecret: SECRET },
      namespaces: { pp: { allowSubscribeForClient: true, allowPatternSubscribe: true }, qq: { allowSubscribeForClient: true } },
      limits: { maxChannelsPerConnection: 200, maxQueueBytes: 64 * 1024 * 1024 },
    });
    const http = createServer();
    sb.attach(http, { path: '/connection/websocket' });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await sb.start();
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`;
    const tok = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    const clients = [];
    for (let c = 0; c < Math.ceil(n / 100); c++) {
      const cl = await client(url, tok);
      clients.push(cl);
      await Promise.all(
        Array.from({ length: Math.min(100, n - c * 100) }, async (_, k) => {
          const r = await cl.command({ subscribe: { channel: `pp:r${c * 100 + k}:*` } });
          if (r['error']) throw new Error(`subscribe: ${JSON.stringify(r['error'])}`);
        }),
      );
    }
    const exact = await client(url, tok);
    await exact.command({ subscribe: { channel: 'pp:exact:x' } });
    const data = { text: 'a hundred-byte publication, roughly what a status update or a chat line would carry' };
    const none = await rate(seconds, () => sb.publish('qq:x:1', data));
    rows.push({ case: 'no pattern matches', patterns: n, perSecond: Math.round(none), usPerPublication: Number((1e6 / none).toFixed(2)) });
    if (n > 0) {
      const before = clients[0]!.received();
      const one = await rate(seconds, () => sb.publish('pp:r7:x', data));
      rows.push({ case: 'one pattern matches (1 subscriber)', patterns: n, perSecond: Math.round(one), usPerPublication: Number((1e6 / one).toFixed(2)) });
      const deadline = Date.now() + 10_000;
      while (clients[0]!.received() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (clients[0]!.received() === before) throw new Error('the matching pattern received nothing');
    }
    const ex = await rate(seconds, () => sb.publish('pp:exact:x', data));
    rows.push({ case: 'exact subscription (1 subscriber)', patterns: n, perSecond: Math.round(ex), usPerPublication: Number((1e6 / ex).toFixed(2)) });
    for (const c of [...clients, exact]) c.ws.terminate();
    await sb.shutdown({ timeoutMs: 500 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    console.log(rows.filter((r) => r.patterns === n));
  }
  const md = [
    `### Pattern subscriptions: cost per publication (in-process, memory engine, ${seconds} s each; ${new Date().toISOString()})`,
    '',
    '| active patterns | publication | publications/s | µs per publication |',
    '| ---: | --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.patterns} | ${r.case} | ${r.perSecond} | ${r.usPerPublication} |`),
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario patterns --patterns ${total} --seconds ${seconds}`, md, 'patterns');
}
