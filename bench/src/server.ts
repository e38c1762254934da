/**
 * The server-under-test child: starts one system, publishes on request from app code at a fixed
 * rate, and reports its own RSS and CPU time. Run by the orchestrator with an IPC channel.
 */
import { writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { Session } from 'node:inspector/promises';
import { PAD, nowMs, serveRpc, usage } from './common.js';
import { startSystem, type RunningSystem, type SystemName } from './systems.js';

const name = process.argv[2] as SystemName;
let system: RunningSystem | undefined;
let profiler: Session | undefined;

export interface PublishArgs {
  /** One channel (fan-out) … */
  channel?: string;
  /** … or spread over u0..u(many-1), channel j having j % 3 + 1 subscribers. */
  many?: number;
  /** Publications per second. */
  rate: number;
  durationMs: number;
}

export interface PublishResult {
  published: number;
  /** Deliveries the publications should produce (many-channels scenario). */
  expected: number;
  startedAt: number;
  endedAt: number;
  /** How late the publisher itself ran behind its schedule at the end, ms (event loop saturated). */
  lagMs: number;
}

/**
 * Publish `rate`/s for `durationMs`. Each payload carries its *scheduled* send time, so lateness
 * caused by a saturated event loop counts against the system (no coordinated omission).
 */
export function publishLoop(publish: (channel: string, data: object) => unknown, a: PublishArgs): Promise<PublishResult> {
  const total = Math.max(1, Math.round((a.rate * a.durationMs) / 1000));
  const start = nowMs();
  const interval = 1000 / a.rate;
  let sent = 0;
  let expected = 0;
  let seed = 12345;
  return new Promise((resolve, reject) => {
    const tick = () => {
      try {
        const now = nowMs();
        const due = Math.min(total, Math.floor((now - start) / interval) + 1);
        while (sent < due) {
          const bt = start + sent * interval;
          let channel: string;
          if (a.many !== undefined) {
            seed = (seed * 1103515245 + 12345) & 0x7fffffff;
            const j = seed % a.many;
            channel = `u${j}`;
            expected += (j % 3) + 1;
          } else channel = a.channel!;
          const r = publish(channel, { bt, s: sent, p: PAD });
          if (r instanceof Promise) r.catch(() => undefined);
          sent++;
        }
        if (sent >= total) {
          const end = nowMs();
          return resolve({ published: sent, expected, startedAt: start, endedAt: end, lagMs: Math.max(0, end - (start + (total - 1) * interval)) });
        }
        setTimeout(tick, 1);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    tick();
  });
}

const gc = (globalThis as { gc?: () => void }).gc;

serveRpc({
  async start(args?: { target?: number }) {
    system = await startSystem(name, args?.target);
    return { port: system.port, pid: process.pid };
  },
  usage(args?: { gc?: boolean }) {
    if (args?.gc && gc) {
      gc();
      gc();
    }
    return usage();
  },
  publish(args: PublishArgs) {
    const s = system;
    if (!s) throw new Error('not started');
    return publishLoop((channel, data) => s.publish(channel, data), args);
  },
  /** Heap snapshot (idle connections' memory by constructor): `heap-summary.ts` reads it. */
  heapSnapshot(args: { file: string }) {
    return writeHeapSnapshot(args.file);
  },
  /** CPU profile of a phase (the fan-out ladder), written as a .cpuprofile for DevTools. */
  async profileStart() {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
    await profiler.post('Profiler.start');
    return true;
  },
  async profileStop(args: { file: string }) {
    if (!profiler) return false;
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(args.file, JSON.stringify(profile));
    profiler.disconnect();
    profiler = undefined;
    return true;
  },
  async close() {
    await system?.close();
    system = undefined;
    setImmediate(() => process.exit(0));
    return true;
  },
});
process.send!({ ready: true });
