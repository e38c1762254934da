import type { Broker, BrokerEventHandler } from './broker.js';
import { MemoryHistoryStore } from './history-memory.js';
import type { HistoryStore } from './history.js';
import type { ClientInfo, HistoryOptions, Publication, StreamPosition } from './types.js';

/**
 * The broker of a single node: publications go straight back to the node, synchronously and in
 * order. With a MemoryHistoryStore, offsets are assigned in the same step as the dispatch.
 */
export class MemoryBroker implements Broker {
  #handler: BrokerEventHandler | undefined;
  readonly #subscribed = new Set<string>();
  /** Pattern prefixes subscribed (the node's index does the matching). */
  readonly #patterns = new Set<string>();
  readonly history: HistoryStore;

  constructor(options: { history?: HistoryStore } = {}) {
    this.history = options.history ?? new MemoryHistoryStore();
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    this.#subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#subscribed.delete(channel);
  }

  /** Publishing is synchronous in memory: the node's hot path need not await (false: use `publish`). */
  publishSync(channel: string, pub: Publication, history?: HistoryOptions): StreamPosition | undefined | false {
    const h = this.history;
    if (history !== undefined && h instanceof MemoryHistoryStore) {
      const delivery = pub.delivery;
      const r = h.appendSync(channel, pub, history);
      if (this.#subscribed.has(channel)) {
        this.#handler?.onPublication(channel, delivery === undefined ? r.pub : { ...r.pub, delivery });
      }
      if (this.#patterns.size > 0) this.#handler?.onPatternPublication?.(channel, delivery === undefined ? r.pub : { ...r.pub, delivery });
      return { offset: r.offset, epoch: r.epoch };
    }
    if (history !== undefined) return false; // another history store: its append is asynchronous
    if (this.#subscribed.has(channel)) this.#handler?.onPublication(channel, pub);
    if (this.#patterns.size > 0) this.#handler?.onPatternPublication?.(channel, pub);
    return undefined;
  }

  async publish(channel: string, pub: Publication, options?: { history?: HistoryOptions }): Promise<StreamPosition | undefined> {
    const history = options?.history;
    if (history === undefined || this.history instanceof MemoryHistoryStore) return this.publishSync(channel, pub, history) || undefined;
    // Another history store: await the append; a single node publishes one channel's
    // publications through here, so appends and dispatches keep their order per channel
    // as long as the store answers in order.
    const pos = await this.history.append(channel, pub, history);
    if (this.#subscribed.has(channel)) this.#handler?.onPublication(channel, { ...pub, offset: pos.offset, epoch: pos.epoch });
    if (this.#patterns.size > 0) this.#handler?.onPatternPublication?.(channel, { ...pub, offset: pos.offset, epoch: pos.epoch });
    return pos;
  }

  async subscribePattern(prefix: string): Promise<void> {
    this.#patterns.add(prefix);
  }

  async unsubscribePattern(prefix: string): Promise<void> {
    this.#patterns.delete(prefix);
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.onJoin(channel, info);
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.onLeave(channel, info);
  }

  async publishControl(message: string): Promise<void> {
    this.#handler?.onControl(message);
  }

  get subscribedChannelCount(): number {
    return this.#subscribed.size;
  }

  async close(): Promise<void> {
    this.#subscribed.clear();
    this.#handler = undefined;
  }
}
