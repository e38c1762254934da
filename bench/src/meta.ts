/** What every result records about where it ran: commit, machine, and how busy the machine was. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface RunMeta {
  date: string;
  node: string;
  cpus: string;
  cores: number;
  memGb: number;
  /** `git rev-parse HEAD` of the checkout, `+dirty` when it had uncommitted changes. */
  commit: string;
  /** 1/5/15-minute load averages at the start and at the end of the run. */
  loadStart: number[];
  loadEnd?: number[];
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

export function commitOf(): string {
  try {
    const sha = git(['rev-parse', 'HEAD']);
    return git(['status', '--porcelain', '--untracked-files=no']) ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export function runMeta(): RunMeta {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGb: Math.round(totalmem() / 2 ** 30),
    commit: commitOf(),
    loadStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function endMeta<T extends RunMeta>(m: T): T {
  m.loadEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  return m;
}

/** One line for a table's header: where and when, and how loaded the machine was. */
export function metaLine(m: Partial<RunMeta> & { date: string; node: string; cores: number; cpus: string; memGb: number }): string {
  const load = m.loadStart ? `; load average ${m.loadStart[0]} at the start${m.loadEnd ? `, ${m.loadEnd[0]} at the end` : ''} (${m.cores} cores)` : '';
  return `${m.date}, commit \`${(m.commit ?? 'not recorded').slice(0, 12)}${m.commit?.endsWith('+dirty') ? '+dirty' : ''}\`, Node ${m.node}, ${m.cores}× ${m.cpus}, ${m.memGb} GB${load}`;
}
