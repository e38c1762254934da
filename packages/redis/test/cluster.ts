import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { waitFor } from '@switchboard/server/testing';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'apps/server/src/cli.ts');
export const SECRET = 'multi-node-test-secret-for-hs256';
export const API_KEY = 'multi-node-test-api-key';

export interface NodeOptions {
  addresses: string[];
  /** Redis Cluster seeds (`engine.redis.cluster_address`) instead of `addresses`. */
  clusterAddress?: string;
  prefix: string;
  presenceTtlMs?: number;
  name: string;
  /** Server ping interval and pong timeout (default "2s" / "1500ms"). */
  ping?: { interval: string; pongTimeout: string };
  /** Another engine section instead of Redis (e.g. `{ type: 'postgres', postgres: {...} }`); `addresses` and `prefix` are then unused. */
  engine?: Record<string, unknown>;
  /** More top-level keys (e.g. `consumers`). */
  extra?: Record<string, unknown>;
  /** `false`: the `chat` namespace keeps no history (for engines without history). */
  history?: false;
}

/** The standalone server's configuration for one node on Redis (Centrifugo v6 layout). */
export function nodeConfig(o: NodeOptions): Record<string, unknown> {
  return {
    node: { name: o.name },
    client: { token: { hmac_secret_key: SECRET }, ping_interval: o.ping?.interval ?? '2s', pong_timeout: o.ping?.pongTimeout ?? '1500ms' },
    http_api: { key: API_KEY },
    log: { level: 'info' },
    shutdown: { timeout: '1s' },
    engine: o.engine ?? {
      type: 'redis',
      redis: { ...(o.clusterAddress !== undefined ? { cluster_address: o.clusterAddress } : { address: o.addresses.join(',') }), prefix: o.prefix, presence_ttl: `${o.presenceTtlMs ?? 60_000}ms` },
    },
    ...o.extra,
    channel: {
      namespaces: [
        {
          name: 'chat',
          presence: true,
          join_leave: true,
          ...(o.history === false ? {} : { force_recovery: true, history_size: 1000, history_ttl: '300s' }),
          allow_subscribe_for_client: true,
          allow_publish_for_subscriber: true,
          allow_presence_for_subscriber: true,
          allow_history_for_subscriber: true,
        },
      ],
    },
  };
}

/** A node: the standalone server (`switchboard serve --config FILE`, from source) in its own process. */
export class NodeProcess {
  readonly proc: ChildProcess;
  readonly dir: string;
  port = 0;
  output = '';
  constructor(readonly options: NodeOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'sb-node-'));
    const file = join(this.dir, 'config.json');
    writeFileSync(file, JSON.stringify(nodeConfig(options)));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, 'serve', '--config', file, '--port', '0', '--address', '127.0.0.1'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
  }

  async ready(ms = 90_000): Promise<this> {
    try {
      await waitFor(
        () => {
          const m = /"port":(\d+)[^\n]*switchboard listening|switchboard listening[^\n]*"port":(\d+)/.exec(this.output);
          if (m) this.port = Number(m[1] ?? m[2]);
          else if (this.proc.exitCode !== null) throw new Error(`node ${this.options.name} exited: ${this.output}`);
          return m !== null;
        },
        ms,
        `node ${this.options.name} to listen`,
      );
    } catch (err) {
      throw new Error(`node ${this.options.name} did not start (${(err as Error).message}): ${this.output}`);
    }
    return this;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }

  /** POST /api/<method>; returns `result`, throws on `error`. */
  async api<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw Object.assign(new Error(`${method}: ${body.error.code} ${body.error.message}`), { code: body.error.code });
    if (res.status >= 400) throw new Error(`${method}: HTTP ${res.status}`);
    return body.result as T;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.kill(signal);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

export async function startNodes(options: Omit<NodeOptions, 'name'>, names: string[]): Promise<NodeProcess[]> {
  const nodes = names.map((name) => new NodeProcess({ ...options, name }));
  try {
    await Promise.all(nodes.map((n) => n.ready()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw err;
  }
  return nodes;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own, on its own port, without persistence. */
export class RedisProcess {
  proc: ChildProcess | undefined;
  output = '';
  constructor(readonly port: number) {}

  static async start(): Promise<RedisProcess> {
    const r = new RedisProcess(await freePort());
    await r.start();
    return r;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const failed = new Promise<never>((_, reject) => this.proc!.once('error', (e) => reject(new Error(`redis-server could not start (is it installed?): ${e.message}`))));
    failed.catch(() => {}); // observed through the race below
    try {
      await waitFor(
        async () => {
          const c = new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
          c.on('error', () => {});
          try {
            await Promise.race([c.connect().then(() => c.ping()), failed]);
            return true;
          } catch (err) {
            if ((err as Error).message.includes('redis-server could not start')) throw err;
            return false;
          } finally {
            c.disconnect();
          }
        },
        10_000,
        `redis-server on ${this.port} to answer`,
      );
    } catch (err) {
      throw new Error(`redis-server on ${this.port}: ${(err as Error).message} ${this.output}`);
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  /** Number of keys under `prefix`. */
  async count(prefix: string): Promise<number> {
    const c = new Redis({ host: '127.0.0.1', port: this.port, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      return (await c.keys(`${prefix}.*`)).length;
    } finally {
      c.disconnect();
    }
  }
}

/** A TCP load balancer in front of the nodes: the test picks the backend, and can cut every connection. */
export class Balancer {
  readonly server: Server;
  readonly sockets = new Set<Socket>();
  target: number | undefined;
  port = 0;
  constructor() {
    this.server = createServer((client) => {
      if (this.target === undefined) return client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  get ws(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }
  /** Cut every proxied connection; new ones go to `target` (undefined: refused). */
  route(target: number | undefined): void {
    this.target = target;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  async close(): Promise<void> {
    this.route(undefined);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
