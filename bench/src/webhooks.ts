/**
 * `npm run bench -- --scenario webhooks [--seconds 5] [--engine memory|redis] [--no-update]`: does a
 * bad webhook endpoint slow the node down? One in-process node with a webhook on every lifecycle
 * event, against an endpoint that answers 200, answers 200 late (after 800 ms), answers 500, never
 * answers (slow: requests time out after 1 s), or is unreachable (a closed port); and with no webhook
 * as the baseline. `--engine redis` (Redis at BENCH_REDIS, default 127.0.0.1:6379, prefix
 * `bench-webhooks`) puts the cluster state and the durable webhook journal in Redis, so each event
 * also costs a journal append (what a failing endpoint left undelivered stays in that journal, keyed
 * by the endpoint's URL, which is new each run: delete `bench-webhooks*` keys between runs if wanted). Meanwhile a churn loop opens a plain-JSON connection, subscribes it to
 * a fresh channel and closes it (connect, subscribe, channel_occupied, unsubscribe, channel_vacated,
 * disconnect: six events each), aiming at 100 a second; the connect → subscribed latency of each
 * (from opening the socket to the subscribe reply) is recorded, p50/p99. One subscriber receives
 * publications made one after another: the publish latency is from `sb.publish` to the message
 * arriving at that client, p50/p99.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { updateResultsFile } from './report.js';

const SECRET = 'bench-webhook-secret-0123456789';

interface Row {
  endpoint: string;
  publishes: number;
  p50us: number;
  p99us: number;
  churned: number;
  connectP50us: number;
  connectP99us: number;
  delivered: number;
  failures: number;
  deadLettered: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function endpoint(mode: 'ok' | 'late' | 'error' | 'slow'): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'ok') res.writeHead(200).end();
      else if (mode === 'late') setTimeout(() => res.writeHead(200).end(), 800).unref();
      else if (mode === 'error') res.writeHead(500).end();
      // slow: never answers; the queue's timeout ends the request
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/hook`;
}

type Engine = 'memory' | 'redis';

/** The engine's options for the node (Redis: broker, history, presence, cluster state and the webhook journal). */
async function engineOptions(engine: Engine): Promise<Record<string, unknown>> {
  if (engine === 'memory') return {};
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
  const redis = (await import('@switchboard/redis' as string)) as { createRedisEngine(o: { addresses: string[]; prefix: string }): Record<string, unknown> };
  return redis.createRedisEngine({ addresses: [process.env['BENCH_REDIS'] ?? '127.0.0.1:6379'], prefix: 'bench-webhooks' });
}

/** Open a plain-JSON connection, subscribe it, and resolve once the subscribe reply is in. */
function openSubscribed(url: string, channel: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel, id: 1 })));
    const onMessage = (d: Buffer) => {
      if (!d.toString().includes('"subscribed"')) return;
      ws.off('message', onMessage);
      resolve(ws);
    };
    ws.on('message', onMessage);
    ws.once('error', reject);
  });
}

async function measure(name: string, url: string | undefined, seconds: number, engine: Engine): Promise<Row> {
  const { createSwitchboard } = await import('@switchboard/server');
  const sb = createSwitchboard({ insecure: true, namespaces: { chat: {} }, ...(await engineOptions(engine)) });
  const queue = url ? sb.webhooks({ url, secret: SECRET, timeoutMs: 1000, retry: { baseMs: 50, maxMs: 500, maxAttempts: 5 } }) : undefined;
  const http = createServer();
  sb.attach(http, { path: '/ws', protocol: 'plain' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const wsUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  const sub = await openSubscribed(wsUrl, 'chat:bench');
  let waiting: (() => void) | undefined;
  sub.on('message', (d: Buffer) => {
    const text = d.toString();
    if (text.includes('"publication"') || text.includes('"n"')) waiting?.();
  });
  let stop = false;
  let churned = 0;
  const connectLat: number[] = [];
  const churn = (async () => {
    while (!stop) {
      const t = Date.now();
      const c0 = process.hrtime.bigint();
      const ws = await openSubscribed(wsUrl, `chat:churn-${process.pid}-${Date.now()}-${churned}`);
      connectLat.push(Number(process.hrtime.bigint() - c0) / 1000);
      ws.close();
      churned++;
      await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - t))));
    }
  })();
  const lat: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const got = new Promise<void>((r) => (waiting = r));
    const t0 = process.hrtime.bigint();
    await sb.publish('chat:bench', { n: lat.length });
    await got;
    lat.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  stop = true;
  await churn;
  sub.close();
  const s = queue?.stats();
  await sb.shutdown({ timeoutMs: 500 });
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  lat.sort((a, b) => a - b);
  connectLat.sort((a, b) => a - b);
  return {
    endpoint: name,
    publishes: lat.length,
    p50us: Math.round(quantile(lat, 0.5)),
    p99us: Math.round(quantile(lat, 0.99)),
    churned,
    connectP50us: Math.round(quantile(connectLat, 0.5)),
    connectP99us: Math.round(quantile(connectLat, 0.99)),
    delivered: s?.delivered ?? 0,
    failures: s?.failures ?? 0,
    deadLettered: s?.deadLettered ?? 0,
  };
}

