/**
 * The orchestrator: for every system, start its server child, run every scenario with the load
 * generator children, collect raw results. Nothing here measures in-process: the server and the
 * load generators are separate processes on 127.0.0.1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram, makePlan, nowMs, type Plan, type RpcReply, type Usage } from './common.js';
import { endMeta, runMeta, type RunMeta } from './meta.js';
import type { PublishArgs, PublishResult } from './server.js';
import type { SystemName } from './systems.js';

export interface SystemDef {
  id: string;
  label: string;
  server: SystemName;
  adapter: string;
  /** Where publications come from: app code in the subscribers' server, a second node (Redis), or HTTP API calls from another process. */
  publisher: 'app' | 'second-node' | 'http-api';
  /** Why the system cannot run in this checkout (its code has not landed), or undefined. */
  unavailable?: () => Promise<string | undefined>;
  /** Environment for the server child (e.g. BENCH_SB_SERVER: another checkout's @switchboard/server). */
  env?: Record<string, string>;
}

/**
 * `--other <dir>`: the same native-protocol system built from another checkout of this repository
 * (its own node_modules), so a before/after comparison runs in one bench run on the same machine.
 */
export function otherCheckout(dir: string): SystemDef {
  const entry = resolve(dir, 'packages/server/src/index.ts');
  return {
    id: 'sb-native-other',
    label: `Switchboard, native, memory, from the checkout at ${dir}`,
    server: 'sb',
    adapter: 'centrifuge',
    publisher: 'app',
    env: { BENCH_SB_SERVER: entry },
    unavailable: async () => (existsSync(entry) ? undefined : `${entry} does not exist`),
  };
}

