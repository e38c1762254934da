import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { DEFAULT_PREFIX } from './config.js';

/** Options shared by every Redis engine part. */
export interface RedisConnectionOptions {
  /**
   * One Redis address or a list of them (shards). Each is `host:port`, `redis://[user:pass@]host:port[/db]`,
   * `rediss://...` (TLS) or `redis+sentinel://host:port[,host:port...]/masterName` (Sentinel).
   * Every node must list the same shards in the same order: a channel lives on the shard its name hashes to.
   */
  readonly addresses: string | readonly string[];
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
 * (reference counted: the last `release` closes them). Commands fail fast while a shard is
 * unreachable (no offline queue), so a publish during an outage is an error, never a silent loss.
 */
export class RedisShards {
  readonly prefix: string;
  readonly clients: Redis[];
  readonly options: RedisOptions[];
  #refs = 0;
  #ready: Promise<void> | undefined;

  constructor(opts: RedisConnectionOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.options = addressList(opts.addresses).map((a) => ({
      retryStrategy,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // a command in flight when the connection broke may have run: never run it twice
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
      connectionName: 'switchboard',
      ...parseAddress(a),
      ...opts.redisOptions,
    }));
    this.clients = this.options.map((o) => {
      const c = new Redis(o);
      c.on('error', () => {}); // reconnects by itself; failures surface as rejected commands
      return c;
    });
  }

  get size(): number {
    return this.clients.length;
  }

  acquire(): this {
    this.#refs++;
    return this;
  }

  /** Connects every shard; rejects if one cannot be reached. */
  ready(): Promise<void> {
    this.#ready ??= Promise.all(
      this.clients.map(async (c) => {
        if (c.status === 'wait') await c.connect();
        else if (c.status !== 'ready') await new Promise<void>((resolve, reject) => {
          c.once('ready', resolve);
          c.once('end', () => reject(new Error('Redis connection ended')));
        });
      }),
    ).then(() => undefined);
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  client(channel: string): Redis {
    return this.clients[shardOf(channel, this.clients.length)]!;
  }

  /** A new connection to shard `i` with the same options (for pub/sub). */
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

/** Key names: a hash tag around the channel keeps one channel's keys on one Cluster slot. */
export function keys(prefix: string, channel: string) {
  return {
    stream: `${prefix}.history.stream.{${channel}}`,
    meta: `${prefix}.history.meta.{${channel}}`,
    presence: `${prefix}.presence.data.{${channel}}`,
    presenceExpire: `${prefix}.presence.expire.{${channel}}`,
    pubsub: `${prefix}.client.${channel}`,
  };
}

export function controlChannel(prefix: string): string {
  return `${prefix}.control`;
}
