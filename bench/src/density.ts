/**
 * The `density` and `storm` scenarios: how many idle subscribed connections one server process
 * holds and what each costs (memory, CPU), how long a broadcast to all of them takes, and how fast
 * JWT connects + subscribes are absorbed, first as an initial storm and then as a reconnect storm.
 * Each system runs alone in its server child; load generators open the connections from several
 * loopback source addresses (127.0.0.x) so one port range is not the limit.
 */
import { readFileSync } from 'node:fs';
import { platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Usage } from './common.js';
import { endMeta, runMeta, type RunMeta } from './meta.js';
import { Child, SYSTEMS, sleep } from './run.js';
import type { PublishResult } from './server.js';

export const DENSITY_SYSTEMS = ['sb-native', 'ws-loop', 'socketio'];

export interface DensityConfig {
  /** Connection counts measured in turn (connections are added, never reopened, between levels). */
  levels: number[];
  systems: string[];
  /** Window over which idle CPU is measured, ms. */
  idleWindowMs: number;
  /** Most connections one load generator process opens (each holds one descriptor per connection). */
  perLoadgen: number;
  connectConcurrency: number;
  timeoutMs: number;
  /** How many loopback source addresses (127.0.0.1 … 127.0.0.k) the connections are spread over. */
  sources: number;
  /** Write heap snapshots of the baseline and of each level into bench/profiles/ (`heap-summary.ts a b n` diffs them). */
  heapSnapshots?: boolean;
  /** storm: reconnects are spread uniformly over this window (the SDK backoff's jitter). */
  spreadMs: number;
  log?: (s: string) => void;
}

export const DENSITY_DEFAULTS: Omit<DensityConfig, 'levels' | 'log'> = {
  systems: DENSITY_SYSTEMS,
  idleWindowMs: 5000,
  perLoadgen: 15_000,
  connectConcurrency: 200,
  timeoutMs: 60_000,
  sources: platform() === 'linux' ? 8 : 1,
  spreadMs: 5000,
};

export interface DensityLevel {
  n: number;
  connected: number;
  failed: number;
  errors: string[];
  rss: number;
  heapUsed: number;
  /** (RSS − the warm baseline's RSS) / (connections − warm-up connections), after gc(). */
  rssPerConn: number;
  heapPerConn: number;
  /** Buffers and other memory outside the JS heap that JS objects hold, per connection. */
  externalPerConn: number;
  /** Server CPU while every connection sat idle, % of one core, and µs per connection per second. */
  idleCpuPct: number;
  idleCpuUsPerConnSec: number;
  /** One publication to a channel every connection is in: publish → last delivery, ms. */
  broadcastMs: number;
  broadcastDelivered: number;
}

export interface StormWave {
  connections: number;
  failed: number;
  errors: string[];
  ms: number;
  /** Connections per wall-clock second. */
  perSec: number;
  /** Connections per second of server CPU: the rate one core absorbs. */
  perCoreSec: number;
  cpuUsPerConn: number;
}

export interface DensitySystem {
  id: string;
  label: string;
  error?: string;
  emptyRss?: number;
  emptyHeap?: number;
  /** The baseline: the server after `warmup` connections came and stayed (code paths loaded, pools grown). */
  warmup?: number;
  baseRss?: number;
  baseHeap?: number;
  levels: DensityLevel[];
  storm?: { initial: StormWave; reconnect: StormWave; spreadMs: number; afterBroadcast: { delivered: number; ms: number } };
}

export interface DensityResult {
  meta: RunMeta & { scenario: 'density' | 'storm'; fdLimit: number; config: Omit<DensityConfig, 'log'> };
  /** Levels the open files limit did not allow, with the reason. */
  notRun: string[];
  systems: DensitySystem[];
}

export function openFilesLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return Infinity;
}

/** The channels of connection i: `all` (every connection) and one of 100 groups. */
const channelsOf = (i: number) => ['all', `g${i % 100}`];

type Wave = { ms: number; ok: number; failed: number; errors: string[] };

