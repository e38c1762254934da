import { randomUUID } from 'node:crypto';
import { applyConsumed, type Consumer, type ConsumerOptions } from '@switchboard/server';
import { Redis, type RedisOptions } from 'ioredis';
import { parseAddress, retryStrategy } from './shards.js';

export interface RedisStreamConsumerOptions extends ConsumerOptions {
  /** The Redis holding the streams: `host:port` or a `redis://` URL. */
  readonly address: string;
  /** Extra ioredis options (password, tls, ...). */
  readonly redisOptions?: RedisOptions;
  /** Streams to consume; each is a partition: its commands are applied one at a time, in stream order. */
  readonly streams: readonly string[];
  /** The consumer group every node joins (created at the start of each stream when missing). */
  readonly consumerGroup: string;
  /** How long a node may hold a stream without renewing its lease: after a crash, another node takes over after this (default 30 s). */
  readonly visibilityTimeoutMs?: number;
  /** Field holding the command payload (default `payload`). */
  readonly payloadValue?: string;
  /** Field holding the method (default `method`); without it the payload is `{"method", "payload"}`. */
  readonly methodValue?: string;
  /** Entries read at once (default 100). */
  readonly batchSize?: number;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Centrifugo's `redis_stream` consumer: API commands read from Redis Streams through a consumer
 * group, each acknowledged (XACK) only after it was applied. To keep commands in order, a node
 * holds a lease on a stream (`<stream>:<group>:lease`, renewed every third of the visibility
 * timeout) and only the holder reads it. Streams are shared out: each node heartbeats into
 * `<first stream>:<group>:members`, holds at most its share (streams over live nodes, rounded up)
 * and gives one up, after the command in hand, when it holds more (a node joined); the next holder
 * takes the entries it read and did not apply (XAUTOCLAIM). When a holder dies its lease expires, and the next holder first re-runs, in order, the
 * entries the dead one read but never acknowledged (XAUTOCLAIM), then goes on with new ones.
 * A command that fails (a backend down) is retried in place, blocking its stream; a malformed one
 * is logged and acknowledged. A node that dies after applying a command and before acknowledging
 * it leaves that one command to be applied again (at-least-once).
 */
export class RedisStreamConsumer implements Consumer {
  readonly name: string;
  readonly #o: RedisStreamConsumerOptions;
  readonly #me = `sb-${randomUUID().slice(0, 12)}`;
  readonly #vt: number;
  readonly #cmd: Redis;
  readonly #readers = new Map<string, Redis>();
  /** Until when this node's lease on a stream is certainly valid (0: not held). */
  readonly #leases = new Map<string, number>();
  /** Streams this node gives up for another node to take (their loop releases the lease once it stopped). */
  readonly #yielding = new Set<string>();
  /** How many streams this node may hold: the streams over the live nodes, rounded up. */
  #fair: number;
  #loops: Promise<void>[] = [];
  #stopped = false;
  #renewTimer: NodeJS.Timeout | undefined;
  /** Commands applied and skipped (for tests and metrics). */
  applied = 0;
  skipped = 0;

  constructor(options: RedisStreamConsumerOptions) {
    if (options.streams.length === 0) throw new Error(`consumer ${options.name}: streams can't be empty`);
    if (!options.consumerGroup) throw new Error(`consumer ${options.name}: consumer_group is required`);
    this.name = options.name;
    this.#o = options;
    this.#vt = options.visibilityTimeoutMs ?? 30_000;
    this.#fair = options.streams.length;
    const base: RedisOptions = { retryStrategy, maxRetriesPerRequest: 1, lazyConnect: true, connectionName: 'switchboard-consumer', ...parseAddress(options.address), ...options.redisOptions };
    this.#cmd = new Redis(base);
    this.#cmd.on('error', () => {});
    for (const s of options.streams) {
      const r = new Redis({ ...base, maxRetriesPerRequest: null, enableOfflineQueue: true });
      r.on('error', () => {});
      this.#readers.set(s, r);
    }
  }

