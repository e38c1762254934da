import type { Redis } from 'ioredis';
import type { RedisShards } from './shards.js';

/** Where a broker's pub/sub subscriptions of one shard live. */
export interface ShardSubscriber {
  start(): Promise<void>;
  /** Resolves on Redis's acknowledgement: a publication made after it is received. */
  subscribe(rch: string): Promise<void>;
  unsubscribe(rch: string): Promise<void>;
  /** Redis glob patterns (PSUBSCRIBE); absent where the mode has none (sharded pub/sub on a cluster). */
  psubscribe?(pattern: string): Promise<void>;
  punsubscribe?(pattern: string): Promise<void>;
  /** Redis channels subscribed (or to resubscribe after a reconnect). */
  readonly size: number;
  close(): void;
}

export interface SubscriberEvents {
  message(rch: string, msg: string): void;
  /** A message received through a pattern subscription (PSUBSCRIBE). */
  pmessage?(rch: string, msg: string): void;
  /**
   * Subscriptions were lost and are back: publications in between may be missed. `failedOver`: the
   * Redis channels whose master was lost (a cluster failover may also have lost acknowledged writes).
   */
  reconnected(failedOver?: readonly string[]): void | Promise<void>;
}

/**
 * One subscriber connection to a standalone shard (or Sentinel group). After a reconnect it
 * subscribes again to every channel, then reports `reconnected`.
 */
export class StandaloneSubscriber implements ShardSubscriber {
  readonly #s: Redis;
  readonly #channels = new Set<string>();
  readonly #patterns = new Set<string>();
  #closed = false;

  constructor(
    shards: RedisShards,
    i: number,
    /** Redis channels subscribed for the connection's whole life (the control channel). */
    readonly always: readonly string[],
    readonly events: SubscriberEvents,
  ) {
    // no offline queue: a subscribe while Redis is away fails at once instead of hanging
    this.#s = shards.duplicate(i, { autoResubscribe: false, enableOfflineQueue: false, lazyConnect: true, connectionName: 'switchboard-sub' });
    this.#s.on('error', () => {});
    this.#s.on('message', (rch: string, msg: string) => events.message(rch, msg));
    this.#s.on('pmessage', (_pattern: string, rch: string, msg: string) => events.pmessage?.(rch, msg));
    let first = true;
    this.#s.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      void this.#resubscribe();
    });
  }

  async start(): Promise<void> {
    await this.#s.connect();
    if (this.always.length > 0) await this.#s.subscribe(...this.always);
  }

  /** After a reconnect: subscribe again to everything, then tell the node it may have missed publications. */
  async #resubscribe(): Promise<void> {
    if (this.#closed) return;
    const list = [...this.#channels, ...this.always];
    try {
      if (list.length > 0) await this.#s.subscribe(...list);
      if (this.#patterns.size > 0) await this.#s.psubscribe(...this.#patterns);
    } catch {
      return; // the connection dropped again: the next 'ready' retries
    }
    void this.events.reconnected();
  }

  async subscribe(rch: string): Promise<void> {
    this.#channels.add(rch);
    try {
      await this.#s.subscribe(rch); // resolves on Redis's acknowledgement
    } catch (err) {
      this.#channels.delete(rch);
      throw err;
    }
  }

  async unsubscribe(rch: string): Promise<void> {
    this.#channels.delete(rch);
    if (this.#s.status !== 'ready') return; // gone with the connection; not resubscribed on reconnect
    await this.#s.unsubscribe(rch);
  }

  async psubscribe(pattern: string): Promise<void> {
    this.#patterns.add(pattern);
    try {
      await this.#s.psubscribe(pattern);
    } catch (err) {
      this.#patterns.delete(pattern);
      throw err;
    }
  }

  async punsubscribe(pattern: string): Promise<void> {
    this.#patterns.delete(pattern);
    if (this.#s.status !== 'ready') return;
    await this.#s.punsubscribe(pattern);
  }

  get size(): number {
    return this.#channels.size + this.#patterns.size;
  }

  close(): void {
    this.#closed = true;
    this.#s.disconnect();
  }
}
