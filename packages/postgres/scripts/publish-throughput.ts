// Publications per second through PostgreSQL, with and without history, on one channel and
// spread over 100, with a second node subscribed to everything (it must receive every one).
//   node --conditions=source --import tsx packages/postgres/scripts/publish-throughput.ts [dsn] [N]
// Uses a schema of its own and drops it at the end.
import type { BrokerEventHandler } from '@switchboard/server';
import postgres from 'postgres';
import { Database, PostgresBroker } from '../src/index.js';

const dsn = process.argv[2] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.argv[3] ?? 5000);
const INFLIGHT = 64;
const schema = `sbbench_${process.pid}`;

async function node(onPub: () => void): Promise<PostgresBroker> {
  const b = new PostgresBroker({ db: new Database({ dsn, schema, poolSize: 8 }) });
  const h: BrokerEventHandler = { onPublication: onPub, onJoin() {}, onLeave() {}, onControl() {} };
  await b.start(h);
  return b;
}

async function measure(history: boolean, channels: number): Promise<string> {
  let received = 0;
  let lastAt = 0;
  const sub = await node(() => {
    received++;
    lastAt = performance.now();
  });
  const pub = await node(() => {});
  const names = Array.from({ length: channels }, (_, i) => `bench:${history ? 'h' : 'n'}${channels}-${i}`);
  for (const ch of names) await sub.subscribe(ch);
  await pub.publish(names[0]!, { data: '{}' }); // the subscriptions are in place once this arrives
  while (received < 1) await new Promise((r) => setTimeout(r, 5));
  received = 0;
  const data = JSON.stringify({ text: 'x'.repeat(100) });
  const opts = history ? { history: { size: 100, ttlMs: 300_000 } } : undefined;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next < N) {
        const i = next++;
        await pub.publish(names[i % channels]!, { data, time: Date.now() }, opts);
      }
    }),
  );
  const acked = performance.now() - t0;
  const deadline = Date.now() + 30_000;
  while (received < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const delivered = lastAt - t0;
  await Promise.all([sub.close(), pub.close()]);
  return `| ${history ? 'with history (size 100)' : 'without history'} | ${channels} | ${Math.round((N / acked) * 1000)} | ${received === N ? Math.round((N / delivered) * 1000) : `only ${received} of ${N}`} |`;
}

console.log(`N=${N}, ${INFLIGHT} publishes in flight from one node (pool 8), a second node subscribed`);
console.log('| publications | channels | acknowledged/s | delivered to the other node/s |');
console.log('| --- | ---: | ---: | ---: |');
try {
  for (const history of [false, true]) for (const channels of [1, 100]) console.log(await measure(history, channels));
} finally {
  const sql = postgres(dsn, { max: 1, onnotice: () => {} });
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await sql.end();
}
