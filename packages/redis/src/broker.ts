import type { Broker, BrokerEventHandler, ClientInfo, HistoryOptions, Publication, StreamPosition } from '@switchboard/server';
import type { Redis } from 'ioredis';
import { batcherOf, type WriteBatcher } from './batcher.js';
import { decodeBatch, decodeMessage, pubMessage } from './codec.js';
import { controlChannel, keys, type RedisConnectionOptions, RedisShards, shardOf } from './shards.js';

/**
 * Moves publications between nodes through Redis PUB/SUB. A node holds one subscriber connection
 * per shard and is subscribed to a channel's Redis channel only while it has local subscribers.
 * Publish with history appends and PUBLISHes in one Lua script on the channel's shard (with
 * `RedisHistoryStore`'s keys), so offsets and delivery order agree across nodes.
 */
export class RedisBroker implements Broker {
  readonly shards: RedisShards;
  readonly #control: string;
  readonly #dataPrefix: string;
  readonly #batcher: WriteBatcher;
  #handler: BrokerEventHandler | undefined;
  #subs: Redis[] = [];
  /** Channels this node is subscribed to, per shard (to resubscribe after a reconnect). */
  #channels: Set<string>[] = [];
  #closed = false;
  /** Reconnects seen (for tests and metrics). */
  reconnects = 0;

  constructor(options: RedisConnectionOptions | { shards: RedisShards }) {
    this.shards = 'shards' in options ? options.shards.acquire() : new RedisShards(options).acquire();
    this.#control = controlChannel(this.shards.prefix);
    this.#dataPrefix = keys(this.shards.prefix, '').pubsub;
    this.#batcher = batcherOf(this.shards);
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.#handler = handler;
    await this.shards.ready();
    this.#channels = this.shards.clients.map(() => new Set());
    this.#subs = this.shards.clients.map((_, i) => {
      // no offline queue: a subscribe while Redis is away fails at once instead of hanging
      const s = this.shards.duplicate(i, { autoResubscribe: false, enableOfflineQueue: false, lazyConnect: true, connectionName: 'switchboard-sub' });
      s.on('error', () => {});
      s.on('message', (rch: string, msg: string) => this.#onMessage(rch, msg));
      let first = true;
      s.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        void this.#resubscribe(i, s);
      });
      return s;
    });
    await Promise.all(this.#subs.map((s) => s.connect()));
    await this.#subs[0]!.subscribe(this.#control);
  }

  /** After a reconnect: subscribe again to everything, then tell the node it may have missed publications. */
  async #resubscribe(i: number, s: Redis): Promise<void> {
    if (this.#closed) return;
    const list = [...this.#channels[i]!].map((ch) => this.#dataPrefix + ch);
    if (i === 0) list.push(this.#control);
    try {
      if (list.length > 0) await s.subscribe(...list);
    } catch {
      return; // the connection dropped again: the next 'ready' retries
    }
    this.reconnects++;
    this.#handler?.onReconnect?.();
  }

  #onMessage(rch: string, msg: string): void {
    const h = this.#handler;
    if (h === undefined) return;
    if (rch === this.#control) return h.onControl(msg);
    if (!rch.startsWith(this.#dataPrefix)) return;
    const channel = rch.slice(this.#dataPrefix.length);
    // a batch: the frames of one channel's turn, in order, one per line (JSON never holds a raw newline)
    const k = msg.charCodeAt(0);
    if (k === 98 /* b */) {
      for (const frame of msg.slice(1).split('\n')) this.#deliver(h, channel, frame);
    } else if (k === 66 /* B */) {
      let batch;
      try {
        batch = decodeBatch(msg);
      } catch {
        return;
      }
      for (const pub of batch ?? []) h.onPublication(channel, pub);
    } else this.#deliver(h, channel, msg);
  }

  #deliver(h: BrokerEventHandler, channel: string, msg: string): void {
    let m;
    try {
      m = decodeMessage(msg);
    } catch {
      return; // not ours (another writer on our prefix): ignore
    }
    if (m === undefined) return;
    if (m.kind === 'pub') h.onPublication(channel, m.pub);
    else if (m.kind === 'join') h.onJoin(channel, m.info);
    else h.onLeave(channel, m.info);
  }

  #sub(channel: string): { s: Redis; i: number } {
    const i = shardOf(channel, this.#subs.length);
    const s = this.#subs[i];
    if (s === undefined) throw new Error('RedisBroker is not started');
    return { s, i };
  }

  async subscribe(channel: string): Promise<void> {
    const { s, i } = this.#sub(channel);
    this.#channels[i]!.add(channel);
    try {
      await s.subscribe(this.#dataPrefix + channel); // resolves on Redis's acknowledgement
    } catch (err) {
      this.#channels[i]!.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const { s, i } = this.#sub(channel);
    this.#channels[i]!.delete(channel);
    if (s.status !== 'ready') return; // gone with the connection; not resubscribed on reconnect
    await s.unsubscribe(this.#dataPrefix + channel);
  }

  async publish(channel: string, pub: Publication, options?: { history?: HistoryOptions }): Promise<StreamPosition | undefined> {
    // batched per channel and event-loop turn (see WriteBatcher): same order, far fewer round trips
    if (options?.history !== undefined) return this.#batcher.append(channel, pub, options.history, true);
    return this.#batcher.frame(channel, pubMessage(pub));
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.#batcher.frame(channel, `j${JSON.stringify(info)}`);
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.#batcher.frame(channel, `l${JSON.stringify(info)}`);
  }

  async publishControl(message: string): Promise<void> {
    await this.shards.clients[0]!.publish(this.#control, message);
  }

  /** Channels this node is subscribed to in Redis (for leak checks). */
  get subscribedChannelCount(): number {
    let n = 0;
    for (const s of this.#channels) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    for (const s of this.#subs) s.disconnect();
    this.#subs = [];
    await this.shards.release();
  }
}
