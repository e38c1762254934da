/**
 * `npm run bench -- --scenario history-write [--seconds 3] [--no-update]`: write throughput of the
 * history engines that run inside the node, side by side: the memory store and the SQLite file
 * (`synchronous` normal and full). Two measurements per engine, each time-bounded:
 * - `append`: HistoryStore.append, 1000 channels round robin, size 1000;
 * - `publish`: Switchboard.publish on a namespace with history (the whole node path: resolve,
 *   contract, broker, append, dispatch to no subscriber);
 * each with 1 caller (one after another) and with 64 callers in flight (what group commit is for).
 * In-process, one core; numbers are operations per second with the p50/p99 of one operation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryStore } from '@switchboard/server';
import { updateResultsFile } from './report.js';

interface Row {
  engine: string;
  what: string;
  ops: number;
  perSecond: number;
  p50us: number;
  p99us: number;
}

type Engine = { name: string; make: (dir: string) => Promise<HistoryStore> };

async function engines(): Promise<Engine[]> {
  const { MemoryHistoryStore } = await import('@switchboard/server');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
  const sqlite = (await import('@switchboard/sqlite' as string)) as {
    SqliteHistoryStore: new (o: { path: string; synchronous?: 'normal' | 'full' }) => HistoryStore;
  };
  return [
    { name: 'memory', make: async () => new MemoryHistoryStore() },
    { name: 'sqlite (synchronous normal)', make: async (dir) => new sqlite.SqliteHistoryStore({ path: join(dir, 'normal.db'), synchronous: 'normal' }) },
    { name: 'sqlite (synchronous full)', make: async (dir) => new sqlite.SqliteHistoryStore({ path: join(dir, 'full.db'), synchronous: 'full' }) },
  ];
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `op` for `seconds` with `inFlight` callers, each awaiting its previous call. */
async function timed(seconds: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<Omit<Row, 'engine' | 'what'>> {
  const lat: number[] = [];
  const started = process.hrtime.bigint();
  const until = started + BigInt(Math.round(seconds * 1e9));
  let i = 0;
  let done = false;
  const worker = async () => {
    while (!done) {
      const t0 = process.hrtime.bigint();
      await op(i++);
      const t1 = process.hrtime.bigint();
      lat.push(Number(t1 - t0) / 1000);
      if (t1 >= until) done = true;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  lat.sort((a, b) => a - b);
  return { ops: lat.length, perSecond: Math.round(lat.length / elapsed), p50us: Math.round(quantile(lat, 0.5)), p99us: Math.round(quantile(lat, 0.99)) };
}

const DATA = JSON.stringify({ text: 'a message of about a hundred bytes, as a chat line or a small state update would be', n: 1 });

export async function historyWriteCli(argv: string[]): Promise<void> {
  const i = argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(argv[i + 1]) : 3;
  const { createSwitchboard } = await import('@switchboard/server');
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-history-'));
  try {
    for (const e of await engines()) {
      for (const inFlight of [1, 64]) {
        const store = await e.make(dir);
        const opts = { size: 1000, ttlMs: 300_000 };
        const append = await timed(seconds, inFlight, (k) => store.append(`c${k % 1000}`, { data: DATA }, opts));
        await store.close();
        rows.push({ engine: e.name, what: `append, ${inFlight} in flight`, ...append });
        console.log(`${e.name} append ${inFlight}: ${append.perSecond}/s`);
        const history = await e.make(dir);
        const sb = createSwitchboard({ history, namespaces: { chat: { historySize: 1000, historyTtlMs: 300_000 } } });
        await sb.start();
        const publish = await timed(seconds, inFlight, (k) => sb.publish(`chat:${k % 1000}`, { n: k }));
        await sb.shutdown({ timeoutMs: 0 });
        rows.push({ engine: e.name, what: `publish, ${inFlight} in flight`, ...publish });
        console.log(`${e.name} publish ${inFlight}: ${publish.perSecond}/s`);
      }
      rmSync(join(dir, 'normal.db'), { force: true });
      rmSync(join(dir, 'full.db'), { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const md = [
    `### History write throughput (in-process, ${seconds} s each; ${new Date().toISOString()})`,
    '',
    '| engine | operation | ops | per second | p50 µs | p99 µs |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.engine} | ${r.what} | ${r.ops} | ${r.perSecond} | ${r.p50us} | ${r.p99us} |`),
  ].join('\n');
  console.log(`\n${md}`);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario history-write --seconds ${seconds}`, md, 'history-write');
}
