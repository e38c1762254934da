import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../redis/test/cluster.js';

const run = promisify(execFile);
/** Debian's server binaries, newest version installed (or SWITCHBOARD_TEST_PG_BIN). */
function findBin(): string {
  if (process.env['SWITCHBOARD_TEST_PG_BIN']) return process.env['SWITCHBOARD_TEST_PG_BIN'];
  let versions: string[] = [];
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v));
  } catch {
    // not installed
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return `/usr/lib/postgresql/${versions[0] ?? '15'}/bin`;
}
const BIN = findBin();

/**
 * A PostgreSQL server of the test's own (initdb + pg_ctl in a temp dir, a port chosen at run time),
 * so that stopping and restarting it disturbs nobody else. Runs as the `postgres` user when the test
 * runs as root (PostgreSQL refuses root).
 */
export class PgProcess {
  readonly dir: string;
  readonly data: string;
  constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'sb-pg-'));
    this.data = join(this.dir, 'data');
  }

  /** Whether initdb and pg_ctl are here; under CI their absence is a failure, not a skip. */
  static available(): boolean {
    const ok = existsSync(join(BIN, 'pg_ctl')) && existsSync(join(BIN, 'initdb'));
    if (!ok && process.env['CI'] === 'true') throw new Error(`initdb/pg_ctl are required under CI and are not in ${BIN}`);
    return ok;
  }

  static async create(): Promise<PgProcess> {
    const p = new PgProcess(await freePort());
    if (process.getuid?.() === 0) chownSync(p.dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
    await p.#as(join(BIN, 'initdb'), ['-D', p.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await p.start();
    return p;
  }

  async #as(cmd: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { timeout: 60_000 });
    else await run(cmd, args, { timeout: 60_000 });
  }

  get dsn(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
    await this.#as(join(BIN, 'pg_ctl'), ['-D', this.data, '-o', opts, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
  }

  /** Stops at once, as a crash would (the next start replays the WAL). */
  async stop(): Promise<void> {
    await this.#as(join(BIN, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
