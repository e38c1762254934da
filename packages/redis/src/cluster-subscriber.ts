import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { keySlot } from './slot.js';
import type { ShardSubscriber, SubscriberEvents } from './subscriber.js';

/**
 * Sharded pub/sub on a Redis Cluster: one subscriber connection per master that serves a slot of a
 * subscribed channel, `SSUBSCRIBE` on the master that owns the channel's slot (as the cluster's
 * slot map says). When such a connection is lost (the master died, or gave its slots away: Redis
 * then ends the subscriptions), its channels are subscribed again wherever their slots live now
 * (the slot map refreshed, retried with backoff until a new master is elected), and then
 * `reconnected` tells the node it may have missed publications.
 */
export class ClusterSubscriber implements ShardSubscriber {
  readonly #conns = new Map<string, Redis>();
  /** Redis channel → master (host:port) it is subscribed on. */
  readonly #where = new Map<string, string>();
  /** Redis channels the broker wants. */
  readonly #wanted = new Set<string>();
  /** Wanted, but their master was lost: to subscribe again. */
  readonly #lost = new Set<string>();
  #repairing = false;
  #closed = false;

  constructor(
    readonly cluster: Cluster,
    readonly options: RedisOptions,
    readonly always: readonly string[],
    readonly events: SubscriberEvents,
  ) {}

  async start(): Promise<void> {
    for (const rch of this.always) await this.subscribe(rch);
  }

  async subscribe(rch: string): Promise<void> {
    this.#wanted.add(rch);
    try {
      try {
        await this.#subscribeOn(rch);
      } catch (err) {
        if (!/^MOVED /.test((err as Error).message)) throw err;
        await this.#refreshSlots(); // the slot moved: once more where it lives now
        await this.#subscribeOn(rch);
      }
    } catch (err) {
      this.#wanted.delete(rch);
      throw err;
    }
  }

  async unsubscribe(rch: string): Promise<void> {
    this.#wanted.delete(rch);
    this.#lost.delete(rch);
    const node = this.#where.get(rch);
    this.#where.delete(rch);
    const c = node === undefined ? undefined : this.#conns.get(node);
    if (c?.status === 'ready') await c.sunsubscribe(rch);
  }

  get size(): number {
    return this.#wanted.size - this.always.length;
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#conns.values()) c.disconnect();
    this.#conns.clear();
  }

  async #subscribeOn(rch: string): Promise<void> {
    const slot = keySlot(rch);
    const node = (this.cluster.slots[slot])?.[0];
    if (node === undefined) throw new Error(`no Redis Cluster master serves slot ${slot} (cluster down?)`);
    const c = await this.#conn(node);
    await c.ssubscribe(rch); // resolves on the master's acknowledgement
    if (!this.#wanted.has(rch)) {
      await c.sunsubscribe(rch).catch(() => {}); // unsubscribed meanwhile
      return;
    }
    this.#where.set(rch, node);
  }

  async #conn(node: string): Promise<Redis> {
    const known = this.#conns.get(node);
    if (known !== undefined) {
      if (known.status !== 'ready') await new Promise<void>((resolve, reject) => {
        known.once('ready', resolve);
        known.once('close', () => reject(new Error(`Redis Cluster node ${node} is unreachable`)));
      });
      return known;
    }
    const colon = node.lastIndexOf(':');
    const c = new Redis({
      ...this.options,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      // a lost node is not reconnected to: its channels move to wherever the slot map says
      retryStrategy: () => null,
      connectionName: 'switchboard-sub',
    });
    // an unasked SUNSUBSCRIBE (the node gave the slot away) shows as a queue state error: start over
    c.on('error', (err: Error) => {
      if (err.message.includes('Command queue state error')) c.disconnect();
    });
    c.on('smessage', (rch: string, msg: string) => this.events.message(rch, msg));
    c.once('close', () => this.#nodeLost(node, c));
    this.#conns.set(node, c);
    try {
      await c.connect();
    } catch (err) {
      c.disconnect();
      throw new Error(`Redis Cluster node ${node} is unreachable: ${(err as Error).message}`);
    }
    return c;
  }

  #nodeLost(node: string, c: Redis): void {
    if (this.#conns.get(node) === c) this.#conns.delete(node);
    if (this.#closed) return;
    for (const [rch, n] of this.#where) {
      if (n !== node) continue;
      this.#where.delete(rch);
      if (this.#wanted.has(rch)) this.#lost.add(rch);
    }
    this.#kick();
  }

  #kick(): void {
    if (this.#repairing || this.#closed || this.#lost.size === 0) return;
    this.#repairing = true;
    void this.#repair().finally(() => {
      this.#repairing = false;
      this.#kick(); // a node lost while the last round finished
    });
  }

  #refreshSlots(): Promise<void> {
    return new Promise<void>((resolve) => this.cluster.refreshSlotsCache(() => resolve()));
  }

  async #repair(): Promise<void> {
    const moved = new Set(this.#lost);
    let delay = 50;
    while (!this.#closed && this.#lost.size > 0) {
      await this.#refreshSlots();
      for (const rch of this.#lost) moved.add(rch);
      await Promise.all(
        [...this.#lost].map(async (rch) => {
          try {
            if (this.#wanted.has(rch)) await this.#subscribeOn(rch);
            this.#lost.delete(rch);
          } catch {
            // the slot has no reachable master yet (failover in progress): next round
          }
        }),
      );
      if (this.#lost.size === 0) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(1000, delay * 2);
    }
    if (!this.#closed) await this.events.reconnected([...moved]);
  }
}
