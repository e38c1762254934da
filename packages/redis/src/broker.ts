import {
  Errors,
  ReplyError,
  type Broker,
  type BrokerEventHandler,
  type ClientInfo,
  type HistoryOptions,
  type IdempotentPublish,
  type Publication,
  type StreamPosition,
  type VersionedPublish,
} from '@switchboard/server';
import type { Cluster } from 'ioredis';
import { batcherOf, type WriteBatcher } from './batcher.js';
import { ClusterSubscriber } from './cluster-subscriber.js';
import { decodeBatch, decodeMessage, decodePlain, newEpoch, pubMessage } from './codec.js';
import { historyScripts } from './commands.js';
import { controlChannel, keys, type RedisConnectionOptions, RedisShards, shardOf } from './shards.js';
import { StandaloneSubscriber, type ShardSubscriber } from './subscriber.js';

/**
 * Moves publications between nodes through Redis PUB/SUB (sharded PUB/SUB on Redis Cluster). A node
 * holds one subscriber connection per shard (per master on a cluster) and is subscribed to a
 * channel's Redis channel only while it has local subscribers. Publish with history appends and
 * PUBLISHes in one Lua script on the channel's shard (with `RedisHistoryStore`'s keys), so offsets
 * and delivery order agree across nodes; writes are batched per channel and turn (`WriteBatcher`).
 */
export class RedisBroker implements Broker {
  readonly shards: RedisShards;
  readonly #control: string;
  readonly #batcher: WriteBatcher;
  #handler: BrokerEventHandler | undefined;
  #subs: ShardSubscriber[] = [];
  /** On a cluster: the newest stream position this node saw per subscribed channel (see #failedOver). */
  readonly #seen = new Map<string, StreamPosition>();
  #closed = false;
  /** Reconnects seen (for tests and metrics). */
  reconnects = 0;

  constructor(options: RedisConnectionOptions | { shards: RedisShards }) {
    this.shards = 'shards' in options ? options.shards.acquire() : new RedisShards(options).acquire();
    this.#control = controlChannel(this.shards.prefix);
    this.#batcher = batcherOf(this.shards);
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.#handler = handler;
    await this.shards.ready();
    const events = {
      message: (rch: string, msg: string) => this.#onMessage(rch, msg, false),
      pmessage: (rch: string, msg: string) => this.#onMessage(rch, msg, true),
      reconnected: async (failedOver?: readonly string[]) => {
        if (this.#closed) return;
        if (failedOver !== undefined) await this.#failedOver(failedOver);
        this.reconnects++;
        this.#handler?.onReconnect?.();
      },
    };
    this.#subs = this.shards.clients.map((c, i) => {
      const always = i === 0 ? [this.#control] : [];
      return this.shards.cluster ? new ClusterSubscriber(c as Cluster, this.shards.options[i]!, always, events) : new StandaloneSubscriber(this.shards, i, always, events);
    });
    await Promise.all(this.#subs.map((s) => s.start()));
  }

  /**
   * A cluster master was lost and its replica took over. Replication is asynchronous, so the new
   * master may lack the last publications that subscribers already received (even acknowledged
   * ones), and would give their offsets again to new publications in the same epoch, which
   * subscribers would drop as already seen. So a channel whose stream is behind what this node saw
   * gets a new epoch (compare-and-set: of all nodes only the first changes it) before the node is
   * told to resync: its subscribers are then told that recovery failed instead of missing anything.
   * Done for every channel this node saw, not only the ones found behind: the new master may already
   * have reused the lost offsets before this node was back.
   */
  async #failedOver(rchs: readonly string[]): Promise<void> {
    let delay = 50;
    const todo = new Set(rchs.map((r) => this.shards.channelOf(r)).filter((c): c is string => c !== undefined && this.#seen.has(c)));
    for (let attempt = 0; todo.size > 0 && attempt < 20 && !this.#closed; attempt++) {
      await Promise.all(
        [...todo].map(async (channel) => {
          const seen = this.#seen.get(channel)!;
          const k = keys(this.shards.prefix, channel);
          try {
            await historyScripts(this.shards.client(channel)).sbRotate(k.stream, k.meta, seen.epoch, newEpoch());
            todo.delete(channel);
          } catch {
            // the slot's new master is not reachable yet: next round
          }
        }),
      );
      if (todo.size > 0) await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(1000, delay * 2);
    }
  }

  #note(channel: string, pub: Publication): void {
    if (pub.offset === undefined || pub.epoch === undefined || pub.offset <= 0) return;
    const s = this.#seen.get(channel);
    if (s === undefined || s.epoch !== pub.epoch || s.offset < pub.offset) this.#seen.set(channel, { offset: pub.offset, epoch: pub.epoch });
  }

  /** `viaPattern`: received through a pattern subscription, for the node's pattern subscribers only. */
  #onMessage(rch: string, msg: string, viaPattern: boolean): void {
    const h = this.#handler;
    if (h === undefined) return;
    if (rch === this.#control) return viaPattern ? undefined : h.onControl(msg);
    const channel = this.shards.channelOf(rch);
    if (channel === undefined) return;
    const k = msg.charCodeAt(0);
    // a batch: the frames of one channel's turn, in order, one per line (no frame holds a raw newline)
    if (k === 98 /* b */) {
      for (let start = 1; ; ) {
        const nl = msg.indexOf('\n', start);
        const end = nl < 0 ? msg.length : nl;
        // the common frame, a publication without history in the plain form (p0::*...), read in place
        const pub = msg.startsWith('p0::', start) ? decodePlain(msg, start + 4, end) : undefined;
        if (pub === undefined) this.#deliver(h, channel, msg.slice(start, end), viaPattern);
        else if (viaPattern) h.onPatternPublication?.(channel, pub);
        else h.onPublication(channel, pub);
        if (nl < 0) break;
        start = nl + 1;
      }
    } else if (k === 66 /* B */) {
      let batch;
      try {
        batch = decodeBatch(msg);
      } catch {
        return;
      }
      for (const pub of batch ?? []) {
        if (viaPattern) {
          h.onPatternPublication?.(channel, pub);
          continue;
        }
        if (this.shards.cluster) this.#note(channel, pub);
        h.onPublication(channel, pub);
      }
    } else this.#deliver(h, channel, msg, viaPattern);
  }

  #deliver(h: BrokerEventHandler, channel: string, msg: string, viaPattern: boolean): void {
    let m;
    try {
      m = decodeMessage(msg);
    } catch {
      return; // not ours (another writer on our prefix): ignore
    }
    if (m === undefined) return;
    if (viaPattern) {
      if (m.kind === 'pub') h.onPatternPublication?.(channel, m.pub);
      return;
    }
    if (m.kind === 'pub') {
      if (this.shards.cluster) this.#note(channel, m.pub);
      h.onPublication(channel, m.pub);
    } else if (m.kind === 'join') h.onJoin(channel, m.info);
    else h.onLeave(channel, m.info);
  }

