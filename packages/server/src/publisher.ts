import type { Broker } from './broker.js';
import { type ChannelRegistry, checkChannelName, historyOf } from './channels.js';
import { Errors, ReplyError } from './codes.js';
import { checkPublication } from './contract.js';
import type { Hub } from './hub.js';
import { DEFAULT_IDEMPOTENT_RESULT_TTL_MS, IdempotencyCache, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_VERSION_EPOCH_LENGTH, VersionGate, type VersionedPublish } from './idempotency.js';
import type { HistoryStore } from './history.js';
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
   * Centrifugo's publish `version`: in a channel with history, a publication whose version is not
   * greater than the channel's last versioned publication (with the same `versionEpoch`, or none
   * given) is dropped: not stored, not delivered; the call resolves with the stream's current top.
   * A positive safe integer; 0 or absent: no check. Across nodes on Redis; on one node with the
   * memory engine; on other engines for publications reaching the same node.
   */
  version?: number;
  /** Centrifugo's `version_epoch`: a new epoch starts the versions over (1 is newer than 99 of another epoch). */
  versionEpoch?: string;
  /** Called when the publication was dropped as stale (`version`). */
  stale?: () => void;
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
  /** Publish versions, for a broker that does not check them across nodes. */
  readonly #versions = new VersionGate();

  constructor(
    readonly deps: {
      readonly broker: Broker;
      readonly registry: ChannelRegistry<Route>;
      readonly contract: SwitchboardOptions['contract'];
      readonly events: NodeEvents;
      readonly hub: Hub;
      readonly history: HistoryStore;
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
    const version = versionOf(options);
    if (channel === '*') {
      if (version !== undefined) throw new ReplyError(Errors.badRequest, 'version needs one channel with history, not a broadcast to all');
      if (key === undefined) await this.deps.broker.publish('*', pub);
      else await this.#idempotent('*', key, undefined, pub, undefined, () => {}, undefined);
      return undefined;
    }
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.deps.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (this.deps.contract) await checkPublication(this.deps.contract, channel, data, options.raw === true);
    const history = options.skipHistory || options.delivery ? undefined : historyOf(resolved.options);
    const b = this.deps.broker;
    if (version !== undefined && history === undefined) {
      throw new ReplyError(
        Errors.badRequest,
        options.skipHistory || options.delivery
          ? 'version needs the publication to go to history (not with skip_history or a targeted delivery)'
          : 'version needs history in the channel: the last version is kept with the history stream',
      );
    }
    if (key !== undefined || version !== undefined) {
      let skipped = false;
      const v = version === undefined ? undefined : { ...version, stale: () => ((skipped = true), options.stale?.()) };
      const publish = () => this.#versioned(channel, history!, v!, pub);
      const pos =
        key === undefined
          ? await publish()
          : await this.#idempotent(channel, key, history, pub, v, () => (skipped = true), version === undefined ? undefined : publish);
      if (!skipped) this.deps.events.emit('publish', channel, pub);
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

  /**
   * An idempotent publication: deduplicated by the broker across nodes where it can, else by this
   * node. With a version too: a broker that checks both does so in one step; else `versioned` runs
   * under the node's idempotency check.
   */
  #idempotent(
    channel: string,
    key: string,
    history: HistoryOptions | undefined,
    pub: Publication,
    version: VersionedPublish | undefined,
    duplicate: () => void,
    versioned: (() => Promise<StreamPosition | undefined>) | undefined,
  ): Promise<StreamPosition | undefined> {
    const b = this.deps.broker;
    if (b.idempotentPublish === true && (version === undefined || b.versionedPublish === true)) {
      const idempotent = { key, ttlMs: DEFAULT_IDEMPOTENT_RESULT_TTL_MS, duplicate };
      return b.publish(channel, pub, { ...(history ? { history } : {}), idempotent, ...(version ? { version } : {}) });
    }
    return this.#idempotency.run(channel, key, versioned ?? (() => b.publish(channel, pub, history ? { history } : undefined)), duplicate);
  }

  /** A versioned publication: checked by the broker across nodes where it can, else by this node. */
  async #versioned(channel: string, history: HistoryOptions, version: VersionedPublish, pub: Publication): Promise<StreamPosition | undefined> {
    const b = this.deps.broker;
    if (b.versionedPublish === true) return b.publish(channel, pub, { history, version });
    const gate = this.#versions.admit(channel, version, history.metaTtlMs ?? DEFAULT_VERSION_TTL_MS);
    if (gate.stale) {
      version.stale?.();
      return this.deps.history.position(channel);
    }
    try {
      return await b.publish(channel, pub, { history });
    } catch (err) {
      gate.undo();
      throw err;
    }
  }
}

/** How long a channel's last version is remembered by the node without a history meta TTL (the memory store's default meta TTL). */
const DEFAULT_VERSION_TTL_MS = 30 * 24 * 3600 * 1000;

/** The publish version of `options`, validated; undefined when there is none (absent or 0). */
function versionOf(options: PublishOptions): { version: number; epoch: string } | undefined {
  const v = options.version;
  const e = options.versionEpoch;
  if (e !== undefined && (typeof e !== 'string' || e.length > MAX_VERSION_EPOCH_LENGTH)) {
    throw new ReplyError(Errors.badRequest, `version epoch must be a string of at most ${MAX_VERSION_EPOCH_LENGTH} characters`);
  }
  if (v === undefined || v === 0) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ReplyError(Errors.badRequest, 'version must be a non-negative integer (at most 2^53 - 1)');
  return { version: v, epoch: e ?? '' };
}