function reachable(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const s = connect({ host: host!, port: Number(port) }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function hasProtocol(name: string): Promise<string | undefined> {
  const { createSwitchboard } = await import('@switchboard/server');
  const sb = createSwitchboard({}) as unknown as { protocol(n: string): unknown; shutdown(o?: object): Promise<void> };
  const ok = sb.protocol(name) !== undefined;
  await sb.shutdown({ timeoutMs: 100 }).catch(() => undefined);
  return ok ? undefined : `protocol '${name}' is not registered by createSwitchboard in this checkout`;
}

export const SYSTEMS: SystemDef[] = [
  { id: 'ws-loop', label: 'ws: JSON.stringify once, send() loop', server: 'ws-loop', adapter: 'raw', publisher: 'app' },
  { id: 'ws-ceiling', label: 'ws: frame built once, coalesced writes (frame-per-message ceiling)', server: 'ws-ceiling', adapter: 'raw', publisher: 'app' },
  { id: 'ws-batched', label: "ws: a tick's messages of a channel in ONE frame, built once (batched ceiling)", server: 'ws-batched', adapter: 'raw', publisher: 'app' },
  { id: 'socketio', label: 'Socket.IO 4 rooms', server: 'socketio', adapter: 'socketio', publisher: 'app' },
  { id: 'pondsocket', label: 'PondSocket 0.1.70 server', server: 'pondsocket', adapter: 'pondsocket', publisher: 'app' },
  { id: 'sb-native', label: 'Switchboard, native (Centrifugo JSON), memory', server: 'sb', adapter: 'centrifuge', publisher: 'app' },
  {
    id: 'sb-native-http',
    label: 'Switchboard, native, memory, published through the HTTP API',
    server: 'sb',
    adapter: 'centrifuge',
    publisher: 'http-api',
    unavailable: async () => ('createApiHandler' in (await import('@switchboard/server')) ? undefined : 'createApiHandler (HTTP API) has not landed in this checkout'),
  },
  {
    id: 'sb-http-stream',
    label: 'Switchboard, native over HTTP-streaming, memory',
    server: 'sb',
    adapter: 'http_stream',
    publisher: 'app',
    unavailable: async () => ('handleRequest' in (await import('@switchboard/server')).Switchboard.prototype ? undefined : 'the HTTP transports have not landed in this checkout'),
  },
  {
    id: 'sb-sse',
    label: 'Switchboard, native over SSE, memory',
    server: 'sb',
    adapter: 'sse',
    publisher: 'app',
    unavailable: async () => ('handleRequest' in (await import('@switchboard/server')).Switchboard.prototype ? undefined : 'the HTTP transports have not landed in this checkout'),
  },
  { id: 'sb-plain', label: 'Switchboard, plain JSON, memory', server: 'sb', adapter: 'plain', publisher: 'app', unavailable: () => hasProtocol('plain') },
  { id: 'sb-pond', label: 'Switchboard, PondSocket protocol, memory', server: 'sb', adapter: 'sbpond', publisher: 'app', unavailable: () => hasProtocol('pond') },
  { id: 'sb-phoenix', label: 'Switchboard, Phoenix Channels V2, memory', server: 'sb', adapter: 'phoenix', publisher: 'app', unavailable: () => hasProtocol('phoenix') },
  {
    id: 'sb-pusher',
    label: 'Switchboard, Pusher protocol 7, memory',
    server: 'sb',
    adapter: 'pusher',
    publisher: 'app',
    unavailable: async () => ('pusher' in (await import('@switchboard/server')) ? undefined : 'the Pusher protocol has not landed in this checkout'),
  },
  {
    id: 'sb-redis-2n',
    label: 'Switchboard, native, Redis, 2 nodes',
    server: 'sb-redis',
    adapter: 'centrifuge',
    publisher: 'second-node',
    unavailable: async () => {
      try {
        const m = (await import('@switchboard/redis')) as Record<string, unknown>;
        if (typeof m['createRedisEngine'] !== 'function') throw new Error('no engine');
      } catch {
        return '@switchboard/redis has not landed in this checkout';
      }
      if (await reachable(process.env['BENCH_REDIS'] ?? '127.0.0.1:6379')) return undefined;
      // In CI a missing Redis is a failure, never a skip.
      if (process.env['CI'] === 'true') throw new Error('Redis is not reachable at 127.0.0.1:6379 (CI=true)');
      return 'Redis is not reachable at 127.0.0.1:6379';
    },
  },
  {
    id: 'sb-redis-cluster-2n',
    label: 'Switchboard, native, Redis Cluster (3 masters), 2 nodes',
    server: 'sb-redis-cluster',
    adapter: 'centrifuge',
    publisher: 'second-node',
    unavailable: async () => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
        const m = (await import('@switchboard/redis' as string)) as Record<string, unknown>;
        if (typeof m['keySlot'] !== 'function') throw new Error('no cluster mode');
      } catch {
        return '@switchboard/redis with Redis Cluster mode has not landed in this checkout';
      }
      return undefined; // the cluster is started for the run (redis-server must be installed: an error otherwise)
    },
  },
  {
    id: 'sb-nats-2n',
    label: 'Switchboard, native, NATS, 2 nodes',
    server: 'sb-nats',
    adapter: 'centrifuge',
    publisher: 'second-node',
    unavailable: async () => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
        const m = (await import('@switchboard/nats' as string)) as Record<string, unknown>;
        if (typeof m['createNatsEngine'] !== 'function') throw new Error('no engine');
      } catch {
        return '@switchboard/nats has not landed in this checkout';
      }
      const address = (process.env['BENCH_NATS'] ?? 'nats://127.0.0.1:4222').replace(/^nats:\/\//, '');
      if (await reachable(address)) return undefined;
      if (process.env['CI'] === 'true') throw new Error(`NATS is not reachable at ${address} (CI=true)`);
      return `NATS is not reachable at ${address}`;
    },
  },
  {
    id: 'sb-postgres-2n',
    label: 'Switchboard, native, PostgreSQL, 2 nodes',
    server: 'sb-postgres',
    adapter: 'centrifuge',
    publisher: 'second-node',
    unavailable: async () => {
      if (await reachable(process.env['BENCH_POSTGRES_ADDRESS'] ?? '127.0.0.1:5432')) return undefined;
      if (process.env['CI'] === 'true') throw new Error('PostgreSQL is not reachable at 127.0.0.1:5432 (CI=true)');
      return 'PostgreSQL is not reachable at 127.0.0.1:5432';
    },
  },
];

/** A 3-master Redis Cluster of the run's own, on free ports, for the systems that need one. */
async function startCluster(): Promise<{ address: string; stop(): Promise<void> }> {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
  const m = (await import('../../packages/redis/scripts/redis-cluster.ts' as string)) as {
    RedisClusterProcess: { start(masters: number, replicas: number): Promise<{ address: string; stop(): Promise<void> }> };
  };
  return m.RedisClusterProcess.start(3, 0);
}

