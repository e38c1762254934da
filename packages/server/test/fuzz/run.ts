// The protocol fuzzer: malformed frames over many connections against a server in a child process,
// while well-behaved bystanders keep subscribing, publishing and receiving on the same server.
//
//   npm run fuzz -- --frames 10000000 [--protocols centrifuge,pond,plain,phoenix,pusher] [--seed 42] [--concurrency 48]
//
// `--frames` is per protocol. The CI test (fuzz.test.ts) runs 100,000 per protocol.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Sampler, type CloseFrame, type ReplyFrame } from './frames.js';
import type { Dialect } from './dialect.js';
import { FUZZ_MAX_MESSAGE } from './config.js';
import { centrifugeDialect } from './centrifuge.js';
import { plainDialect } from './plain.js';
import { pondDialect } from './pond.js';
import { phoenixDialect } from './phoenix.js';
import { pusherDialect } from './pusher.js';
import { startBystanders, type Bystanders } from './bystanders.js';

export interface FuzzOptions {
  /** Frames per protocol. */
  frames: number;
  seed?: number;
  protocols?: string[];
  /** Concurrent fuzz connections per protocol. */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface ProtocolReport {
  protocol: string;
  frames: number;
  replyFrames: number;
  closeFrames: number;
  connections: number;
  byKind: Record<string, number>;
  closeCodes: Record<string, number>;
  failures: string[];
  failureCount: number;
}

export interface Measurement {
  rss: number;
  heapUsed: number;
  counts: { connections: number; users: number; channels: number; subscriptions: number; pendingUpgrades: number };
  errors: Record<string, number>;
  disconnects: Record<string, number>;
  handlerErrors: string[];
  fatal: string[];
  resources: string[];
}

export interface FuzzReport {
  protocols: ProtocolReport[];
  before: Measurement;
  after: Measurement;
  /** RSS after the run, each sample after a full GC, a second apart. */
  rssSamples: number[];
  bystanders: { published: number; receivers: number; delivered: boolean; problems: string[]; sideOps: number };
  serverExit: number | null;
  fatal: string[];
  seconds: number;
}

export const DIALECTS: Record<string, (maxMessage: number) => Dialect> = {
  centrifuge: centrifugeDialect,
  pond: pondDialect,
  plain: plainDialect,
  phoenix: phoenixDialect,
  pusher: pusherDialect,
};

/**
 * The server under test, in a child process. glibc gives each thread that allocates (libuv's pool
 * runs WebCrypto for token checks) its own malloc arena, and how much of those arenas stays resident
 * after a GC varies by several MiB from run to run; MALLOC_ARENA_MAX=2 (a common production setting
 * for Node services) keeps RSS comparable between the baseline and the end. FUZZ_ARENA overrides it.
 */
class ServerProcess {
  readonly child: ChildProcess;
  readonly fatal: string[] = [];
  #id = 0;
  #waiting = new Map<number, (m: Measurement) => void>();
  readonly ready: Promise<{ port: number; protocols: string[] }>;
  readonly exited: Promise<number | null>;
  constructor() {
    const script = fileURLToPath(new URL('./server.ts', import.meta.url));
    this.child = fork(script, [], { env: { ...process.env, MALLOC_ARENA_MAX: process.env.FUZZ_ARENA ?? '2' }, execArgv: ['--expose-gc', '--conditions=source', '--import', 'tsx', ...(process.env.FUZZ_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/fuzzprof'] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`fuzz server exited early (${code})`)));
      this.child.on('message', (m: { type: string; port?: number; protocols?: string[]; id?: number; error?: string }) => {
        if (m.type === 'ready') resolve({ port: m.port!, protocols: m.protocols! });
        else if (m.type === 'fatal') this.fatal.push(m.error!);
        else if (m.type === 'measured') {
          this.#waiting.get(m.id!)?.(m as unknown as Measurement);
          this.#waiting.delete(m.id!);
        }
      });
    });
  }
  measure(): Promise<Measurement> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('measure timed out')), 30_000);
      this.#waiting.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.child.send({ type: 'measure', id });
    });
  }
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.send({ type: 'stop' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

const WAIT_MS = 15_000;

/** One fuzz connection: sends frames and checks every reply and the close against the oracle. */
class FuzzConn {
  readonly ws: WebSocket;
  /** Replies due, by the key the frame chose. */
  readonly keyed = new Map<string, { expect: string; frame: string }>();
  /** Replies due that carry no key of ours, by outcome. */
  readonly anonymous = new Map<string, number>();
  due = 0;
  closed: { code: number; reason: string } | undefined;
  /** `closed` read afresh: a check of the field before an await would otherwise keep it narrowed after it. */
  closedNow(): { code: number; reason: string } | undefined {
    return this.closed;
  }
  #wake: (() => void) | undefined;
  constructor(
    url: string,
    readonly d: Dialect,
    readonly report: ProtocolReport,
  ) {
    this.ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    const replies: { key: string | undefined; outcome: string }[] = [];
    this.ws.on('message', (data: Buffer) => {
      replies.length = 0;
      try {
        d.parseReplies(data.toString(), replies);
      } catch (err) {
        this.fail(`unparseable server message: ${String(err)}: ${data.toString().slice(0, 200)}`);
        return;
      }
      for (const r of replies) this.#settle(r.key, r.outcome);
      this.#poke();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#poke();
    });
    this.ws.on('error', () => {});
  }
  expect(f: ReplyFrame, id: number, text: string): void {
    this.due += f.anonymous ?? 1;
    if (f.anonymous !== undefined) this.anonymous.set(f.expect, (this.anonymous.get(f.expect) ?? 0) + f.anonymous);
    else this.keyed.set(String(id), { expect: f.expect, frame: text });
  }
  expectAnonymous(outcome: string): void {
    this.due++;
    this.anonymous.set(outcome, (this.anonymous.get(outcome) ?? 0) + 1);
  }
  #settle(key: string | undefined, outcome: string): void {
    const k = key === undefined ? undefined : this.keyed.get(key);
    if (k !== undefined) {
      this.keyed.delete(key!);
      this.due--;
      if (k.expect !== outcome) this.fail(`frame ${k.frame.slice(0, 300)} expected ${k.expect}, got ${outcome}`);
      return;
    }
    const n = this.anonymous.get(outcome) ?? 0;
    if (n > 0) {
      this.anonymous.set(outcome, n - 1);
      this.due--;
      return;
    }
    this.fail(`unexpected reply ${outcome} (key ${key})`);
  }
  fail(msg: string): void {
    this.report.failureCount++;
    if (this.report.failures.length < 20) this.report.failures.push(`${this.d.protocol}: ${msg}`);
  }
  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
  async waitFor(cond: () => boolean, what: string): Promise<boolean> {
    const end = Date.now() + WAIT_MS;
    while (!cond()) {
      if (Date.now() > end) {
        this.fail(`timed out waiting for ${what}`);
        return false;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 200).unref();
      });
    }
    return true;
  }
  open(): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve(true);
      this.ws.once('open', () => resolve(true));
      this.ws.once('close', () => resolve(false));
      this.ws.once('unexpected-response', (_req, res) => {
        this.fail(`upgrade refused: HTTP ${res.statusCode}`);
        resolve(false);
      });
    });
  }
}

