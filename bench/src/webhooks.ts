/**
 * `npm run bench -- --scenario webhooks [--seconds 5] [--no-update]`: does a bad webhook endpoint
 * slow the node down? One in-process node (memory engine) with a webhook on every lifecycle event,
 * against an endpoint that answers 200, answers 500, never answers (slow: requests time out after
 * 1 s), or is unreachable (a closed port); and with no webhook as the baseline. Meanwhile a churn
 * loop opens a plain-JSON connection, subscribes it to a fresh channel and closes it (connect,
 * subscribe, channel_occupied, unsubscribe, channel_vacated, disconnect: six events each), aiming at
 * 100 a second; one subscriber receives publications made one after another: the latency measured is
 * from `sb.publish` to the message arriving at that client, p50/p99.
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
  delivered: number;
  failures: number;
  deadLettered: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function endpoint(mode: 'ok' | 'error' | 'slow'): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'ok') res.writeHead(200).end();
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

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function measure(name: string, url: string | undefined, seconds: number): Promise<Row> {
  const { createSwitchboard } = await import('@switchboard/server');
  const sb = createSwitchboard({ insecure: true, namespaces: { chat: {} } });
  const queue = url ? sb.webhooks({ url, secret: SECRET, timeoutMs: 1000, retry: { baseMs: 50, maxMs: 500, maxAttempts: 5 } }) : undefined;
  const http = createServer();
  sb.attach(http, { path: '/ws', protocol: 'plain' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const wsUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  const sub = await open(wsUrl);
  let waiting: (() => void) | undefined;
  sub.on('message', (d: Buffer) => {
    if (d.toString().includes('"publication"') || d.toString().includes('"n"')) waiting?.();
  });
  sub.send(JSON.stringify({ type: 'subscribe', channel: 'chat:bench' }));
  await new Promise((r) => setTimeout(r, 200));
  let stop = false;
  let churned = 0;
  const churn = (async () => {
    while (!stop) {
      const t = Date.now();
      const ws = await open(wsUrl);
      ws.send(JSON.stringify({ type: 'subscribe', channel: `chat:churn-${churned}` }));
      await new Promise((r) => setTimeout(r, 2));
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
  return {
    endpoint: name,
    publishes: lat.length,
    p50us: Math.round(quantile(lat, 0.5)),
    p99us: Math.round(quantile(lat, 0.99)),
    churned,
    delivered: s?.delivered ?? 0,
    failures: s?.failures ?? 0,
    deadLettered: s?.deadLettered ?? 0,
  };
}

export async function webhooksCli(argv: string[]): Promise<void> {
  const i = argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(argv[i + 1]) : 5;
  const rows: Row[] = [];
  const run = async (name: string, url: string | undefined) => {
    const r = await measure(name, url, seconds);
    rows.push(r);
    console.log(`${name}: p50 ${r.p50us} µs, p99 ${r.p99us} µs over ${r.publishes} publishes`);
  };
  // each twice, interleaved, so drift on a shared machine shows as spread rather than as an effect
  for (let round = 0; round < 2; round++) {
    await run('none (baseline)', undefined);
    const ok = await endpoint('ok');
    await run('answers 200', ok.url);
    await ok.close();
    const err = await endpoint('error');
    await run('answers 500', err.url);
    await err.close();
    const slow = await endpoint('slow');
    await run('never answers (1 s timeout)', slow.url);
    await slow.close();
    await run('unreachable (closed port)', await closedPort());
  }
  const md = [
    `### Publish latency with a webhook endpoint that is fine, failing, slow or gone (in-process, ${seconds} s each, two rounds; ${new Date().toISOString()})`,
    '',
    'Publish → delivered to one plain-JSON subscriber, one publication at a time, while a churn loop (aiming at 100 a second; the table says how many it managed) connects, subscribes, unsubscribes and disconnects (six webhook events each).',
    '',
    '| endpoint | publishes | p50 µs | p99 µs | churned connections | events delivered | failed requests | dead-lettered |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.endpoint} | ${r.publishes} | ${r.p50us} | ${r.p99us} | ${r.churned} | ${r.delivered} | ${r.failures} | ${r.deadLettered} |`),
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario webhooks --seconds ${seconds}`, md, 'webhooks');
}