export interface BenchConfig {
  mode: 'full' | 'quick' | 'tiny';
  total: number;
  fanSizes: number[];
  stepMs: number;
  /** First ladder step, deliveries per second (the same for every N, so cost per delivery compares). */
  startDeliveries: number;
  factor: number;
  maxSteps: number;
  loadgens: number;
  connectConcurrency: number;
  drainMs: number;
  /** Drain ends when the delivered count stood still this many 100 ms polls. */
  stablePolls: number;
  systems?: string[];
  profile?: string;
  /** Another checkout to benchmark beside this one (`--other <dir>`: system `sb-native-other`). */
  other?: string;
  log?: (s: string) => void;
}

export const CONFIGS: Record<BenchConfig['mode'], Omit<BenchConfig, 'mode'>> = {
  full: { total: 10_000, fanSizes: [1000, 5000, 10_000], stepMs: 3000, startDeliveries: 25_000, factor: 1.6, maxSteps: 10, loadgens: 2, connectConcurrency: 100, drainMs: 4000, stablePolls: 3 },
  quick: { total: 5000, fanSizes: [1000, 5000], stepMs: 1000, startDeliveries: 25_000, factor: 2, maxSteps: 6, loadgens: 2, connectConcurrency: 100, drainMs: 2000, stablePolls: 3 },
  tiny: { total: 30, fanSizes: [10, 30], stepMs: 200, startDeliveries: 300, factor: 2, maxSteps: 2, loadgens: 1, connectConcurrency: 10, drainMs: 10_000, stablePolls: 20 },
};

// ───────────────────────────── children ─────────────────────────────

const TSX = import.meta.resolve('tsx');

