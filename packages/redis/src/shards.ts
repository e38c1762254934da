import { createHash } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './commands.js';
import { DEFAULT_PREFIX } from './config.js';

/** Options shared by every Redis engine part. Give `addresses` or `clusterAddresses`. */
export interface RedisConnectionOptions {
  /**
   * One Redis address or a list of them (shards). Each is `host:port`, `redis://[user:pass@]host:port[/db]`,
   * `rediss://...` (TLS) or `redis+sentinel://host:port[,host:port...]/masterName` (Sentinel).
   * Every node must list the same shards in the same order: a channel lives on the shard its name hashes to.
   */
  readonly addresses?: string | readonly string[];
  /**
   * Redis Cluster instead: one entry per cluster, each a comma-separated list of seed nodes
   * (`host:port` or `redis://` URLs); several entries shard channels over several clusters as
   * `addresses` does over instances. A channel's keys and its (sharded) pub/sub channel share one
   * hash slot through the `{channel}` hash tag.
   */
  readonly clusterAddresses?: string | readonly string[];
  /** Prefix of every key and Redis channel (default `switchboard`), so several apps can share one Redis. */
  readonly prefix?: string;
  /** Extra ioredis options for every connection (password, tls, ...). */
  readonly redisOptions?: RedisOptions;
}

export { DEFAULT_PREFIX };

/** ioredis options for one address. */
export function parseAddress(address: string): RedisOptions {
  const a = address.trim();
  if (a === '') throw new Error('empty Redis address');
  if (a.startsWith('redis+sentinel://') || a.startsWith('rediss+sentinel://')) {
    const rest = a.slice(a.indexOf('//') + 2);
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const name = slash < 0 ? '' : rest.slice(slash + 1);
    const at = authority.lastIndexOf('@');
    const hosts = at < 0 ? authority : authority.slice(at + 1);
    const password = at < 0 ? '' : decodeURIComponent(authority.slice(0, at).split(':').pop() ?? '');
    if (name === '') throw new Error(`Redis sentinel address ${a} needs a master name: redis+sentinel://host:port/mymaster`);
    return {
      sentinels: hosts.split(',').map((hp) => {
        const [host, port] = hp.split(':');
        return { host: host!, port: Number(port ?? 26379) };
      }),
      name,
      ...(password ? { password, sentinelPassword: password } : {}),
      ...(a.startsWith('rediss') ? { tls: {} } : {}),
    };
  }
  if (a.startsWith('redis://') || a.startsWith('rediss://')) {
    let u: URL;
    try {
      u = new URL(a);
    } catch {
      throw new Error(`bad Redis address: ${a}`);
    }
    const db = u.pathname.replace(/^\//, '');
    return {
      host: u.hostname,
      port: Number(u.port || 6379),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db !== '' ? { db: Number(db) } : {}),
      ...(a.startsWith('rediss') ? { tls: {} } : {}),
    };
  }
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(a);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  if (/^[\w.-]+$/.test(a)) return { host: a, port: 6379 };
  throw new Error(`bad Redis address: ${a} (expected host:port or a redis:// URL)`);
}

/** The clusters of `clusterAddresses`: each a list of seed addresses. */
export function clusterList(addresses: string | readonly string[]): RedisOptions[][] {
  const entries = typeof addresses === 'string' ? [addresses] : [...addresses];
  const out = entries.map((e) =>
    e
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '')
      .map((a) => {
        if (a.includes('+sentinel://')) throw new Error(`a Sentinel address cannot be a Redis Cluster seed: ${a}`);
        return parseAddress(a);
      }),
  );
  if (out.length === 0 || out.some((seeds) => seeds.length === 0)) throw new Error('no Redis Cluster address given');
  return out;
}

