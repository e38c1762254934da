/** Markdown tables and target ratios from a BenchResult; RESULTS.md's generated section. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { metaLine } from './meta.js';
import { fmtRate, type BenchResult, type LadderResult, type StepResult, type SystemResult } from './run.js';

const ms = (x: number | undefined) => (x === undefined ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const kb = (b: number) => (b / 1024).toFixed(1);

function at(l: LadderResult | undefined): StepResult | undefined {
  return l && l.sustainedStep >= 0 ? l.steps[l.sustainedStep] : undefined;
}

export interface TargetCheck {
  target: string;
  value: string;
  ok: boolean | undefined;
}

export function targetN(r: BenchResult): number {
  const sizes = r.meta.config.fanSizes;
  return sizes.includes(5000) ? 5000 : sizes[sizes.length - 1]!;
}

export function checkTargets(r: BenchResult): TargetCheck[] {
  const by = (id: string) => r.systems.find((s) => s.id === id && !s.skipped && !s.error);
  const n = targetN(r);
  const sizes = r.meta.config.fanSizes;
  const out: TargetCheck[] = [];
  const sb = by('sb-native');
  const ceil = by('ws-ceiling');
  const loop = by('ws-loop');
  const sio = by('socketio');
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : undefined);
  const check = (target: string, v: number | undefined, min: number | undefined, max?: number, fmt = (x: number) => `${x.toFixed(2)}×`) =>
    out.push({ target, value: v === undefined ? 'n/a' : fmt(v), ok: v === undefined ? undefined : (min === undefined || v >= min) && (max === undefined || v <= max) });
  check(`native capacity ≥ 0.8× ws frame-per-message ceiling (N=${n})`, ratio(sb?.fan[n]?.capacity, ceil?.fan[n]?.capacity), 0.8);
  check(`native capacity ≥ 0.8× ws batched ceiling, like for like (N=${n})`, ratio(sb?.fan[n]?.capacity, by('ws-batched')?.fan[n]?.capacity), 0.8);
  check(`native capacity ≥ 3× Socket.IO (N=${n})`, ratio(sb?.fan[n]?.capacity, sio?.fan[n]?.capacity), 3);
  check(`native sustained ≥ ws send loop's (N=${n})`, ratio(sb?.fan[n]?.sustained, loop?.fan[n]?.sustained), 1);
  for (const id of ['sb-plain', 'sb-pond', 'sb-pusher']) {
    const s = by(id);
    if (s) check(`${id} capacity ≥ 0.7× ws ceiling (N=${n})`, ratio(s.fan[n]?.capacity, ceil?.fan[n]?.capacity), 0.7);
  }
  // Latency: the send loop's highest sustained step; the ladders share their offered rates.
  const loopStep = at(loop?.fan[n]);
  const sbSame = loopStep && sb?.fan[n]?.steps.find((s) => Math.abs(s.offeredPerSec - loopStep.offeredPerSec) < 1);
  check(
    `native p99 ≤ send loop p99 at the loop's best rate (N=${n}${loopStep ? `, ${fmtRate(loopStep.offeredPerSec)}/s` : ''})`,
    sbSame && loopStep ? sbSame.p99 / loopStep.p99 : undefined,
    undefined,
    1,
    (x) => `${x.toFixed(2)}× (${ms(sbSame?.p99)} vs ${ms(loopStep?.p99)} ms)`,
  );
  const idleSb = sb?.idle?.perConnBytes;
  const idleWs = loop?.idle?.perConnBytes;
  check(
    'idle memory/conn ≤ raw ws + 1 KB (issue 23)',
    idleSb !== undefined && idleWs !== undefined ? (idleSb - idleWs) / 1024 : undefined,
    undefined,
    1,
    (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} KB (${kb(idleSb ?? 0)} vs ${kb(idleWs ?? 0)} KB)`,
  );
  const lo = sizes[0]!;
  const hi = sizes[sizes.length - 1]!;
  check(`CPU µs/delivery at N=${hi} ≤ 1.3× N=${lo}`, ratio(sb?.costUsPerDelivery[hi], sb?.costUsPerDelivery[lo]), undefined, 1.3);
  for (const [id, name] of [
    ['sb-redis-2n', 'Redis'],
    ['sb-redis-cluster-2n', 'Redis Cluster'],
  ] as const) {
    const redis = r.systems.find((s) => s.id === id);
    if (redis && !redis.skipped && !redis.error && sb) {
      // Same load: the highest step both passed.
      const both = redis.fan[n]?.steps.filter((s, i) => s.passed && sb.fan[n]?.steps[i]?.passed) ?? [];
      const s2 = both[both.length - 1];
      const s1 = s2 && sb.fan[n]?.steps.find((s) => Math.abs(s.offeredPerSec - s2.offeredPerSec) < 1);
      check(`${name} 2 nodes p99 ≤ 2× single node (N=${n})`, s1 && s2 ? s2.p99 / s1.p99 : undefined, undefined, 2);
      check(`${name} 2 nodes sustained ≥ 0.6× single node (N=${n})`, ratio(redis.fan[n]?.sustained, sb.fan[n]?.sustained), 0.6);
    } else out.push({ target: `${name} 2 nodes p99 ≤ 2× / throughput ≥ 0.6× single node`, value: redis?.skipped ?? redis?.error ?? 'not run', ok: undefined });
  }
  return out;
}

/** The figures quoted in prose, generated from the result so the text cannot drift from the JSON. */
export function summary(r: BenchResult): string {
  const n = targetN(r);
  const get = (id: string) => r.systems.find((s) => s.id === id && !s.skipped && !s.error);
  const sb = get('sb-native');
  const parts: string[] = [];
  const cmp = (id: string, what: string) => {
    const o = get(id);
    const a = sb?.fan[n]?.capacity;
    const b = o?.fan[n]?.capacity;
    if (a && b) parts.push(`${(a / b).toFixed(2)}× ${what} (${fmtRate(b)}/s)`);
  };
  if (!sb?.fan[n]) return `Summary: sb-native did not run at N=${n} in this run.`;
  cmp('ws-batched', 'the batched ceiling');
  cmp('ws-ceiling', 'the frame-per-message ceiling');
  cmp('ws-loop', 'the ws send loop');
  cmp('socketio', 'Socket.IO');
  const idle = sb.idle && get('ws-loop')?.idle;
  return (
    `Summary (generated): at N=${n} the native protocol's capacity is ${fmtRate(sb.fan[n].capacity)} deliveries/s` +
    (parts.length ? `, ${parts.join(', ')}` : '') +
    '.' +
    (idle ? ` Idle subscribed connection: ${kb(sb.idle!.perConnBytes)} KB RSS against raw ws ${kb(idle.perConnBytes)} KB.` : '') +
    (r.meta.loadStart
      ? ` Load average ${r.meta.loadStart[0]} at the start of the run on ${r.meta.cores} cores${r.meta.loadStart[0]! > r.meta.cores ? ': the machine was shared and busy, so ratios between systems that ran at different times are unreliable' : ''}.`
      : ' This run predates recording the load average and commit.')
  );
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function markdown(r: BenchResult): string {
  const lines: string[] = [];
  const sizes = r.meta.config.fanSizes;
  const live = r.systems.filter((s) => !s.skipped);
  lines.push(`Mode \`${r.meta.mode}\`, ${metaLine(r.meta)}; ${r.meta.config.loadgens} load-generator processes; ladder steps of ${r.meta.config.stepMs} ms from ${fmtRate(r.meta.config.startDeliveries)} deliveries/s ×${r.meta.config.factor}.`);
  lines.push('');
  lines.push(summary(r));
  lines.push('');
  lines.push('### Fan-out: one channel, N subscribers (deliveries/s; latency at the highest sustained step)');
  lines.push('');
  lines.push(row(['system', 'N', 'sustained/s', 'capacity/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'server CPU', 'limit']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']));
  for (const s of live) {
    if (s.error) {
      lines.push(row([s.id, '', '', '', '', '', '', '', `error: ${s.error}`]));
      continue;
    }
    for (const n of sizes) {
      const l = s.fan[n];
      if (!l) continue;
      const st = at(l);
      const failed = l.steps.find((x) => !x.passed);
      const limit = !failed ? 'ladder top reached' : l.loadgenLimited ? 'load generator CPU' : failed.serverCpuPct >= 85 ? 'server CPU' : failed.ratio < 0.95 ? 'deliveries lost/late' : 'p99 > 1 s';
      lines.push(row([s.id, n, fmtRate(l.sustained), fmtRate(l.capacity), ms(st?.p50), ms(st?.p99), ms(st?.p999), st ? `${st.serverCpuPct.toFixed(0)}%` : '–', limit]));
    }
  }
  lines.push('');
  lines.push(
    "Caveats: *capacity* is the most deliveries/s of a **passing** step (≥ 95 % delivered, p99 ≤ 1 s), never of a failed one. Switchboard runs with `maxQueueBytes` 64 MiB per connection (the raw hubs buffer without bound), so overload shows as lateness. `ws-ceiling` writes one frame per publication (a tick's frames corked into one write); `ws-batched` joins a tick's publications of a channel into ONE frame, built once and written once per socket: that is the like-for-like ceiling for the native and pond protocols, which batch the same way, while plain JSON compares with `ws-ceiling`. The load generators parse every frame on the same 2 cores, so fewer, larger frames also relieve the client side.",
  );
  lines.push('');
  lines.push(`### Many channels: ${r.meta.config.total} channels, 1–3 subscribers each`);
  lines.push('');
  lines.push(row(['system', 'sustained/s', 'capacity/s', 'p50 ms', 'p99 ms', 'p99.9 ms']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:']));
  for (const s of live) {
    if (!s.many) continue;
    const st = at(s.many);
    lines.push(row([s.id, fmtRate(s.many.sustained), fmtRate(s.many.capacity), ms(st?.p50), ms(st?.p99), ms(st?.p999)]));
  }
  lines.push('');
  lines.push(`### Connections: storm of ${r.meta.config.total} JWT clients, idle memory, cost growth`);
  lines.push('');
  lines.push(row(['system', 'all subscribed in', 'conn/s', 'server CPU µs/conn', 'idle RSS KB/conn', ...sizes.map((n) => `µs/delivery N=${n}`), 'growth']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', ...sizes.map(() => '---:'), '---:']));
  for (const s of live) {
    if (!s.storm) continue;
    const c = sizes.map((n) => s.costUsPerDelivery[n]);
    const g = c[0] && c[c.length - 1] ? c[c.length - 1]! / c[0] : undefined;
    lines.push(
      row([
        s.id,
        `${(s.storm.ms / 1000).toFixed(2)} s`,
        fmtRate(s.storm.perSec),
        s.storm.cpuUsPerConn.toFixed(0),
        s.idle ? kb(s.idle.perConnBytes) : '–',
        ...c.map((x) => (x === undefined ? '–' : x.toFixed(2))),
        g === undefined ? '–' : `${g.toFixed(2)}×`,
      ]),
    );
  }
  const skipped = r.systems.filter((s) => s.skipped);
  if (skipped.length) {
    lines.push('');
    for (const s of skipped) lines.push(`- not run: **${s.id}** (${s.label}): ${s.skipped}`);
  }
  lines.push('');
  lines.push('### Targets (ratios from this run)');
  lines.push('');
  lines.push(row(['target', 'value', 'met']));
  lines.push(row(['---', '---', '---']));
  for (const t of checkTargets(r)) lines.push(row([t.target, t.value, t.ok === undefined ? 'n/a' : t.ok ? 'yes' : '**no**']));
  lines.push('');
  lines.push('<details><summary>Every ladder step</summary>');
  lines.push('');
  lines.push(row(['system', 'scenario', 'offered/s', 'delivered', 'delivered/s', 'p50', 'p99', 'p99.9', 'server CPU', 'µs/delivery', 'load gen CPU']));
  lines.push(row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  const steps = (s: SystemResult, name: string, l: LadderResult) => {
    for (const st of l.steps) {
      lines.push(
        row([
          s.id,
          name,
          `${fmtRate(st.offeredPerSec)}${st.retried ? ' (2nd try)' : ''}`,
          `${(st.ratio * 100).toFixed(1)}%`,
          fmtRate(st.deliveredPerSec),
          ms(st.p50),
          ms(st.p99),
          ms(st.p999),
          `${st.serverCpuPct.toFixed(0)}%`,
          st.cpuUsPerDelivery.toFixed(2),
          st.loadgenCpuPct.map((x) => `${x.toFixed(0)}%`).join('/'),
        ]),
      );
    }
  };
  for (const s of live) {
    for (const n of sizes) if (s.fan[n]) steps(s, `fan ${n}`, s.fan[n]);
    if (s.many) steps(s, 'many', s.many);
  }
  lines.push('');
  lines.push('</details>');
  return lines.join('\n');
}

/** Rewrite one generated section of RESULTS.md (`section`: bench, density, storm). */
export function updateResultsFile(command: string, md: string, section = 'bench'): void {
  const BEGIN = `<!-- ${section}:begin (generated by npm run bench; edit outside these markers) -->`;
  const END = `<!-- ${section}:end -->`;
  const file = fileURLToPath(new URL('../RESULTS.md', import.meta.url));
  const generated = `${BEGIN}\n\nCommand: \`${command}\`\n\n${md}\n\n${END}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  text = a >= 0 && b > a ? text.slice(0, a) + generated + text.slice(b + END.length) : `${text}\n${generated}\n`;
  writeFileSync(file, text);
}