export async function webhooksCli(argv: string[]): Promise<void> {
  const i = argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(argv[i + 1]) : 5;
  const e = argv.indexOf('--engine');
  const engine = e >= 0 ? argv[e + 1] : 'memory';
  if (engine !== 'memory' && engine !== 'redis') throw new Error(`--engine must be memory or redis, not ${String(engine)}`);
  const r = argv.indexOf('--rounds');
  const rounds = r >= 0 ? Number(argv[r + 1]) : 2;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error('--rounds must be a positive integer');
  const rows: Row[] = [];
  const run = async (name: string, url: string | undefined) => {
    const r = await measure(name, url, seconds, engine);
    rows.push(r);
    console.log(`${name}: publish p50 ${r.p50us} µs, p99 ${r.p99us} µs over ${r.publishes} publishes; connect→subscribed p50 ${r.connectP50us} µs, p99 ${r.connectP99us} µs over ${r.churned}`);
  };
  // interleaved rounds, each starting one endpoint later than the one before, so drift on a shared
  // machine (or a warm-up) shows as spread rather than as an endpoint's effect
  const steps: [string, () => Promise<void>][] = [
    ['none (baseline)', () => run('none (baseline)', undefined)],
    ...(['ok', 'late', 'error', 'slow'] as const).map((mode): [string, () => Promise<void>] => {
      const name = { ok: 'answers 200', late: 'answers 200 after 800 ms', error: 'answers 500', slow: 'never answers (1 s timeout)' }[mode];
      return [name, async () => {
        const ep = await endpoint(mode);
        await run(name, ep.url);
        await ep.close();
      }];
    }),
    ['unreachable (closed port)', async () => run('unreachable (closed port)', await closedPort())],
  ];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < steps.length; k++) await steps[(round + k) % steps.length]![1]();
  }
  const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
  const summary = steps.map(([name]) => {
    const mine = rows.filter((r) => r.endpoint === name);
    const p50 = mine.map((r) => r.p50us);
    const p99 = mine.map((r) => r.p99us);
    const c50 = mine.map((r) => r.connectP50us);
    return `| ${name} | ${median(p50)} | ${Math.min(...p50)}–${Math.max(...p50)} | ${median(p99)} | ${Math.min(...p99)}–${Math.max(...p99)} | ${median(c50)} | ${Math.min(...c50)}–${Math.max(...c50)} |`;
  });
  const md = [
    `### Publish and connect latency with a webhook endpoint that is fine, late, failing, slow or gone (in-process, ${engine} engine, ${seconds} s each, ${rounds} rounds interleaved; ${new Date().toISOString()})`,
    '',
    'Publish → delivered to one plain-JSON subscriber, one publication at a time, while a churn loop (aiming at 100 a second; the table says how many it managed) connects, subscribes, unsubscribes and disconnects (six webhook events each); connect → subscribed is each churn connection from opening the socket to its subscribe reply.',
    '',
    '| endpoint | publishes | publish p50 µs | publish p99 µs | churned connections | connect→subscribed p50 µs | connect→subscribed p99 µs | events delivered | failed requests | dead-lettered |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.endpoint} | ${r.publishes} | ${r.p50us} | ${r.p99us} | ${r.churned} | ${r.connectP50us} | ${r.connectP99us} | ${r.delivered} | ${r.failures} | ${r.deadLettered} |`),
    '',
    `Across the ${rounds} rounds (each round starts one endpoint later than the one before): the median of each round's figure, and its range.`,
    '',
    '| endpoint | publish p50 µs, median | range | publish p99 µs, median | range | connect→subscribed p50 µs, median | range |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...summary,
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario webhooks --seconds ${seconds} --engine ${engine} --rounds ${rounds}`, md, engine === 'memory' ? 'webhooks' : `webhooks-${engine}`);
}
