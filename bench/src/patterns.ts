/**
 * `npm run bench -- --scenario patterns [--patterns 10000] [--fanout 1000] [--seconds 3] [--no-update]`:
 * what pattern subscriptions cost a publication. One node (memory engine) with N active pattern
 * subscriptions (`pp:r<i>:*`, 100 per connection over N/100 WebSocket connections in this process),
 * run once with N = 0 (the baseline) and once with N = --patterns. Switchboard.publish awaited one
 * after another for `seconds` on, in this order:
 * - a channel no pattern matches (`qq:x:1`): the lookup alone;
 * - an exact subscription with one subscriber (`pp:exact:x`), measured before any pattern case so
 *   that no pattern case's deliveries are still in flight during it;
 * - a channel one pattern matches (`pp:r7:x`), its one subscriber receiving (N > 0 only);
 * - fan-out, last: F = --fanout further connections, connected only then, each hold the pattern
 *   `pp:fan:*` and an exact subscription to `pp:fanex:1`; a publication on `pp:fanex:1` reaches F
 *   exact subscribers, one on `pp:fan:1` reaches the same F connections through the pattern (so
 *   these two rows have N + F active patterns).
 * After each case the bench waits until every receiving connection has had every publication, so
 * no case's deliveries spill into the next. In-process (the receiving clients parse in this
 * process too), one core: µs per publication (1e6 / rate).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@switchboard/server/testing';
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

/** Publications per second over `seconds`, and how many were published (warm-up included). */
async function rate(seconds: number, publish: (i: number) => Promise<unknown>, warm = true): Promise<{ perSecond: number; published: number }> {
  const warmed = warm ? (await rate(0.5, publish, false)).published : 0; // warm-up, not counted in the rate
  const until = Date.now() + seconds * 1000;
  let n = 0;
  const started = process.hrtime.bigint();
  while (Date.now() < until) {
    for (let k = 0; k < 100; k++) await publish(n++);
    await new Promise((r) => setImmediate(r)); // let the outbound queues flush (their cost counts too)
  }
  return { perSecond: n / (Number(process.hrtime.bigint() - started) / 1e9), published: warmed + n };
}

/** Waits (bounded) until each receiver has `expected` more pushes than it had at `before`. */
async function drain(receivers: { received: () => number }[], before: number[], expected: number, what: string): Promise<void> {
  await waitFor(() => receivers.every((r, i) => r.received() - before[i]! >= expected), 60_000, `${what}: every subscriber receiving all ${expected} publications`);
}

export async function patternsCli(argv: string[]): Promise<void> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const total = Number(opt('--patterns') ?? 10_000);
  const fanout = Number(opt('--fanout') ?? 1000);
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
    const subscribe = async (cl: Awaited<ReturnType<typeof client>>, channel: string) => {
      const r = await cl.command({ subscribe: { channel } });
      if (r['error']) throw new Error(`subscribe ${channel}: ${JSON.stringify(r['error'])}`);
    };
    const clients = [];
    for (let c = 0; c < Math.ceil(n / 100); c++) {
      const cl = await client(url, tok);
      clients.push(cl);
      await Promise.all(Array.from({ length: Math.min(100, n - c * 100) }, (_, k) => subscribe(cl, `pp:r${c * 100 + k}:*`)));
    }
    const exact = await client(url, tok);
    await subscribe(exact, 'pp:exact:x');
    const fans: Awaited<ReturnType<typeof client>>[] = [];
    const data = { text: 'a hundred-byte publication, roughly what a status update or a chat line would carry' };
    const measure = async (label: string, channel: string, receivers: { received: () => number }[]) => {
      const before = receivers.map((r) => r.received());
      const r = await rate(seconds, () => sb.publish(channel, data));
      rows.push({ case: label, patterns: n, perSecond: Math.round(r.perSecond), usPerPublication: Number((1e6 / r.perSecond).toFixed(2)) });
      await drain(receivers, before, r.published, label);
    };
    await measure('no pattern matches', 'qq:x:1', []);
    await measure('exact subscription (1 subscriber)', 'pp:exact:x', [exact]);
    if (n > 0) await measure('one pattern matches (1 subscriber)', 'pp:r7:x', [clients[0]!]);
    if (fanout > 0) {
      // Connected only now, so the cases above see exactly N patterns.
      for (let f = 0; f < fanout; f++) {
        const cl = await client(url, tok);
        fans.push(cl);
        await subscribe(cl, 'pp:fan:*');
        await subscribe(cl, 'pp:fanex:1');
      }
      await measure(`exact subscription (${fanout} subscribers)`, 'pp:fanex:1', fans);
      await measure(`one pattern matches (${fanout} subscribers)`, 'pp:fan:1', fans);
    }
    for (const c of [...clients, exact, ...fans]) c.ws.terminate();
    await sb.shutdown({ timeoutMs: 500 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    console.log(rows.filter((r) => r.patterns === n));
  }
  const md = [
    `### Pattern subscriptions: cost per publication (in-process, memory engine, ${seconds} s each; ${new Date().toISOString()})`,
    '',
    `Active patterns: the background \`pp:r<i>:*\` ones; in the two fan-out rows the ${fanout} fan-out connections' \`pp:fan:*\` are active too.`,
    '',
    '| active patterns | publication | publications/s | µs per publication |',
    '| ---: | --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.patterns} | ${r.case} | ${r.perSecond} | ${r.usPerPublication} |`),
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario patterns --patterns ${total} --fanout ${fanout} --seconds ${seconds}`, md, 'patterns');
}
