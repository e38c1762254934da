// A Pusher node (pusher-node.ts) in a child process, so that a test can SIGKILL it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from '../../server/test/helpers.js';
import { REDIS_ADDRESS } from './redis-env.js';

const FIXTURE = fileURLToPath(new URL('./pusher-node.ts', import.meta.url));

/** A node in a child process: its port, once it printed it. */
export class ChildNode {
  readonly proc: ChildProcess;
  out = '';
  port = 0;
  constructor(name: string, prefix: string, url: string, nodeTtlMs: number, leaveDelayMs: number) {
    const env: NodeJS.ProcessEnv = { ...process.env, PN_REDIS: REDIS_ADDRESS, PN_PREFIX: prefix, PN_NAME: name, PN_URL: url, PN_NODE_TTL_MS: String(nodeTtlMs), PN_LEAVE_DELAY_MS: String(leaveDelayMs) };
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }
  async ready(): Promise<this> {
    await until(
      () => {
        if (this.proc.exitCode !== null) throw new Error(`the child node exited: ${this.out}`);
        const m = /\{"port":(\d+)\}/.exec(this.out);
        if (m) this.port = Number(m[1]);
        return m !== null;
      },
      90_000,
      'the child node to start',
    );
    return this;
  }
  kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.kill('SIGKILL');
    });
  }
}