  async start(): Promise<void> {
    try {
      await this.#cmd.connect();
      await Promise.all([...this.#readers.values()].map((r) => r.connect()));
    } catch (err) {
      this.#cmd.disconnect();
      for (const r of this.#readers.values()) r.disconnect();
      throw new Error(`consumer ${this.name}: cannot connect to Redis at ${this.#o.address}: ${(err as Error).message}`);
    }
    for (const s of this.#o.streams) {
      try {
        await this.#cmd.xgroup('CREATE', s, this.#o.consumerGroup, '0', 'MKSTREAM');
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      }
    }
    await this.#heartbeat().catch(() => {});
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#vt / 3)));
    this.#loops = this.#o.streams.map((s) => this.#run(s));
  }

  #leaseKey(stream: string): string {
    return `${stream}:${this.#o.consumerGroup}:lease`;
  }

  /** The set of live nodes consuming these streams (a sorted set of node ids by last heartbeat). */
  #membersKey(): string {
    return `${this.#o.streams[0]!}:${this.#o.consumerGroup}:members`;
  }

  /** Says this node is alive and recomputes its fair share from the nodes seen within the visibility timeout. */
  async #heartbeat(): Promise<void> {
    const now = Date.now();
    const key = this.#membersKey();
    const [, , live] = (await this.#cmd.multi().zadd(key, now, this.#me).zremrangebyscore(key, '-inf', now - this.#vt).zcard(key).pexpire(key, this.#vt * 2).exec()) ?? [];
    const n = Math.max(1, Number(live?.[1] ?? 1));
    this.#fair = Math.ceil(this.#o.streams.length / n);
  }

  #held(): number {
    let n = 0;
    for (const s of this.#o.streams) if (this.#holds(s)) n++;
    return n;
  }

  #holds(stream: string): boolean {
    return !this.#stopped && !this.#yielding.has(stream) && (this.#leases.get(stream) ?? 0) > Date.now();
  }

  async #acquire(stream: string): Promise<boolean> {
    const t = Date.now();
    const ok = await this.#cmd.set(this.#leaseKey(stream), this.#me, 'PX', this.#vt, 'NX');
    if (ok === 'OK') {
      this.#leases.set(stream, t + this.#vt - Math.min(1000, this.#vt / 4));
      this.#o.logger?.info?.(`consumer ${this.name}: took stream ${stream}`, { stream, consumer_id: this.#me });
    }
    return ok === 'OK';
  }