/** Runs one fuzz worker until the protocol's frame budget is spent. */
async function worker(url: string, d: Dialect, budget: { left: number }, replies: Sampler<ReplyFrame>, closers: Sampler<CloseFrame>, r: ProtocolReport): Promise<void> {
  let round = 0;
  while (budget.left > 0) {
    round++;
    const closer = closers.next();
    const conn = new FuzzConn(url, d, r);
    r.connections++;
    for (const g of d.greeting) conn.expectAnonymous(g);
    if (!(await conn.open())) {
      r.failureCount++;
      if (r.failures.length < 20) r.failures.push(`${d.protocol}: connection refused or closed before open`);
      continue;
    }
    let nextId = d.firstId;
    if (closer.stage === 'post') {
      for (const h of d.handshake) {
        const id = nextId++;
        const text = h.text(id);
        conn.expect(h, id, text);
        conn.ws.send(text);
      }
      if (!(await conn.waitFor(() => conn.due === 0 || conn.closed !== undefined, 'handshake replies'))) {
        conn.ws.terminate();
        continue;
      }
      // Several messages of in-band frames before the closing one.
      const messages = 4 + (round % 9);
      for (let m = 0; m < messages && budget.left > 0 && conn.closed === undefined; m++) {
        const parts: string[] = [];
        let size = 0;
        const max = d.batching === 'newline' ? 150 : 40;
        while (parts.length < max && budget.left > 0) {
          const f = replies.next();
          const id = nextId++;
          const text = f.text(id);
          if (f.binary) {
            // Binary frames travel alone.
            conn.expect(f, id, text);
            conn.ws.send(Buffer.from(text), { binary: true });
            r.byKind[f.kind] = (r.byKind[f.kind] ?? 0) + 1;
            r.replyFrames++;
            budget.left--;
            continue;
          }
          const bytes = Buffer.byteLength(text) + 1;
          if (d.batching === 'newline' && size + bytes > FUZZ_MAX_MESSAGE - 64) break;
          size += bytes;
          parts.push(text);
          conn.expect(f, id, text);
          r.byKind[f.kind] = (r.byKind[f.kind] ?? 0) + 1;
          r.replyFrames++;
          budget.left--;
        }
        // Binary frames went out alone above; their replies are due too before the next message.
        if (d.batching === 'newline' && parts.length > 0) conn.ws.send(parts.join('\n'));
        else for (const p of parts) conn.ws.send(p);
        await conn.waitFor(() => conn.due === 0 || conn.closed !== undefined, 'replies');
        const closed = conn.closedNow();
        if (closed !== undefined) conn.fail(`closed (${closed.code} ${closed.reason}) while replies were due`);
      }
    } else if (d.greeting.length > 0) {
      await conn.waitFor(() => conn.due === 0 || conn.closed !== undefined, 'greeting');
    }
    if (conn.closed === undefined) {
      conn.ws.send(closer.data, { binary: closer.binary });
      budget.left--;
      r.closeFrames++;
      r.byKind[closer.kind] = (r.byKind[closer.kind] ?? 0) + 1;
      if (await conn.waitFor(() => conn.closed !== undefined, `close after ${closer.kind}`)) {
        const code = conn.closed!.code;
        r.closeCodes[code] = (r.closeCodes[code] ?? 0) + 1;
        if (!closer.expect.includes(code)) {
          const shown = typeof closer.data === 'string' ? closer.data.slice(0, 200) : `<${closer.data.length} bytes>`;
          conn.fail(`${closer.kind} ${shown} expected close ${closer.expect.join('|')}, got ${code} ${conn.closed!.reason}`);
        }
      }
      if (conn.due > 0) conn.fail(`${conn.due} replies never came`);
    }
    conn.ws.terminate();
  }
}