  #sub(channel: string): ShardSubscriber {
    const s = this.#subs[shardOf(channel, this.#subs.length)];
    if (s === undefined) throw new Error('RedisBroker is not started');
    return s;
  }

  async subscribe(channel: string): Promise<void> {
    await this.#sub(channel).subscribe(this.shards.pubsub(channel));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#seen.delete(channel);
    await this.#sub(channel).unsubscribe(this.shards.pubsub(channel));
  }

  /**
   * Pattern subscriptions (issue 21): PSUBSCRIBE to the prefix on every shard (a channel lives on
   * one shard, any of them). Redis Cluster's sharded pub/sub has no patterns: refused there.
   */
  async subscribePattern(prefix: string): Promise<void> {
    if (this.shards.cluster) throw new ReplyError(Errors.notAvailable, 'pattern subscriptions need standalone Redis (Redis Cluster has no sharded pattern subscriptions)');
    const glob = globPattern(this.shards.pubsub(prefix));
    await Promise.all(this.#subs.map((s) => s.psubscribe!(glob)));
  }

  async unsubscribePattern(prefix: string): Promise<void> {
    if (this.shards.cluster) return;
    const glob = globPattern(this.shards.pubsub(prefix));
    await Promise.all(this.#subs.map((s) => (s.punsubscribe ? s.punsubscribe(glob) : Promise.resolve())));
  }

  /** Idempotent publications are deduplicated in Redis, across nodes (the key is checked and kept by the publishing script). */
  readonly idempotentPublish = true;
  /** Publish versions are checked in Redis, across nodes (kept in the stream's meta hash by the publishing script). */
  readonly versionedPublish = true;

  // not `async`: the batcher's promise is returned as it is (no wrapper promise per publication)
  publish(
    channel: string,
    pub: Publication,
    options?: { history?: HistoryOptions; idempotent?: IdempotentPublish; version?: VersionedPublish },
  ): Promise<StreamPosition | undefined> {
    if (options?.idempotent !== undefined || options?.version !== undefined) return this.#batcher.idempotent(channel, pub, options.history, options.idempotent, options.version);
    // batched per channel and event-loop turn (see WriteBatcher): same order, far fewer round trips
    if (options?.history !== undefined) return this.#batcher.append(channel, pub, options.history, true);
    return this.#batcher.frame(channel, pubMessage(pub));
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.#batcher.frame(channel, `j${JSON.stringify(info)}`);
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.#batcher.frame(channel, `l${JSON.stringify(info)}`);
  }

  async publishControl(message: string): Promise<void> {
    const c = this.shards.clients[0]!;
    if (this.shards.cluster) await c.spublish(this.#control, message);
    else await c.publish(this.#control, message);
  }

  /** Channels this node is subscribed to in Redis (for leak checks). */
  get subscribedChannelCount(): number {
    let n = 0;
    for (const s of this.#subs) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    for (const s of this.#subs) s.close();
    this.#subs = [];
    await this.shards.release();
  }
}

/** A Redis glob matching every channel that starts with `prefix` (its glob characters escaped). */
function globPattern(prefix: string): string {
  return `${prefix.replace(/[\\*?[\]]/g, '\\$&')}*`;
}