export function addressList(addresses: string | readonly string[]): string[] {
  const list = typeof addresses === 'string' ? addresses.split(',').map((s) => s.trim()).filter((s) => s !== '') : [...addresses];
  // a sentinel URL holds commas of its own
  if (typeof addresses === 'string' && /\+sentinel:\/\//.test(addresses)) return [addresses.trim()];
  if (list.length === 0) throw new Error('no Redis address given');
  return list;
}

/**
 * Jump consistent hash (Lamping and Veach): maps a 64-bit key to one of `buckets`, moving only
 * 1/n of the keys when a bucket is added.
 */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1n;
  let j = 0n;
  const n = BigInt(buckets);
  const mask = (1n << 64n) - 1n;
  while (j < n) {
    b = j;
    key = (key * 2862933555777941757n + 1n) & mask;
    j = BigInt(Math.floor(Number(b + 1n) * (2 ** 31 / Number((key >> 33n) + 1n))));
  }
  return Number(b);
}

/** The shard index of a channel among `n` shards. */
export function shardOf(channel: string, n: number): number {
  if (n <= 1) return 0;
  const h = createHash('sha1').update(channel).digest();
  return jumpHash(h.readBigUInt64BE(0), n);
}

/** Backoff between reconnect attempts: 50 ms doubling up to 2 s, forever. */
export function retryStrategy(times: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(times, 6));
}

/**
 * The command connections to every shard, shared by the broker, history and presence of one node
 * (reference counted: the last `release` closes them). A shard is one Redis (standalone or behind
 * Sentinel) or one Redis Cluster. Commands fail fast while a shard is unreachable (no offline
 * queue), so a publish during an outage is an error, never a silent loss.
 */
export class RedisShards {
  readonly prefix: string;
  readonly clients: RedisClient[];
  /** ioredis options of each standalone shard (for pub/sub connections); of each cluster's nodes in cluster mode. */
  readonly options: RedisOptions[];
  /** Whether the shards are Redis Clusters. */
  readonly cluster: boolean;
  /** 'spublish' on Redis Cluster (sharded pub/sub, Redis 7), 'publish' otherwise. */
  readonly publishCommand: 'publish' | 'spublish';
  readonly #dataPrefix: string;
  /** Per shard, how to name it in an error. */
  readonly #names: string[];
  #refs = 0;
  #ready: Promise<void> | undefined;

  constructor(opts: RedisConnectionOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.#dataPrefix = `${this.prefix}.client.`;
    const base: RedisOptions = {
      retryStrategy,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // a command in flight when the connection broke may have run: never run it twice
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
      connectionName: 'switchboard',
    };
    if (opts.clusterAddresses !== undefined && opts.addresses !== undefined) throw new Error('give Redis addresses or Redis Cluster addresses, not both');
    if (opts.clusterAddresses !== undefined) {
      // a hash tag in the prefix would move every channel's keys to one slot
      if (/[{}]/.test(this.prefix)) throw new Error(`the prefix of a Redis Cluster engine cannot hold { or }: ${this.prefix}`);
      this.cluster = true;
      this.publishCommand = 'spublish';
      const clusters = clusterList(opts.clusterAddresses);
      this.#names = clusters.map((seeds) => seeds.map((o) => `${o.host}:${o.port}`).join(','));
      this.options = clusters.map(() => ({ ...base, ...opts.redisOptions }));
      this.clients = clusters.map((seeds, i) => {
        const { host: _h, port: _p, ...shared } = seeds[0]!;
        const c = new Cluster(
          seeds.map((s) => ({ host: s.host!, port: s.port! })),
          {
            lazyConnect: true,
            // a command waits while its node's connection is being made (nodes connect on first use)
            // and fails when that node cannot be reached; MOVED, ASK, TRYAGAIN and CLUSTERDOWN are
            // retried (the command did not run), a connection lost mid-command is not (it may have run)
            enableOfflineQueue: true,
            retryDelayOnFailover: 0,
            retryDelayOnClusterDown: 100,
            retryDelayOnTryAgain: 100,
            clusterRetryStrategy: retryStrategy,
            slotsRefreshTimeout: 2000,
            scaleReads: 'master',
            redisOptions: { connectionName: 'switchboard', ...shared, ...opts.redisOptions },
          },
        );
        this.options[i] = { ...this.options[i]!, ...shared };
        c.on('error', () => {}); // failures surface as rejected commands
        return c;
      });
    } else {
      if (opts.addresses === undefined) throw new Error('no Redis address given');
      this.cluster = false;
      this.publishCommand = 'publish';
      const list = addressList(opts.addresses);
      this.#names = list;
      this.options = list.map((a) => ({ ...base, ...parseAddress(a), ...opts.redisOptions }));
      this.clients = this.options.map((o) => {
        const c = new Redis(o);
        c.on('error', () => {}); // reconnects by itself; failures surface as rejected commands
        return c;
      });
    }
  }

