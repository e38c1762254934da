// Test helper: runs an example server as a child process on an ephemeral port and stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from '../packages/server/test/helpers.js';

export interface RunningExample {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

export async function runExample(file: string, env: Record<string, string> = {}): Promise<RunningExample> {
  // --conditions=source: workspace imports resolve to src/, like the tests themselves.
  const child: ChildProcess = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000); // an example that ignores SIGTERM must not hang the test
    await exited;
    clearTimeout(kill);
  };
  try {
    await until(() => /listening on \d+/.test(out) || child.exitCode !== null, 20_000, `${file} to listen`);
  } catch (err) {
    await stop();
    throw err;
  }
  if (child.exitCode !== null) throw new Error(`example exited: ${out}`);
  const port = Number(/listening on (\d+)/.exec(out)![1]);
  return { port, output: () => out, stop };
}