async function fuzzProtocol(base: string, d: Dialect, frames: number, seed: number, concurrency: number): Promise<ProtocolReport> {
  const r: ProtocolReport = { protocol: d.protocol, frames: 0, replyFrames: 0, closeFrames: 0, connections: 0, byKind: {}, closeCodes: {}, failures: [], failureCount: 0 };
  const budget = { left: frames };
  const url = base + d.path;
  await Promise.all(
    Array.from({ length: concurrency }, (_, i) => worker(url, d, budget, new Sampler(d.replyFrames, seed * 1000 + i * 2), new Sampler(d.closeFrames, seed * 1000 + i * 2 + 1, 64), r)),
  );
  r.frames = r.replyFrames + r.closeFrames;
  return r;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? Date.now() % 100_000;
  const concurrency = opts.concurrency ?? 48;
  const server = new ServerProcess();
  let bystanders: Bystanders | undefined;
  try {
    const { port, protocols: available } = await server.ready;
    const wanted = (opts.protocols ?? Object.keys(DIALECTS)).filter((p) => DIALECTS[p] && available.includes(p));
    const base = `ws://127.0.0.1:${port}`;
    log(`fuzz server on ${base}; protocols ${wanted.join(', ')}; seed ${seed}; ${opts.frames} frames per protocol`);
    bystanders = await startBystanders(base, available);
    // Warm-up: code paths compiled and pools allocated before the baseline is taken.
    for (const p of wanted) await fuzzProtocol(base, DIALECTS[p]!(FUZZ_MAX_MESSAGE), Math.min(5_000, opts.frames), seed + 7, concurrency);
    const before = await server.measure();
    log(`baseline RSS ${(before.rss / 1048576).toFixed(1)} MiB`);
    const reports: ProtocolReport[] = [];
    for (const p of wanted) {
      const t0 = Date.now();
      const rep = await fuzzProtocol(base, DIALECTS[p]!(FUZZ_MAX_MESSAGE), opts.frames, seed, concurrency);
      reports.push(rep);
      log(`${p}: ${rep.frames} frames (${rep.replyFrames} answered in-band, ${rep.closeFrames} closing) over ${rep.connections} connections in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${rep.failureCount} failures`);
    }
    const bys = await bystanders.finish();
    // RSS settles after the run (freed pages go back to the system lazily): up to five samples a
    // second apart, stopping once within 10 % of the baseline. Every sample is reported.
    const samples: number[] = [];
    let after = await server.measure();
    samples.push(after.rss);
    while (samples.length < 5 && after.rss > before.rss * 1.1) {
      await new Promise((r) => setTimeout(r, 1000));
      after = await server.measure();
      samples.push(after.rss);
    }
    log(`after RSS ${(after.rss / 1048576).toFixed(1)} MiB (${(((after.rss - before.rss) / before.rss) * 100).toFixed(1)} %); samples ${samples.map((x) => (x / 1048576).toFixed(1)).join(', ')} MiB`);
    const serverExit = await server.stop();
    return { protocols: reports, before, after, rssSamples: samples, bystanders: bys, serverExit, fatal: server.fatal, seconds: (Date.now() - started) / 1000 };
  } finally {
    bystanders?.close();
    if (server.child.exitCode === null) await server.stop();
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const frames = Number(arg('frames') ?? 100_000);
  const report = await runFuzz({
    frames,
    ...(arg('seed') ? { seed: Number(arg('seed')) } : {}),
    ...(arg('protocols') ? { protocols: arg('protocols')!.split(',') } : {}),
    ...(arg('concurrency') ? { concurrency: Number(arg('concurrency')) } : {}),
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify({ ...report, before: { ...report.before, handlerErrors: undefined }, after: { ...report.after } }, null, 2));
  const failed = report.protocols.some((p) => p.failureCount > 0) || report.fatal.length > 0 || report.serverExit !== 0 || !report.bystanders.delivered;
  process.exit(failed ? 1 : 0);
}
