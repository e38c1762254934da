import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { freePort } from '../test/cluster.js';

const run = promisify(execFile);

/** One redis-server of a test cluster: its client port and its cluster bus port, both chosen at run time. */
export interface ClusterNode {
  port: number;
  busPort: number;
  proc: ChildProcess;
  output: string;
}

/**
 * A Redis Cluster of the test's (or benchmark's) own: `masters` masters with `replicas` replicas each, started from
 * `redis-server` on free ports (bus ports set with `cluster-port`, so none is fixed), created with
 * `redis-cli --cluster create`, without persistence, killed by `stop`.
 */
export class RedisClusterProcess {
  readonly nodes: ClusterNode[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'sb-cluster-'));

  /** `serverArgs`: more redis-server arguments for every node (e.g. `['--rename-command', 'SPUBLISH', '""']`). */
  static async start(masters = 3, replicas = 0, serverArgs: string[] = []): Promise<RedisClusterProcess> {
    const c = new RedisClusterProcess();
    try {
      await c.#start(masters, replicas, serverArgs);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Seed addresses, comma-separated (the `cluster_address` form). */
  get address(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async #start(masters: number, replicas: number, serverArgs: string[]): Promise<void> {
    const total = masters * (1 + replicas);
    for (let i = 0; i < total; i++) {
      const port = await freePort();
      let busPort = await freePort();
      while (busPort === port) busPort = await freePort();
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--protected-mode', 'no', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(this.dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...serverArgs],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const node: ClusterNode = { port, busPort, proc, output: '' };
      proc.stdout.on('data', (d: Buffer) => (node.output += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (node.output += d.toString()));
      this.nodes.push(node);
      const failed = new Promise<never>((_, reject) => proc.once('error', (e) => reject(new Error(`redis-server could not start (is it installed?): ${e.message}`))));
      await Promise.race([waitFor(async () => this.#ping(port), 10_000, `redis-server on ${port}`), failed]);
    }
    const addrs = this.nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    await waitFor(async () => (await Promise.all(this.nodes.map((n) => this.#clusterOk(n.port)))).every(Boolean), 30_000, 'the cluster to be ok on every node');
  }

  async #ping(port: number): Promise<boolean> {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  /** `CLUSTER INFO` says ok, and this node sees every node of the cluster. */
  async #clusterOk(port: number): Promise<boolean> {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      const info = (await c.call('CLUSTER', 'INFO')) as string;
      const nodes = ((await c.call('CLUSTER', 'NODES')) as string).trim().split('\n');
      return info.includes('cluster_state:ok') && nodes.length === this.nodes.length && !nodes.some((l) => / (fail\??|handshake|noaddr)[ ,]/.test(l));
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  /** The master serving `slot` and its replicas, as the live nodes see it. */
  async owner(slot: number): Promise<{ master: ClusterNode; replicas: ClusterNode[] }> {
    for (const n of this.nodes) {
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
      const c = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      c.on('error', () => {});
      try {
        await c.connect();
        const shards = (await c.call('CLUSTER', 'SLOTS')) as [number, number, ...[string, number, string][]][];
        for (const [from, to, ...served] of shards) {
          if (slot < from || slot > to) continue;
          const byPort = (p: number) => this.nodes.find((x) => x.port === p)!;
          const [master, ...reps] = served.map((r) => byPort(r[1]));
          return { master: master!, replicas: reps };
        }
      } catch {
        // try the next node
      } finally {
        c.disconnect();
      }
    }
    throw new Error(`no live node knows slot ${slot}`);
  }

  /** SIGKILL one node (a master dies: its replica is promoted after the node timeout). */
  async kill(node: ClusterNode): Promise<void> {
    if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      node.proc.once('exit', () => resolve());
      node.proc.kill('SIGKILL');
    });
  }

  /** Whether a live node reports `port` as a master serving slots. */
  async isMaster(node: ClusterNode): Promise<boolean> {
    const c = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      return ((await c.call('ROLE')) as [string])[0] === 'master';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