class Rig {
  readonly server: Child;
  readonly lgs: Child[] = [];
  connected = 0;
  constructor(
    readonly def: (typeof SYSTEMS)[number],
    readonly cfg: DensityConfig,
    loadgens: number,
  ) {
    this.server = new Child('./server.ts', [def.server], ['--expose-gc']);
    for (let i = 0; i < loadgens; i++) this.lgs.push(new Child('./loadgen.ts', [String(i)]));
  }
  port = 0;
  async start(): Promise<Usage> {
    await Promise.all([this.server.ready, ...this.lgs.map((l) => l.ready)]);
    this.port = (await this.server.call<{ port: number }>('start')).port;
    return this.server.call<Usage>('usage', { gc: true });
  }
  /** Open connections [connected, n) spread over the load generators; returns the merged wave. */
  async connectTo(n: number): Promise<Wave> {
    const sources = Array.from({ length: this.cfg.sources }, (_, k) => `127.0.0.${k + 1}`);
    const shares = this.lgs.map(() => [] as { idx: number; channels: string[] }[]);
    for (let i = this.connected; i < n; i++) shares[i % this.lgs.length]!.push({ idx: i, channels: channelsOf(i) });
    const waves = await Promise.all(
      this.lgs.map((l, k) =>
        shares[k]!.length
          ? l.call<Wave>('connect', { adapter: this.def.adapter, base: `ws://127.0.0.1:${this.port}`, conns: shares[k], concurrency: Math.ceil(this.cfg.connectConcurrency / this.lgs.length), timeoutMs: this.cfg.timeoutMs, localAddresses: sources })
          : Promise.resolve({ ms: 0, ok: 0, failed: 0, errors: [] }),
      ),
    );
    const w = merge(waves);
    this.connected += w.ok;
    return w;
  }
  /** One publication to `all`; wait for every open connection to get it (bounded). */
  async broadcast(): Promise<{ delivered: number; ms: number }> {
    await Promise.all(this.lgs.map((l) => l.call('reset')));
    const pub = await this.server.call<PublishResult>('publish', { channel: 'all', rate: 1, durationMs: 1 });
    type Rep = { received: number; lastAt: number; open: number };
    const end = Date.now() + 30_000 + this.connected / 10;
    let reps: Rep[] = [];
    for (;;) {
      reps = await Promise.all(this.lgs.map((l) => l.call<Rep>('report')));
      const open = reps.reduce((a, r) => a + r.open, 0);
      if (reps.reduce((a, r) => a + r.received, 0) >= open || Date.now() > end) break;
      await sleep(50);
    }
    const delivered = reps.reduce((a, r) => a + r.received, 0);
    return { delivered, ms: delivered ? Math.max(...reps.map((r) => r.lastAt)) - pub.startedAt : -1 };
  }
  async stop(): Promise<void> {
    await Promise.all([this.server, ...this.lgs].map((c) => c.stop().catch(() => undefined)));
  }
}

function merge(waves: Wave[]): Wave {
  return {
    ms: Math.max(0, ...waves.map((w) => w.ms)),
    ok: waves.reduce((a, w) => a + w.ok, 0),
    failed: waves.reduce((a, w) => a + w.failed, 0),
    errors: waves.flatMap((w) => w.errors).slice(0, 5),
  };
}

function wave(w: Wave, u0: Usage, u1: Usage): StormWave {
  const cpuUs = u1.cpu - u0.cpu;
  return { connections: w.ok, failed: w.failed, errors: w.errors, ms: w.ms, perSec: w.ms ? w.ok / (w.ms / 1000) : 0, perCoreSec: cpuUs ? w.ok / (cpuUs / 1e6) : 0, cpuUsPerConn: w.ok ? cpuUs / w.ok : 0 };
}

function plan(cfg: DensityConfig, scenario: 'density' | 'storm'): { levels: number[]; notRun: string[]; fdLimit: number } {
  const fdLimit = openFilesLimit();
  // The server child holds one descriptor per connection, plus its own.
  const max = fdLimit - 512;
  const notRun = cfg.levels.filter((n) => n > max).map((n) => `N=${n}: the open files limit is ${fdLimit} (ulimit -n), so one server process holds at most ~${max} connections here; raise the hard limit to run it`);
  const levels = [...new Set(cfg.levels.filter((n) => n <= max))].sort((a, b) => a - b);
  if (scenario === 'storm' && levels.length > 1) levels.splice(0, levels.length - 1);
  return { levels, notRun, fdLimit };
}

async function forEachSystem(cfg: DensityConfig, top: number, body: (rig: Rig, res: DensitySystem) => Promise<void>): Promise<DensitySystem[]> {
  const out: DensitySystem[] = [];
  for (const id of cfg.systems) {
    const def = SYSTEMS.find((s) => s.id === id);
    if (!def) throw new Error(`unknown system ${id} (known: ${SYSTEMS.map((s) => s.id).join(', ')})`);
    cfg.log?.(`${id}: ${def.label}`);
    const res: DensitySystem = { id, label: def.label, levels: [] };
    const rig = new Rig(def, cfg, Math.max(1, Math.ceil(top / cfg.perLoadgen)));
    try {
      const empty = await rig.start();
      res.emptyRss = empty.rss;
      res.emptyHeap = empty.heapUsed;
      await body(rig, res);
    } catch (err) {
      res.error = err instanceof Error ? err.message.split('\n')[0] : String(err);
      cfg.log?.(`  error: ${res.error}`);
    } finally {
      await rig.stop();
    }
    out.push(res);
  }
  return out;
}

const kb = (b: number) => (b / 1024).toFixed(2);