  async #renew(): Promise<void> {
    try {
      await this.#heartbeat();
    } catch {
      // Redis away: the share stays as it was
    }
    // more than its share (another node came): give one stream up; its loop stops, then releases it
    if (this.#held() > this.#fair) {
      // the lease is still renewed until the loop stopped and released it, so nobody takes the stream mid-command
      const give = this.#o.streams.findLast((s) => this.#holds(s))!;
      this.#yielding.add(give);
      this.#o.logger?.info?.(`consumer ${this.name}: giving stream ${give} up (more than ${this.#fair} of ${this.#o.streams.length} streams held)`, { stream: give, consumer_id: this.#me });
    }
    for (const [stream, until] of this.#leases) {
      if (until === 0) continue;
      const t = Date.now();
      try {
        const ok = await this.#cmd.eval(RENEW, 1, this.#leaseKey(stream), this.#me, this.#vt);
        if (this.#leases.get(stream) !== until) continue; // released (given up) meanwhile
        this.#leases.set(stream, ok === 1 ? t + this.#vt - Math.min(1000, this.#vt / 4) : 0);
        if (ok !== 1 && !this.#stopped) this.#o.logger?.info?.(`consumer ${this.name}: lost stream ${stream} (its lease expired)`, { stream, consumer_id: this.#me });
      } catch {
        // Redis away: the lease runs out by itself if this goes on
      }
    }
  }

  async #run(stream: string): Promise<void> {
    const reader = this.#readers.get(stream)!;
    let backoff = 50;
    while (!this.#stopped) {
      try {
        if (this.#yielding.has(stream)) {
          // stopped reading it: what it read and did not apply stays pending for the next holder
          await this.#cmd.eval(RELEASE, 1, this.#leaseKey(stream), this.#me);
          this.#leases.set(stream, 0);
          this.#yielding.delete(stream);
        }
        if (!this.#holds(stream) && (this.#held() >= this.#fair || !(await this.#acquire(stream)))) {
          await this.#sleep(Math.min(1000, this.#vt / 3));
          continue;
        }
        // entries a previous holder read but never acknowledged come first, in stream order
        let cursor = '0-0';
        do {
          const [next, entries] = (await this.#cmd.xautoclaim(stream, this.#o.consumerGroup, this.#me, 0, cursor, 'COUNT', this.#o.batchSize ?? 100)) as [string, [string, string[]][]];
          if (entries.length > 0) {
            this.#o.logger?.info?.(`consumer ${this.name}: re-running ${entries.length} entries of ${stream} read before and never acknowledged`, { stream, from: entries[0]![0], consumer_id: this.#me });
          }
          for (const [id, fields] of entries) if (!(await this.#process(stream, id, fields))) break;
          cursor = next;
        } while (cursor !== '0-0' && this.#holds(stream));
        while (this.#holds(stream)) {
          const res = (await reader.xreadgroup('GROUP', this.#o.consumerGroup, this.#me, 'COUNT', this.#o.batchSize ?? 100, 'BLOCK', 500, 'STREAMS', stream, '>')) as
            | [string, [string, string[] | null][]][]
            | null;
          for (const [id, fields] of res?.[0]?.[1] ?? []) if (!(await this.#process(stream, id, fields))) break;
        }
        backoff = 50;
      } catch (err) {
        if (this.#stopped) break;
        this.#o.logger?.error(`consumer ${this.name}: reading ${stream} failed, will retry: ${(err as Error).message}`, { stream });
        await this.#sleep(backoff);
        backoff = Math.min(2000, backoff * 2);
      }
    }
  }

  /** Applies and acknowledges one entry; false when this node lost the stream meanwhile (the entry stays pending). */
  async #process(stream: string, id: string, fields: string[] | null): Promise<boolean> {
    const values = new Map<string, string>();
    for (let i = 0; fields && i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
    const payload = values.get(this.#o.payloadValue ?? 'payload');
    let backoff = 50;
    for (;;) {
      if (!this.#holds(stream)) return false;
      try {
        let outcome: 'applied' | 'skipped';
        if (fields === null || payload === undefined) {
          this.#o.logger?.warn(`consumer ${this.name}: skipping entry ${id} of ${stream}: no "${this.#o.payloadValue ?? 'payload'}" field`, { stream, id });
          outcome = 'skipped';
        } else outcome = await applyConsumed(this.#o, values.get(this.#o.methodValue ?? 'method'), payload, { stream, id }, `${stream}:${id}`);
        if (outcome === 'applied') this.applied++;
        else this.skipped++;
        break;
      } catch {
        await this.#sleep(backoff);
        backoff = Math.min(2000, backoff * 2);
      }
    }
    await this.#cmd.xack(stream, this.#o.consumerGroup, id);
    return true;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#renewTimer);
    await Promise.all(this.#loops);
    for (const [stream, until] of this.#leases) {
      if (until > 0) await this.#cmd.eval(RELEASE, 1, this.#leaseKey(stream), this.#me).catch(() => {});
    }
    await this.#cmd.zrem(this.#membersKey(), this.#me).catch(() => {});
    this.#cmd.disconnect();
    for (const r of this.#readers.values()) r.disconnect();
  }

  /** What a crash leaves behind: connections dropped, nothing acknowledged, no lease released (for fault tests). */
  abandon(): void {
    this.#stopped = true;
    clearInterval(this.#renewTimer);
    this.#cmd.disconnect();
    for (const r of this.#readers.values()) r.disconnect();
  }
}
