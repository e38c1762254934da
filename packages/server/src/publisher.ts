import type { Broker } from './broker.js';
import { type ChannelRegistry, checkChannelName, historyOf } from './channels.js';
import { Errors, ReplyError } from './codes.js';
import { checkPublication } from './contract.js';
import type { Hub } from './hub.js';
import { DEFAULT_IDEMPOTENT_RESULT_TTL_MS, IdempotencyCache, MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.js';
import type { NodeEvents } from './node-context.js';
import type { SwitchboardOptions } from './options.js';
import type { Route } from './route.js';
import type { ClientInfo, Delivery, HistoryOptions, Publication, StreamPosition } from './types.js';

/** Options of `Switchboard.publish`. */
export interface PublishOptions {
  info?: ClientInfo;
  tags?: Record<string, string>;
  skipHistory?: boolean;
  delivery?: Delivery;
  raw?: boolean;
  /** Send as a delta to subscribers that negotiated delta compression (Centrifugo's publish `delta`). */
  delta?: boolean;
  /**
   * Centrifugo's `idempotency_key`: a second publication with the same key on the same channel
   * within 5 minutes is not published again and resolves with the first one's position. Across
   * nodes on Redis; on one node with the memory engine; on other engines for retries reaching
   * the same node.
   */
  idempotencyKey?: string;
  /**
   * Called with the number of subscribers the publication was handed to, where the node can
   * know it: when the broker dispatched it synchronously in this process (the memory broker's
   * fast path); never with a broker between nodes.
   */
  reached?: (subscribers: number) => void;
}

/**
 * The node's way out for app publications: data checked and serialised once, the channel
 * resolved and its contract checked, then the broker (synchronously where it can), idempotent
 * publications deduplicated by the broker across nodes where it can, else by this node.
 */
export class Publisher {
  /** Idempotent publications, for a broker that does not deduplicate them across nodes. */
  readonly #idempotency = new IdempotencyCache();

  constructor(
    readonly deps: {
      readonly broker: Broker;
      readonly registry: ChannelRegistry<Route>;
      readonly contract: SwitchboardOptions['contract'];
      readonly events: NodeEvents;
      readonly hub: Hub;
    },
  ) {}

  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<StreamPosition | undefined> {
    const text = options.raw ? (data as string) : JSON.stringify(data);
    if (text === undefined) throw new ReplyError(Errors.badRequest, 'data must be a JSON value');
    const pub: Publication = {
      data: text,
      ...(options.info ? { info: options.info } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
      time: Date.now(),
      ...(options.delivery || options.delta ? { delivery: options.delta ? { ...options.delivery, delta: true } : options.delivery } : {}),
    };
    const key = options.idempotencyKey;
    if (key !== undefined && (typeof key !== 'string' || key === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
      throw new ReplyError(Errors.badRequest, `idempotency key must be a non-empty string of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    }
    if (channel === '*') {
      if (key === undefined) await this.deps.broker.publish('*', pub);
      else await this.#idempotent('*', key, undefined, pub);
      return undefined;
    }
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.deps.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (this.deps.contract) await checkPublication(this.deps.contract, channel, data, options.raw === true);
    const history = options.skipHistory || options.delivery ? undefined : historyOf(resolved.options);
    const b = this.deps.broker;
    if (key !== undefined) {
      let duplicate = false;
      const pos = await this.#idempotent(channel, key, history, pub, () => (duplicate = true));
      if (!duplicate) this.deps.events.emit('publish', channel, pub);
      return pos;
    }
    // An in-process broker publishes synchronously (no await on the hot path) when it can.
    const sync = b.publishSync === undefined ? false : b.publishSync(channel, pub, history);
    const pos = sync !== false ? sync : await b.publish(channel, pub, history ? { history } : undefined);
    // Dispatched synchronously on this node: the channel's subscribers now are those it was handed to.
    if (options.reached && sync !== false) options.reached(this.deps.hub.subscriberCount(channel));
    this.deps.events.emit('publish', channel, pub);
    return pos;
  }

  /** An idempotent publication: deduplicated by the broker across nodes where it can, else by this node. */
  #idempotent(channel: string, key: string, history: HistoryOptions | undefined, pub: Publication, duplicate?: () => void): Promise<StreamPosition | undefined> {
    const b = this.deps.broker;
    if (b.idempotentPublish === true) {
      const idempotent = { key, ttlMs: DEFAULT_IDEMPOTENT_RESULT_TTL_MS, ...(duplicate ? { duplicate } : {}) };
      return b.publish(channel, pub, history ? { history, idempotent } : { idempotent });
    }
    return this.#idempotency.run(channel, key, () => b.publish(channel, pub, history ? { history } : undefined), duplicate);
  }
}