export async function runDensity(cfg: DensityConfig): Promise<DensityResult> {
  const { levels, notRun, fdLimit } = plan(cfg, 'density');
  const { log: _l, ...config } = cfg;
  const meta = { ...runMeta(), scenario: 'density' as const, fdLimit, config };
  for (const r of notRun) cfg.log?.(`not run: ${r}`);
  const systems = await forEachSystem(cfg, levels[levels.length - 1] ?? 0, async (rig, res) => {
    // Baseline: an empty server has not loaded its connection code paths yet, so its RSS is too
    // low (small N then shows a per-connection figure far too high). Warm up with a few
    // connections that stay open, and count only the connections added after the baseline.
    res.warmup = Math.max(10, Math.min(500, Math.floor((levels[0] ?? 0) / 10)));
    await rig.connectTo(res.warmup);
    await sleep(500);
    const base = await rig.server.call<Usage>('usage', { gc: true });
    res.baseRss = base.rss;
    res.baseHeap = base.heapUsed;
    const warm = rig.connected;
    const snapshot = async (tag: string) => {
      if (!cfg.heapSnapshots) return;
      const file = fileURLToPath(new URL(`../profiles/density-${res.id}-${tag}.heapsnapshot`, import.meta.url));
      await rig.server.call('heapSnapshot', { file });
      cfg.log?.(`  heap snapshot: ${file}`);
    };
    await snapshot(`base${warm}`);
    for (const n of levels) {
      const w = await rig.connectTo(n);
      if (rig.connected < n * 0.99) throw new Error(`only ${rig.connected} of ${n} connections subscribed: ${w.errors.join('; ')}`);
      await sleep(1000);
      const idle = await rig.server.call<Usage>('usage', { gc: true });
      await snapshot(`N${rig.connected}`);
      const u0 = await rig.server.call<Usage>('usage');
      await sleep(cfg.idleWindowMs);
      const u1 = await rig.server.call<Usage>('usage');
      const cpuUs = u1.cpu - u0.cpu;
      const wallMs = u1.at - u0.at;
      const b = await rig.broadcast();
      const level: DensityLevel = {
        n,
        connected: rig.connected,
        failed: w.failed,
        errors: w.errors,
        rss: idle.rss,
        heapUsed: idle.heapUsed,
        rssPerConn: (idle.rss - base.rss) / (rig.connected - warm),
        heapPerConn: (idle.heapUsed - base.heapUsed) / (rig.connected - warm),
        externalPerConn: (idle.external - base.external) / (rig.connected - warm),
        idleCpuPct: (cpuUs / 1000 / wallMs) * 100,
        idleCpuUsPerConnSec: cpuUs / (wallMs / 1000) / rig.connected,
        broadcastMs: b.ms,
        broadcastDelivered: b.delivered,
      };
      res.levels.push(level);
      cfg.log?.(
        `  N=${n}: ${rig.connected} subscribed, ${kb(level.rssPerConn)} KB RSS/conn, ${kb(level.heapPerConn)} KB heap/conn, ${kb(level.externalPerConn)} KB external/conn, idle CPU ${level.idleCpuPct.toFixed(2)}% of a core, broadcast to all ${b.delivered} in ${b.ms.toFixed(0)} ms`,
      );
    }
  });
  return { meta: endMeta(meta), notRun, systems };
}

export async function runStorm(cfg: DensityConfig): Promise<DensityResult> {
  const { levels, notRun, fdLimit } = plan(cfg, 'storm');
  const { log: _l, ...config } = cfg;
  const meta = { ...runMeta(), scenario: 'storm' as const, fdLimit, config };
  for (const r of notRun) cfg.log?.(`not run: ${r}`);
  const n = levels[0];
  const systems = n === undefined ? [] : await forEachSystem(cfg, n, async (rig, res) => {
    const u0 = await rig.server.call<Usage>('usage');
    const w1 = await rig.connectTo(n);
    const u1 = await rig.server.call<Usage>('usage');
    const initial = wave(w1, u0, u1);
    cfg.log?.(`  initial: ${w1.ok}/${n} in ${w1.ms.toFixed(0)} ms, ${initial.perCoreSec.toFixed(0)} connects+subscribes per CPU-second, ${w1.failed} failed${w1.errors[0] ? ` (${w1.errors[0]})` : ''}`);
    if (w1.ok < n * 0.99) throw new Error(`only ${w1.ok} of ${n} connections subscribed: ${w1.errors.join('; ')}`);
    await sleep(1000);
    const u2 = await rig.server.call<Usage>('usage');
    const waves = await Promise.all(rig.lgs.map((l) => l.call<Wave>('reconnect', { spreadMs: cfg.spreadMs, concurrency: Math.ceil(cfg.connectConcurrency / rig.lgs.length) })));
    const u3 = await rig.server.call<Usage>('usage');
    const w2 = merge(waves);
    const reconnect = wave(w2, u2, u3);
    cfg.log?.(`  reconnect storm (spread over ${cfg.spreadMs} ms): ${w2.ok}/${w1.ok} in ${w2.ms.toFixed(0)} ms, ${reconnect.perCoreSec.toFixed(0)} per CPU-second, ${w2.failed} failed${w2.errors[0] ? ` (${w2.errors[0]})` : ''}`);
    rig.connected = w2.ok;
    const afterBroadcast = await rig.broadcast();
    cfg.log?.(`  after the storm, one broadcast reached ${afterBroadcast.delivered} of ${w2.ok}`);
    res.storm = { initial, reconnect, spreadMs: cfg.spreadMs, afterBroadcast };
  });
  return { meta: endMeta(meta), notRun, systems };
}
