// Nodes for the webhook tests, each a Switchboard on Redis in its own process (webhook-node.ts),
// so a test can SIGKILL one.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@switchboard/server/testing';
import type { WebhookStats } from '@switchboard/server';
import { API_KEY } from './cluster.js';
import { REDIS_ADDRESS } from './redis-env.js';

export const HOOK_SECRET = 'multinode-webhook-secret-0123';
export const NODE_TTL_MS = 2000;
const FIXTURE = fileURLToPath(new URL('./webhook-node.ts', import.meta.url));

export class WebhookNode {
  readonly proc: ChildProcess;
  out = '';
  port = 0;
  constructor(readonly name: string, prefix: string, url: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, WH_REDIS: REDIS_ADDRESS, WH_PREFIX: prefix, WH_NAME: name, WH_URL: url, WH_SECRET: HOOK_SECRET, WH_NODE_TTL_MS: String(NODE_TTL_MS) };
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }
  async ready(): Promise<this> {
    await waitFor(
      () => {
        const m = /\{"port":(\d+)\}/.exec(this.out);
        if (m) this.port = Number(m[1]);
        if (this.proc.exitCode !== null) throw new Error(`node ${this.name} exited: ${this.out}`);
        return m !== null;
      },
      90_000,
      `node ${this.name} to start`,
    );
    return this;
  }
  get ws(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }
  async api<T>(method: string, params: Record<string, unknown>): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/${method}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: JSON.stringify(params) });
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
    return body.result as T;
  }
  /** The node's webhook queue: its stats, whether it is durable, and the node's id. */
  async hookStats(): Promise<WebhookStats & { durable: boolean; id: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/wh-stats`);
    return (await res.json()) as WebhookStats & { durable: boolean; id: string };
  }
  kill(signal: NodeJS.Signals): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.proc.kill(signal);
    });
  }
}
