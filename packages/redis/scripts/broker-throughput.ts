/**
 * Raw RedisBroker throughput across two brokers (two nodes' worth of connections), with and without
 * history: what the Redis engine itself sustains, without clients. `inFlight` publishers each await
 * their publish before the next (as HTTP API callers do); the publish latency of every call is kept
 * for the p50/p99.
 *
 *   node --conditions=source --import tsx packages/redis/scripts/broker-throughput.ts \
 *     [--address 127.0.0.1:6379] [--n 20000] [--in-flight 64] [--channels 1] [--baseline PATH/packages/redis/src/index.ts]
 *
 * `--baseline` runs another checkout's `@switchboard/redis` (e.g. main's, from `git worktree add`)
 * first, in the same process and on the same Redis, so old and new are measured in one run.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Broker } from '@switchboard/server';
import { Recorder } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import * as current from '../src/index.js';

interface RedisModule {
  RedisBroker: new (o: { shards: unknown }) => Broker;
  RedisShards: new (o: { addresses: string[]; prefix: string }) => unknown;
}

export interface ThroughputResult {
  publicationsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! * 100) / 100;
}

export async function brokerThroughput(
  mod: RedisModule = current as unknown as RedisModule,
  { address = '127.0.0.1:6379', n = 20_000, inFlight = 64, channels = 1 } = {},
): Promise<{ withoutHistory: ThroughputResult; withHistory: ThroughputResult }> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const a = new mod.RedisBroker({ shards: new mod.RedisShards({ addresses: [address], prefix }) });
  const b = new mod.RedisBroker({ shards: new mod.RedisShards({ addresses: [address], prefix }) });
  const rec = new Recorder();
  await a.start(rec);
  await b.start(new Recorder());
  const names = Array.from({ length: channels }, (_, i) => `ch${i}`);
  for (const ch of names) await a.subscribe(ch);
  const out = {} as { withoutHistory: ThroughputResult; withHistory: ThroughputResult };
  try {
    for (const hist of [false, true]) {
      rec.events.length = 0;
      const latencies: number[] = [];
      let sent = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (sent < n) {
            const ch = names[sent % channels]!;
            sent++;
            const s = performance.now();
            await b.publish(ch, { data: '{"x":1}' }, hist ? { history: { size: 100, ttlMs: 60_000 } } : undefined);
            latencies.push(performance.now() - s);
          }
        }),
      );
      const deadline = Date.now() + 60_000;
      while (rec.events.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${rec.events.length} of ${n} publications arrived`);
        await new Promise((r) => setTimeout(r, 1));
      }
      latencies.sort((x, y) => x - y);
      out[hist ? 'withHistory' : 'withoutHistory'] = {
        publicationsPerSecond: Math.round(n / ((performance.now() - t0) / 1000)),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
      };
    }
  } finally {
    await a.close();
    await b.close();
    const c = new Redis(address);
    const keys = await c.keys(`${prefix}.*`);
    if (keys.length > 0) await c.del(...keys);
    c.disconnect();
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      address: { type: 'string', default: '127.0.0.1:6379' },
      n: { type: 'string', default: '20000' },
      'in-flight': { type: 'string', default: '64' },
      channels: { type: 'string', default: '1' },
      baseline: { type: 'string' },
    },
  });
  const opts = { address: values.address, n: Number(values.n), inFlight: Number(values['in-flight']), channels: Number(values.channels) };
  const report: Record<string, unknown> = { ...opts };
  if (values.baseline !== undefined) report['baseline'] = await brokerThroughput((await import(values.baseline)) as RedisModule, opts);
  report['current'] = await brokerThroughput(undefined, opts);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
