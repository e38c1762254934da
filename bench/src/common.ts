/**
 * Shared by the orchestrator, the server child and the load generator children:
 * the publication payload (with the send timestamp), the latency histogram and the channel plan.
 */

/**
 * Milliseconds of the system-wide monotonic clock, sub-millisecond precision: the same clock in
 * every process on the machine (performance.timeOrigin is fixed per process and drifts from the
 * other processes' by milliseconds).
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The marker the load generator scans for: every publication carries `"bt":<send time ms>`. */
export const MARK = '"bt":';
/** The same mark inside data carried as a JSON string (Pusher frames). */
export const ESCAPED_MARK = '\\"bt\\":';
/** The Pusher app of the Switchboard systems (`/app/bench-key`). */
export const PUSHER_APP = { id: 'bench', key: 'bench-key', secret: 'bench-secret' };

/** A publication payload: the timestamp, a sequence number and padding to a realistic size. */
export function payload(seq: number, pad: string): { bt: number; s: number; p: string } {
  return { bt: nowMs(), s: seq, p: pad };
}

export const PAD = 'x'.repeat(48);

/**
 * Latency histogram with ~1 % relative precision: bucket = round(ln(µs) × 100). Mergeable by
 * adding counts, cheap enough to record every delivery.
 */
export const BUCKETS = 1900; // ln(1.6e8 µs ≈ 160 s) × 100

export class Histogram {
  counts = new Float64Array(BUCKETS);
  total = 0;
  record(ms: number): void {
    const us = ms * 1000;
    let i = us <= 1 ? 0 : Math.round(Math.log(us) * 100);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]!++;
    this.total++;
  }
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }
  static merge(parts: readonly number[][]): Histogram {
    const h = new Histogram();
    for (const p of parts) {
      for (let i = 0; i < BUCKETS; i++) h.counts[i]! += p[i] ?? 0;
    }
    for (let i = 0; i < BUCKETS; i++) h.total += h.counts[i]!;
    return h;
  }
  /** Percentile in ms (q in 0..1); 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= want) return Math.exp(i / 100) / 1000;
    }
    return Math.exp((BUCKETS - 1) / 100) / 1000;
  }
}

/**
 * Which channels each connection subscribes to. Logical names; each system maps them to its own
 * channel syntax. Connection i is in `fan<N>` for every fan-out size N > i, and in 1–3 of the
 * `u<j>` channels of the many-channels scenario (channel j has j % 3 + 1 subscribers).
 */
export interface Plan {
  readonly total: number;
  readonly fanSizes: readonly number[];
  readonly manyChannels: number;
  /** channels[i]: logical channel names of connection i. */
  readonly channels: readonly string[][];
  /** Subscribers per many-channel j. */
  readonly manySubscribers: readonly number[];
}

export function makePlan(total: number, fanSizes: readonly number[], manyChannels = total): Plan {
  const channels: string[][] = [];
  for (let i = 0; i < total; i++) {
    const list: string[] = [];
    for (const n of fanSizes) if (i < n) list.push(`fan${n}`);
    channels.push(list);
  }
  const manySubscribers: number[] = [];
  for (let j = 0; j < manyChannels; j++) {
    const k = (j % 3) + 1;
    manySubscribers.push(k);
    for (let m = 0; m < k; m++) channels[(j + m * 3331) % total]!.push(`u${j}`);
  }
  return { total, fanSizes, manyChannels, channels, manySubscribers };
}

/** Resource usage a child reports. */
export interface Usage {
  rss: number;
  heapUsed: number;
  /** Memory of Buffers and other C++ objects tied to JS objects (includes arrayBuffers). */
  external: number;
  /** user + system CPU, µs */
  cpu: number;
  at: number;
}

export function usage(): Usage {
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, cpu: c.user + c.system, at: nowMs() };
}

/** A request/response over a child's IPC channel. */
export interface Rpc {
  id: number;
  cmd: string;
  args?: unknown;
}
export interface RpcReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Serve RPCs from the parent on this child's IPC channel. */
export function serveRpc(handlers: Record<string, (args: never) => unknown>): void {
  process.on('message', (m: Rpc) => {
    const h = handlers[m.cmd];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        return h(m.args as never);
      })
      .then(
        (result) => process.send!({ id: m.id, ok: true, result } satisfies RpcReply),
        (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies RpcReply),
      );
  });
  // The parent going away ends the child: nothing may outlive a bench run.
  process.on('disconnect', () => process.exit(0));
}

export const SECRET = 'bench-secret-key-for-hs256-signing-0123456789';
