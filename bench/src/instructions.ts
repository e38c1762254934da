/**
 * Instructions per delivery on the fan-out path, counted by valgrind's callgrind: a before/after
 * measurement that does not depend on how loaded the machine is (wall-clock throughput on a shared
 * 2-core machine swings by ±30 % from run to run; an instruction count repeats).
 *
 *   npm run instructions -w @switchboard/bench -- [--n 1000,5000] [--pubs 100] [--other <checkout>]
 *
 * For each checkout (this one, and `--other` when given; each must be built: `npm run build`) and
 * each N: a server child under callgrind (`instructions-server.ts`), N Centrifugo-protocol JSON
 * clients in this process subscribed to one channel, 30 warm-up publications, then counters zeroed
 * and `--pubs` publications, one at a time, each waited for until all N clients have it (so every
 * publication is fanned out alone: no coalescing that would depend on timing). The count covers the
 * whole server process during that phase (publish, encode once, N deliveries, N socket writes, GC,
 * the event loop, the kernel boundary in user space): instructions ÷ (pubs × N) is the cost of one
 * delivery with the publish amortised over N. Instructions are not time (cache misses and
 * system-call time are not in them), so this complements, not replaces, the throughput ladder.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { SECRET } from './common.js';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const sizes = (opt('--n') ?? '1000,5000').split(',').map(Number);
const pubs = Number(opt('--pubs') ?? 100);
const WARMUP = 30;
const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');
const checkouts: { id: string; label: string; entry: string }[] = [{ id: `this checkout`, label: 'this', entry: join(root, 'packages/server/dist/index.js') }];
const other = opt('--other');
if (other !== undefined) checkouts.push({ id: `other (${other})`, label: 'other', entry: join(resolve(other), 'packages/server/dist/index.js') });
// --keep <dir>: keep the callgrind dumps (callgrind_annotate shows where the instructions went).
const keep = opt('--keep');
if (keep !== undefined) mkdirSync(keep, { recursive: true });

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

interface Child {
  proc: ChildProcess;
  port: number;
  next(cmd: string): Promise<{ cmd: string; port?: number; error?: string }>;
}

async function startChild(entry: string, dir: string): Promise<Child> {
  const proc = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, process.execPath, '--predictable', '--expose-gc', '--import', 'tsx', join(here, 'instructions-server.ts'), entry], {
    cwd: resolve(here, '..'),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const waiting: ((m: { cmd: string; port?: number; error?: string }) => void)[] = [];
  proc.on('message', (m: { cmd: string; port?: number; error?: string }) => waiting.shift()?.(m));
  const next = (what: string) =>
    within(
      new Promise<{ cmd: string; port?: number; error?: string }>((r) => waiting.push(r)),
      600_000,
      what,
    );
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`server child exited (${code}): ${stderr}`))));
  exited.catch(() => undefined);
  const ready = await Promise.race([next('server start'), exited]);
  return { proc, port: ready.port!, next };
}

/** N clients subscribed to `fan`; `delivered` counts publications received by all of them. */
async function connectClients(port: number, n: number): Promise<{ count(): number; close(): void }> {
  const key = new TextEncoder().encode(SECRET);
  let received = 0;
  const sockets: WebSocket[] = [];
  const one = async (i: number): Promise<void> => {
    const token = await new SignJWT({ sub: `u${i}` }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`);
    sockets.push(ws);
    await within(
      new Promise<void>((resolveSub, reject) => {
        ws.on('error', reject);
        ws.on('open', () => ws.send(`${JSON.stringify({ id: 1, connect: { token } })}\n${JSON.stringify({ id: 2, subscribe: { channel: 'fan' } })}`));
        ws.on('message', (data: Buffer) => {
          const text = data.toString();
          for (const line of text.split('\n')) {
            if (line.includes('"pub":')) received++;
            else if (line.includes('"error"') || line.includes('"disconnect"')) reject(new Error(`refused: ${line.slice(0, 200)}`));
            else if (line.includes('"subscribe":')) resolveSub();
          }
        });
      }),
      600_000,
      `client ${i} subscribe`,
    );
  };
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => one(i + j)));
  return { count: () => received, close: () => sockets.forEach((s) => s.terminate()) };
}

async function publishAndWait(child: Child, clients: { count(): number }, n: number): Promise<void> {
  const target = clients.count() + n;
  child.proc.send({ cmd: 'publish' });
  const m = await child.next('publish');
  if (m.cmd !== 'published') throw new Error(`publish failed: ${m.error}`);
  const deadline = Date.now() + 600_000;
  while (clients.count() < target) {
    if (Date.now() > deadline) throw new Error(`only ${clients.count() - target + n} of ${n} deliveries arrived`);
    await new Promise((r) => setImmediate(r));
  }
}

async function measure(entry: string, label: string, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-instr-'));
  const child = await startChild(entry, dir);
  const pid = child.proc.pid!;
  try {
    const clients = await connectClients(child.port, n);
    for (let i = 0; i < WARMUP; i++) await publishAndWait(child, clients, n);
    child.proc.send({ cmd: 'gc' });
    await child.next('gc');
    await run('callgrind_control', ['-z', String(pid)]);
    for (let i = 0; i < pubs; i++) await publishAndWait(child, clients, n);
    await run('callgrind_control', ['-d', String(pid)]);
    clients.close();
    const dump = readdirSync(dir).find((f) => f === `cg.${pid}.1`);
    if (dump === undefined) throw new Error(`no callgrind dump in ${dir}`);
    const totals = /^totals:\s+(\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'));
    if (!totals) throw new Error('no totals line in the callgrind dump');
    if (keep !== undefined) copyFileSync(join(dir, dump), join(keep, `callgrind.${label}.n${n}.out`));
    return Number(totals[1]) / (pubs * n);
  } finally {
    child.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
const results: Record<string, Record<number, number>> = {};
for (const n of sizes) {
  for (const c of checkouts) {
    const perDelivery = await measure(c.entry, c.label, n);
    (results[c.id] ??= {})[n] = perDelivery;
    console.log(`${c.id} N=${n}: ${perDelivery.toFixed(0)} instructions per delivery (${pubs} publications)`);
  }
}
rows.push('| N | checkout | instructions per delivery |', '| ---: | --- | ---: |');
for (const n of sizes) for (const c of checkouts) rows.push(`| ${n.toLocaleString('en-US')} | ${c.id} | ${Math.round(results[c.id]![n]!).toLocaleString('en-US')} |`);
if (checkouts.length === 2) {
  for (const n of sizes) {
    const a = results[checkouts[0]!.id]![n]!;
    const b = results[checkouts[1]!.id]![n]!;
    rows.push('', `N=${n}: this checkout ${a > b ? 'uses' : 'saves'} ${Math.abs(((a - b) / b) * 100).toFixed(1)} % ${a > b ? 'more' : ''} instructions per delivery than the other.`.replace('  ', ' '));
  }
}
console.log(`\n${rows.join('\n')}`);