  get size(): number {
    return this.clients.length;
  }

  acquire(): this {
    this.#refs++;
    return this;
  }

  /** Connects every shard; rejects (with the address) if one cannot be reached. */
  ready(): Promise<void> {
    this.#ready ??= Promise.all(this.clients.map((c, i) => (c instanceof Cluster ? clusterReady(c, this.#names[i]!) : standaloneReady(c)))).then(() => undefined);
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  client(channel: string): RedisClient {
    return this.clients[shardOf(channel, this.clients.length)]!;
  }

  /** The Redis pub/sub channel of a channel: on a cluster it carries the channel's hash tag, so it lives in the channel's slot. */
  pubsub(channel: string): string {
    return this.cluster ? `${this.#dataPrefix}{${channel}}` : this.#dataPrefix + channel;
  }

  /** The channel of a Redis pub/sub channel (undefined: not one of ours). */
  channelOf(rch: string): string | undefined {
    if (!rch.startsWith(this.#dataPrefix)) return undefined;
    if (!this.cluster) return rch.slice(this.#dataPrefix.length);
    if (rch.charCodeAt(this.#dataPrefix.length) !== 123 /* { */ || !rch.endsWith('}')) return undefined;
    return rch.slice(this.#dataPrefix.length + 1, -1);
  }

  /** A new connection to standalone shard `i` with the same options (for pub/sub). */
  duplicate(i: number, extra: RedisOptions = {}): Redis {
    return new Redis({ ...this.options[i]!, ...extra });
  }

  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    await Promise.all(
      this.clients.map(async (c) => {
        try {
          if (c.status === 'ready') await c.quit();
          else c.disconnect();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

async function clusterReady(c: Cluster, seeds: string): Promise<void> {
  if (c.status !== 'ready') {
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (err?: Error) => {
          c.off('ready', ok);
          c.off('error', fail);
          c.off('end', fail);
          reject(err ?? new Error('connection ended'));
        };
        const ok = () => {
          c.off('error', fail);
          c.off('end', fail);
          resolve();
        };
        c.once('ready', ok);
        c.once('end', fail);
        // the first round that fails on every seed node ends the wait (the cluster keeps retrying)
        c.once('error', fail);
        if (c.status === 'wait') c.connect().catch(fail);
      });
    } catch (err) {
      const last = (err as { lastNodeError?: Error }).lastNodeError?.message;
      throw new Error(`Redis Cluster at ${seeds} is unreachable: ${(err as Error).message}${last ? ` (${last})` : ''}`);
    }
  }
  const spublish = (await c.call('COMMAND', 'INFO', 'SPUBLISH')) as unknown[];
  if (!Array.isArray(spublish) || spublish[0] === null) throw new Error(`Redis Cluster at ${seeds}: sharded pub/sub (SPUBLISH, Redis 7 or later) is required`);
}

async function standaloneReady(c: Redis): Promise<void> {
  if (c.status === 'wait') await c.connect();
  else if (c.status !== 'ready')
    await new Promise<void>((resolve, reject) => {
      c.once('ready', resolve);
      c.once('end', () => reject(new Error('Redis connection ended')));
    });
}

/** Key names: a hash tag around the channel keeps one channel's keys on one Cluster slot. */
export function keys(prefix: string, channel: string) {
  return {
    stream: `${prefix}.history.stream.{${channel}}`,
    meta: `${prefix}.history.meta.{${channel}}`,
    presence: `${prefix}.presence.data.{${channel}}`,
    presenceExpire: `${prefix}.presence.expire.{${channel}}`,
    /** The result of an idempotent publication with key `key` (same slot as the channel's other keys). */
    idempotent: (key: string) => `${prefix}.idempotent.{${channel}}.${key}`,
    /** The pub/sub channel on standalone Redis (RedisShards.pubsub gives the one for the mode in use). */
    pubsub: `${prefix}.client.${channel}`,
  };
}

export function controlChannel(prefix: string): string {
  return `${prefix}.control`;
}
