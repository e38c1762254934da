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
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Broker, BrokerEventHandler, Publication } from '@switchboard/server';
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
  /** Share of the run's wall time the Node process's event loop was busy (both brokers). */
  nodeBusyPct: number;
  /** Share of the run's wall time Redis spent on the CPU (INFO cpu, every client of that Redis). */
  redisBusyPct: number;
  /** Node process CPU time (user + system, every thread) per publication. */
  nodeCpuUsPerPublication: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! * 100) / 100;
}

/**
 * The receiving node: counts publications and checks that each channel's history publications come
 * in offset order without gaps (the ordering guarantee the batching must keep). It keeps nothing,
 * so the measurement is not a garbage collector's work on everything received.
 */
class Receiver implements BrokerEventHandler {
  received = 0;
  outOfOrder = 0;
  readonly #last = new Map<string, number>();
  #target = Infinity;
  #done: (() => void) | undefined;
  onPublication(channel: string, pub: Publication): void {
    if (pub.offset !== undefined) {
      const last = this.#last.get(channel);
      if (last !== undefined && pub.offset !== last + 1) this.outOfOrder++;
      this.#last.set(channel, pub.offset);
    }
    if (++this.received >= this.#target) this.#done?.();
  }
  onJoin(): void {}
  onLeave(): void {}
  onControl(): void {}
  /** Resolves once `n` publications arrived since the last reset. */
  reset(n: number): Promise<void> {
    this.received = 0;
    this.#target = n;
    this.#last.clear();
    return new Promise((resolve) => (this.#done = resolve));
  }
}

async function redisCpuSeconds(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}

export async function brokerThroughput(
  mod: RedisModule = current as unknown as RedisModule,
  { address = '127.0.0.1:6379', n = 20_000, inFlight = 64, channels = 1 } = {},
): Promise<{ withoutHistory: ThroughputResult; withHistory: ThroughputResult }> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const a = new mod.RedisBroker({ shards: new mod.RedisShards({ addresses: [address], prefix }) });
  const b = new mod.RedisBroker({ shards: new mod.RedisShards({ addresses: [address], prefix }) });
  const rec = new Receiver();
  const stats = new Redis(address);
  await a.start(rec);
  await b.start(new Receiver());
  const names = Array.from({ length: channels }, (_, i) => `ch${i}`);
  for (const ch of names) await a.subscribe(ch);
  const out = {} as { withoutHistory: ThroughputResult; withHistory: ThroughputResult };
  try {
    for (const hist of [false, true]) {
      const arrived = rec.reset(n);
      const latencies = new Float64Array(n);
      let sent = 0;
      const redis0 = await redisCpuSeconds(stats);
      const cpu0 = process.cpuUsage();
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (sent < n) {
            const i = sent++;
            const ch = names[i % channels]!;
            const s = performance.now();
            // the shape the server's publish makes: JSON data and the time of publishing
            await b.publish(ch, { data: '{"x":1}', time: Date.now() }, hist ? { history: { size: 100, ttlMs: 60_000 } } : undefined);
            latencies[i] = performance.now() - s;
          }
        }),
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        arrived,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${rec.received} of ${n} publications arrived`)), 60_000))),
      ]).finally(() => clearTimeout(timer));
      const seconds = (performance.now() - t0) / 1000;
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const redisBusy = ((await redisCpuSeconds(stats)) - redis0) / seconds;
      if (rec.outOfOrder > 0) throw new Error(`${rec.outOfOrder} publications arrived out of offset order`);
      latencies.sort();
      out[hist ? 'withHistory' : 'withoutHistory'] = {
        publicationsPerSecond: Math.round(n / seconds),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        nodeBusyPct: Math.round(elu.utilization * 100),
        redisBusyPct: Math.round(redisBusy * 100),
        nodeCpuUsPerPublication: Math.round(((cpu.user + cpu.system) / n) * 100) / 100,
      };
    }
  } finally {
    await a.close();
    await b.close();
    const keys = await stats.keys(`${prefix}.*`);
    if (keys.length > 0) await stats.del(...keys);
    stats.disconnect();
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