class Child {
  readonly cp: ChildProcess;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;
  exited = false;
  constructor(file: string, args: string[], extraExecArgv: string[] = [], env?: Record<string, string>) {
    this.cp = fork(fileURLToPath(new URL(file, import.meta.url)), args, {
      ...(env ? { env: { ...process.env, ...env } } : {}),
      execArgv: ['--conditions=source', '--import', TSX, ...extraExecArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.ready = new Promise((resolve, reject) => {
      this.cp.once('message', () => resolve());
      this.cp.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
    });
    this.cp.on('message', (m: RpcReply | { ready: true }) => {
      if (!('id' in m)) return;
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.cp.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.#pending.values()) p.reject(new Error(`${file} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }
  call<T>(cmd: string, args?: unknown): Promise<T> {
    if (this.exited) return Promise.reject(new Error('child exited'));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.cp.send({ id, cmd, args });
    });
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.cp.once('exit', () => r()));
    // Asked to close, the child exits by itself (and writes its CPU profile when profiling).
    await Promise.race([this.call('close').catch(() => undefined), sleep(3000)]);
    await Promise.race([gone, sleep(5000)]);
    const t = setTimeout(() => this.cp.kill('SIGKILL'), 3000);
    if (!this.exited) this.cp.kill('SIGTERM');
    await gone;
    clearTimeout(t);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ───────────────────────────── results ─────────────────────────────

export interface StepResult {
  offeredPerSec: number;
  pubRate: number;
  published: number;
  expected: number;
  delivered: number;
  ratio: number;
  /** Deliveries per second over the time they actually took (first publish → last delivery). */
  deliveredPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  serverCpuPct: number;
  loadgenCpuPct: number[];
  cpuUsPerDelivery: number;
  publisherLagMs: number;
  passed: boolean;
  /** The first attempt at this rate failed; this is the second. */
  retried?: boolean;
}

export interface LadderResult {
  steps: StepResult[];
  /** Highest offered rate that passed (delivered ≥ 95 %, p99 ≤ 1 s), deliveries/s measured. */
  sustained: number;
  sustainedStep: number;
  /** Most deliveries/s reached in a passing step (0 when none passed). */
  capacity: number;
  /** The load generators used ≥ 90 % of a core in the best step: the client side may be the limit. */
  loadgenLimited: boolean;
}

export interface SystemResult {
  id: string;
  label: string;
  skipped?: string;
  error?: string;
  storm?: { connections: number; failed: number; ms: number; perSec: number; cpuUsPerConn: number; errors: string[] };
  idle?: { emptyRss: number; rss: number; perConnBytes: number; heapPerConnBytes: number };
  fan: Record<string, LadderResult>;
  many?: LadderResult;
  costUsPerDelivery: Record<string, number>;
  droppedConnections: number;
}

export interface BenchResult {
  meta: RunMeta & { mode: string; config: Omit<BenchConfig, 'log'> };
  systems: SystemResult[];
}

// ───────────────────────────── one system ─────────────────────────────

async function runSystem(def: SystemDef, cfg: BenchConfig, plan: Plan): Promise<SystemResult> {
  const log = cfg.log ?? (() => undefined);
  const res: SystemResult = { id: def.id, label: def.label, fan: {}, costUsPerDelivery: {}, droppedConnections: 0 };
  let reason: string | undefined;
  try {
    reason = await def.unavailable?.();
  } catch (err) {
    res.error = (err as Error).message;
    log(`  error: ${res.error}`);
    return res;
  }
  if (reason) {
    res.skipped = reason;
    return res;
  }
  // Nodes of one system share a Redis prefix of their own (nothing left over from other runs).
  process.env['BENCH_REDIS_PREFIX'] = `bench-${process.pid}-${def.id}-${Date.now()}`;
  let cluster: { address: string; stop(): Promise<void> } | undefined;
  if (def.server === 'sb-redis-cluster') {
    try {
      cluster = await startCluster();
    } catch (err) {
      res.error = `could not start a Redis Cluster: ${(err as Error).message}`;
      log(`  error: ${res.error}`);
      return res;
    }
    process.env['BENCH_REDIS_CLUSTER'] = cluster.address;
  }
  // … and a PostgreSQL schema of their own, dropped at the end
  process.env['BENCH_PG_SCHEMA'] = `bench_${process.pid}_${Date.now()}`;
  const server = new Child('./server.ts', [def.server], ['--expose-gc'], def.env);
  const children: Child[] = [server];
  try {
    await server.ready;
    const { port } = await server.call<{ port: number }>('start');
    let publisher = server;
    if (def.publisher !== 'app') {
      publisher = new Child('./server.ts', [def.publisher === 'http-api' ? 'http-publisher' : def.server], ['--expose-gc']);
      children.push(publisher);
      await publisher.ready;
      await publisher.call('start', { target: port });
    }
    const lgs: Child[] = [];
    for (let i = 0; i < cfg.loadgens; i++) lgs.push(new Child('./loadgen.ts', [String(i)]));
    children.push(...lgs);
    await Promise.all(lgs.map((l) => l.ready));
    const empty = await server.call<Usage>('usage', { gc: true });

    // Connection storm: every client connects with a JWT and subscribes to its channels.
    const u0 = await server.call<Usage>('usage');
    const shares = lgs.map((_, k) => plan.channels.map((channels, idx) => ({ idx, channels })).filter((c) => c.idx % lgs.length === k));
    const storms = await Promise.all(
      lgs.map((l, k) =>
        l.call<{ ms: number; ok: number; failed: number; errors: string[] }>('connect', {
          adapter: def.adapter,
          base: `ws://127.0.0.1:${port}`,
          conns: shares[k],
          concurrency: cfg.connectConcurrency,
          timeoutMs: cfg.mode === 'tiny' ? 10_000 : 30_000,
        }),
      ),
    );
    const u1 = await server.call<Usage>('usage');
    const ok = storms.reduce((a, s) => a + s.ok, 0);
    const ms = Math.max(...storms.map((s) => s.ms));
    res.storm = {
      connections: ok,
      failed: storms.reduce((a, s) => a + s.failed, 0),
      ms,
      perSec: ok / (ms / 1000),
      cpuUsPerConn: ok ? (u1.cpu - u0.cpu) / ok : 0,
      errors: storms.flatMap((s) => s.errors).slice(0, 5),
    };
    log(`  storm: ${ok}/${plan.total} subscribed in ${ms.toFixed(0)} ms, ${res.storm.cpuUsPerConn.toFixed(0)} µs CPU/conn${res.storm.failed ? `, ${res.storm.failed} failed: ${res.storm.errors[0]}` : ''}`);
    if (ok < plan.total * 0.99) throw new Error(`only ${ok} of ${plan.total} clients subscribed: ${res.storm.errors.join('; ')}`);

    // Idle memory: settle, collect garbage, compare with the empty server.
    await sleep(cfg.mode === 'tiny' ? 100 : 1000);
    const idle = await server.call<Usage>('usage', { gc: true });
    res.idle = { emptyRss: empty.rss, rss: idle.rss, perConnBytes: (idle.rss - empty.rss) / ok, heapPerConnBytes: (idle.heapUsed - empty.heapUsed) / ok };
    log(`  idle: ${(res.idle.perConnBytes / 1024).toFixed(1)} KB RSS/conn (${(idle.rss / 1048576).toFixed(0)} MB total)`);
    if (process.env['BENCH_HEAP_SNAPSHOT']) {
      const file = fileURLToPath(new URL(`../profiles/${def.id}-idle.heapsnapshot`, import.meta.url));
      await server.call('heapSnapshot', { file });
      log(`  heap snapshot of the idle server: ${file}`);
    }

    const ladder = async (label: string, target: { channel?: string; many?: number }, fanout: number): Promise<LadderResult> => {
      const steps: StepResult[] = [];
      let offered = cfg.startDeliveries;
      for (let s = 0; s < cfg.maxSteps; s++, offered *= cfg.factor) {
        const args = { ...target, rate: offered / fanout, durationMs: cfg.stepMs };
        let step = await runStep(server, publisher, lgs, args, fanout, cfg);
        if (!step.passed && cfg.mode !== 'tiny') {
          // One failed step ends the ladder, and on a shared machine a neighbour's burst can fail
          // it: let the backlog drain and try the same rate once more.
          log(`  ${label} ${fmtRate(offered)}/s failed (${(step.ratio * 100).toFixed(1)}%, p99 ${step.p99.toFixed(0)} ms): retrying once`);
          await settle(lgs, cfg);
          step = { ...(await runStep(server, publisher, lgs, args, fanout, cfg)), retried: true };
        }
        steps.push(step);
        log(
          `  ${label} ${fmtRate(offered)}/s: ${(step.ratio * 100).toFixed(1)}% delivered, ${fmtRate(step.deliveredPerSec)}/s, p50 ${step.p50.toFixed(2)} p99 ${step.p99.toFixed(2)} p99.9 ${step.p999.toFixed(2)} ms, server ${step.serverCpuPct.toFixed(0)}% CPU, ${step.cpuUsPerDelivery.toFixed(2)} µs/delivery, loadgen ${step.loadgenCpuPct.map((x) => x.toFixed(0)).join('/')}%`,
        );
        if (!step.passed) break;
      }
      let best = -1;
      steps.forEach((st, i) => {
        if (st.passed) best = i;
      });
      const bestStep = best >= 0 ? steps[best]! : undefined;
      return {
        steps,
        sustained: bestStep ? bestStep.deliveredPerSec : 0,
        sustainedStep: best,
        capacity: capacityOf(steps),
        loadgenLimited: (bestStep ?? steps[0]!).loadgenCpuPct.some((x) => x >= 90) || steps.some((x) => !x.passed && x.loadgenCpuPct.some((y) => y >= 90) && x.serverCpuPct < 90),
      };
    };

    for (const n of plan.fanSizes) {
      const profiling = cfg.profile === def.id && n === plan.fanSizes[plan.fanSizes.length - 1];
      if (profiling) await server.call('profileStart');
      const r = await ladder(`fan N=${n}`, { channel: `fan${n}` }, n);
      if (profiling) {
        const file = fileURLToPath(new URL(`../profiles/${def.id}-fanout-N${n}.cpuprofile`, import.meta.url));
        await server.call('profileStop', { file });
        log(`  CPU profile of the fan-out ladder: ${file}`);
      }
      res.fan[n] = r;
      res.costUsPerDelivery[n] = r.steps[0]!.cpuUsPerDelivery;
    }
    res.many = await ladder(`many ${plan.manyChannels}ch`, { many: plan.manyChannels }, plan.manySubscribers.reduce((a, b) => a + b, 0) / plan.manyChannels);
    const reports = await Promise.all(lgs.map((l) => l.call<{ closedUnexpectedly: number }>('report')));
    res.droppedConnections = reports.reduce((a, r) => a + r.closedUnexpectedly, 0);
    await Promise.all(lgs.map((l) => l.call('closeAll')));
  } catch (err) {
    res.error = err instanceof Error ? err.message.split('\n')[0] : String(err);
    log(`  error: ${res.error}`);
  } finally {
    await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
    await cluster?.stop();
    if (def.server === 'sb-postgres') await dropBenchSchema(process.env['BENCH_PG_SCHEMA']).catch(() => undefined);
  }
  return res;
}

async function dropBenchSchema(schema: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
  const { default: postgres } = (await import('postgres' as string)) as { default: unknown };
  const sql = (postgres as (dsn: string, o: object) => { unsafe(q: string): Promise<unknown>; end(o: object): Promise<void> })(process.env['BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Wait until deliveries stop arriving (the previous step's backlog is gone), bounded. */
async function settle(lgs: Child[], cfg: BenchConfig): Promise<void> {
  let last = -1;
  const end = nowMs() + cfg.drainMs * 2;
  while (nowMs() < end) {
    const got = (await Promise.all(lgs.map((l) => l.call<{ received: number }>('report')))).reduce((a, r) => a + r.received, 0);
    if (got === last) break;
    last = got;
    await sleep(500);
  }
}

async function runStep(server: Child, publisher: Child, lgs: Child[], args: PublishArgs, fanout: number, cfg: BenchConfig): Promise<StepResult> {
  const lg0 = await Promise.all(lgs.map((l) => l.call<Usage>('reset')));
  const s0 = await server.call<Usage>('usage');
  const pub = await publisher.call<PublishResult>('publish', args);
  const expected = pub.expected > 0 ? pub.expected : pub.published * fanout;
  // Drain: wait until everything arrived or the count stops moving.
  type Rep = { received: number; firstAt: number; lastAt: number; counts: number[]; usage: Usage };
  let reps: Rep[] = [];
  let last = -1;
  let stable = 0;
  const end = nowMs() + cfg.drainMs;
  for (;;) {
    reps = await Promise.all(lgs.map((l) => l.call<Rep>('report')));
    const got = reps.reduce((a, r) => a + r.received, 0);
    if (got >= expected || nowMs() > end) break;
    if (got === last) {
      if (++stable >= cfg.stablePolls) break;
    } else stable = 0;
    last = got;
    await sleep(100);
  }
  const s1 = await server.call<Usage>('usage');
  const delivered = reps.reduce((a, r) => a + r.received, 0);
  const hist = Histogram.merge(reps.map((r) => r.counts));
  const lastAt = Math.max(...reps.map((r) => r.lastAt));
  const span = Math.max(args.durationMs, lastAt - pub.startedAt);
  const p99 = hist.quantile(0.99);
  const ratio = expected ? delivered / expected : 0;
  const wall = s1.at - s0.at;
  return {
    offeredPerSec: args.rate * fanout,
    pubRate: args.rate,
    published: pub.published,
    expected,
    delivered,
    ratio,
    deliveredPerSec: delivered / (span / 1000),
    p50: hist.quantile(0.5),
    p99,
    p999: hist.quantile(0.999),
    serverCpuPct: ((s1.cpu - s0.cpu) / 1000 / wall) * 100,
    loadgenCpuPct: reps.map((r, i) => ((r.usage.cpu - lg0[i]!.cpu) / 1000 / (r.usage.at - lg0[i]!.at)) * 100),
    cpuUsPerDelivery: delivered ? (s1.cpu - s0.cpu) / delivered : 0,
    publisherLagMs: pub.lagMs,
    passed: ratio >= 0.95 && p99 <= 1000,
  };
}

/** Only a passing step shows what a system can carry: a failed step's rate is not capacity. */
export function capacityOf(steps: readonly StepResult[]): number {
  return Math.max(0, ...steps.filter((x) => x.passed).map((x) => x.deliveredPerSec));
}

/** A saved result with capacity recomputed by today's rule (runs saved before it counted failed steps). */
export function rerate(r: BenchResult): BenchResult {
  for (const s of r.systems) {
    for (const l of [...Object.values(s.fan), ...(s.many ? [s.many] : [])]) l.capacity = capacityOf(l.steps);
  }
  return r;
}

export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export async function runBench(cfg: BenchConfig): Promise<BenchResult> {
  const plan = makePlan(cfg.total, cfg.fanSizes);
  const { log: _log, ...config } = cfg;
  const out: BenchResult = {
    meta: { ...runMeta(), mode: cfg.mode, config },
    systems: [],
  };
  for (const def of [...SYSTEMS, ...(cfg.other ? [otherCheckout(cfg.other)] : [])]) {
    if (cfg.systems && !cfg.systems.includes(def.id)) continue;
    cfg.log?.(`${def.id}: ${def.label}`);
    out.systems.push(await runSystem(def, cfg, plan));
  }
  endMeta(out.meta);
  return out;
}

export { Child, sleep };
