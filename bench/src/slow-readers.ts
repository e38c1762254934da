// Does a slow reader hurt everyone else? Delivery latency at 50 well-behaved subscribers while
// 0, then 10 subscribers of the same channel stop reading, for each slow-consumer policy.
//
//   node --conditions=source --import tsx bench/src/slow-readers.ts [--pubs 2000] [--size 4096] [--rate 250] [--readers 50]
//
// Prints p50 / p99 / max latency (publish → received, same process clock) per scenario. Not a test:
// the numbers depend on the machine; the tests assert only that everything is delivered.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createSwitchboard, type SlowConsumerPolicy } from '@switchboard/server';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const PUBS = arg('pubs', 2000);
const SIZE = arg('size', 4096);
const RATE = arg('rate', 250);
const FAST = arg('readers', 50);

async function scenario(policy: SlowConsumerPolicy, slow: number): Promise<{ p50: number; p99: number; max: number; delivered: number; slowLeft: number }> {
  const sb = createSwitchboard({
    allowAnonymous: true,
    limits: { maxQueueBytes: 512 * 1024 },
    namespaces: { feed: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true, slowConsumer: policy, historySize: 100, historyTtlMs: 60_000 } },
  });
  const http = createServer();
  sb.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`;
  const latencies: number[] = [];
  let delivered = 0;
  const clients: WebSocket[] = [];
  const open = async (reading: boolean) => {
    const ws = new WebSocket(url);
    clients.push(ws);
    await new Promise((r) => ws.once('open', r));
    let ready: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.includes('"id":2')) ready();
      if (!reading) return;
      const now = performance.now();
      for (const line of text.split('\n')) {
        const i = line.indexOf('"t":');
        if (i < 0) continue;
        latencies.push(now - Number.parseFloat(line.slice(i + 4)));
        delivered++;
      }
    });
    ws.send('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"feed:x"}}');
    await subscribed;
    if (!reading) ws.pause();
  };
  for (let i = 0; i < FAST; i++) await open(true);
  for (let i = 0; i < slow; i++) await open(false);
  const pad = 'x'.repeat(SIZE);
  const started = performance.now();
  for (let n = 0; n < PUBS; n++) {
    await sb.publish('feed:x', { n, pad, t: performance.now() });
    const due = started + ((n + 1) * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
  const end = Date.now() + 10_000;
  while (delivered < PUBS * FAST && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  const slowLeft = [...sb.connections()].length - FAST;
  for (const c of clients) c.terminate();
  await sb.shutdown({ timeoutMs: 200 });
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? NaN, delivered, slowLeft };
}

console.log(`${FAST} readers, ${PUBS} publications of ${SIZE} B at ${RATE}/s, queue limit 512 KiB`);
console.log('| policy | slow readers | delivered to the readers | p50 ms | p99 ms | max ms | slow readers still connected |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const policy of ['disconnect', 'drop-oldest', 'latest-only'] as const) {
  for (const slow of [0, 10]) {
    const r = await scenario(policy, slow);
    console.log(`| ${policy} | ${slow} | ${r.delivered} / ${PUBS * FAST} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(2)} | ${r.slowLeft} |`);
  }
}
