import type { HistoryOptions } from './types.js';

export type SlowConsumerPolicy = 'disconnect' | 'drop-oldest' | 'latest-only';

/** Options of a namespace or a route; the names follow Centrifugo's channel options. */
export interface ChannelOptions {
  /** Keep presence (who is subscribed) for the channel. */
  presence?: boolean;
  /** Send join/leave events to subscribers that ask for them. */
  joinLeave?: boolean;
  /** Send join/leave events to every subscriber. */
  forcePushJoinLeave?: boolean;
  /** History: both size and ttl > 0 keep a stream. */
  historySize?: number;
  historyTtlMs?: number;
  historyMetaTtlMs?: number;
  /** Every subscription is positioned and recoverable. */
  forceRecovery?: boolean;
  /**
   * `'cache'` (Centrifugo's `force_recovery_mode`): every subscription is positioned and
   * recoverable, and a subscribe that recovers (the SDK's `since: {}` on the first subscribe; every
   * resubscribe) gets the channel's latest publication in its reply (unless it already has it)
   * instead of the stream since its position. Needs history (`historySize: 1` is enough).
   * `'stream'`, the default: recovery replays the stream.
   */
  forceRecoveryMode?: 'stream' | 'cache';
  /**
   * Centrifugo's `auto_cache_recover` (with `forceRecoveryMode: 'cache'` only): every subscribe
   * recovers without the client asking, so a first subscribe gets the latest publication too, and
   * so do server-side subscriptions (token `channels`, a connect handler's channels, the personal
   * channel, `subscribeUser`), unidirectional clients included.
   */
  autoCacheRecover?: boolean;
  /** Clients may ask for recovery / positioning. */
  allowRecovery?: boolean;
  forcePositioning?: boolean;
  allowSubscribeForClient?: boolean;
  /**
   * Pattern subscriptions (`ns:prefix*`) in this namespace for clients that may subscribe here
   * (issue 21). Without it only a token's `caps` entry with `psub` allows a pattern.
   */
  allowPatternSubscribe?: boolean;
  /**
   * Acknowledged delivery (issue 21; needs history): authenticated subscribers acknowledge
   * publications by offset (`$ack` RPC); unacknowledged ones are sent again after `ackTimeoutMs`
   * (default 10 s) and when the consumer (the user, or the user's `ackClient` from the subscribe
   * data) subscribes again, on any node sharing the engine's ack store. See acks.ts.
   */
  acknowledge?: boolean;
  ackTimeoutMs?: number;
  allowSubscribeForAnonymous?: boolean;
  allowPublishForClient?: boolean;
  allowPublishForSubscriber?: boolean;
  allowPublishForAnonymous?: boolean;
  allowPresenceForClient?: boolean;
  allowPresenceForSubscriber?: boolean;
  allowPresenceForAnonymous?: boolean;
  allowHistoryForClient?: boolean;
  allowHistoryForSubscriber?: boolean;
  allowHistoryForAnonymous?: boolean;
  /** `dialog#42,43`: only users 42 and 43 may subscribe. */
  allowUserLimitedChannels?: boolean;
  /**
   * Channels owned through a token claim, by the segment after the namespace:
   * `{ user: 'sub', org: 'orgs' }` lets only user 42 subscribe to `trpc:user:42`, and only
   * connections whose `orgs` claim holds 7 (`"7"`, `7`, `["7", "9"]`) to `trpc:org:7`. Other
   * channels of the namespace (`trpc:global`) follow the `allowSubscribe*` options. See grants.ts.
   */
  subscribeByClaim?: Readonly<Record<string, string>>;
  /** Most subscribers on one node for one channel of this namespace (0: no limit). */
  maxSubscribers?: number;
  /** What happens to a subscriber whose outbound queue is full. */
  slowConsumer?: SlowConsumerPolicy;
  /**
   * Delta compression types a client may ask for when subscribing (Centrifugo's
   * `allowed_delta_types`; only `'fossil'` exists). Another type, or any with this unset, is refused
   * with 107.
   */
  allowedDeltaTypes?: readonly 'fossil'[];
  /** Every publication in the namespace is sent as a delta to subscribers that negotiated one (Centrifugo's `delta_publish`). */
  deltaPublish?: boolean;
  /** Clients may subscribe with a tags filter (Centrifugo's `allow_tags_filter`); else such a subscribe is refused with 107. */
  allowTagsFilter?: boolean;
  /**
   * Channel compaction for clients that ask for it (the SDK's subscribe flag 1): the subscription
   * gets a numeric id and its publication, join and leave pushes carry the id instead of the name.
   */
  allowChannelCompaction?: boolean;
}

export const NAMESPACE_BOUNDARY = ':';
export const USER_BOUNDARY = '#';
export const USER_SEPARATOR = ',';
export const PRIVATE_PREFIX = '$';
export const MAX_CHANNEL_LENGTH = 255;
export const NAMESPACE_NAME = /^[-a-zA-Z0-9_]{2,}$/;

export function historyOf(o: ChannelOptions): HistoryOptions | undefined {
  const size = o.historySize ?? 0;
  const ttl = o.historyTtlMs ?? 0;
  if (size <= 0 || ttl <= 0) return undefined;
  return o.historyMetaTtlMs === undefined ? { size, ttlMs: ttl } : { size, ttlMs: ttl, metaTtlMs: o.historyMetaTtlMs };
}

/** A route pattern such as `/chat/:roomId` compiled to a matcher. */
export interface RoutePattern {
  readonly pattern: string;
  match(channel: string): Record<string, string> | undefined;
}

export function compileRoute(pattern: string): RoutePattern {
  const names: string[] = [];
  let src = '';
  // A route is matched segment by segment; ':name' takes one segment, '*' the rest.
  const parts = pattern.split(/(:[A-Za-z_][A-Za-z0-9_]*|\*)/);
  for (const part of parts) {
    if (part === '') continue;
    if (part === '*') {
      names.push('*');
      src += '(.*)';
    } else if (part.startsWith(':')) {
      names.push(part.slice(1));
      src += '([^/:#]+)';
    } else src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  const re = new RegExp(`^${src}$`);
  return {
    pattern,
    match(channel) {
      const m = re.exec(channel);
      if (!m) return undefined;
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]!);
      });
      return params;
    },
  };
}

export interface ResolvedChannel<R> {
  readonly channel: string;
  /** Namespace name ('' when the channel has none), or the route's pattern. */
  readonly namespace: string;
  readonly options: ChannelOptions;
  readonly route?: R;
  readonly params: Readonly<Record<string, string>>;
  /** Only a subscription token (or a protocol's own authorization) admits a subscriber: `$` channels and token-only overlays. */
  readonly isPrivate: boolean;
  /** Users allowed by a `#` suffix, when the namespace allows user-limited channels. */
  readonly allowedUsers?: readonly string[];
}

/**
 * Options laid over a namespace's for some of its channels: a protocol with its own channel kinds
 * (Pusher's `cache-` channels keep their last publication; its `private-`/`presence-` names admit
 * other protocols' clients by subscription token only) says so without a route, so the namespace's
 * rules and handlers keep applying to everything else.
 */
export interface ChannelOverlay {
  /** The namespace ('' for channels without one). */
  readonly namespace: string;
  /**
   * Given the channel name after the namespace boundary and the namespace's options: the options
   * of that channel and whether only a subscription token (or a protocol's own authorization)
   * admits a subscriber, as for `$` channels; undefined leaves the channel as the namespace says.
   */
  readonly apply: (name: string, base: ChannelOptions) => { options: ChannelOptions; tokenOnly?: boolean } | undefined;
}

export type ChannelCheck = { ok: true } | { ok: false; code: 102 | 107; message: string };

/** Validates a channel name: ASCII, not empty, at most 255 characters, not a reserved name. */
export function checkChannelName(channel: unknown): channel is string {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > MAX_CHANNEL_LENGTH) return false;
  for (let i = 0; i < channel.length; i++) {
    const c = channel.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return channel !== '*';
}

/**
 * Maps channel names to their options: routes first (in the order they were added), then the
 * namespace before the first ':' (after a '$' prefix), then the options of channels without one.
 */
/** Option combinations that cannot work, refused when the options are given. */
function checkOptions(o: ChannelOptions, where: string): void {
  if (o.autoCacheRecover === true && o.forceRecoveryMode !== 'cache') throw new Error(`${where}: autoCacheRecover needs forceRecoveryMode: 'cache'`);
}

export class ChannelRegistry<R extends { readonly pattern: RoutePattern; readonly options: ChannelOptions }> {
  readonly namespaces = new Map<string, ChannelOptions>();
  withoutNamespace: ChannelOptions;
  readonly routes: R[] = [];
  readonly overlays: ChannelOverlay[] = [];
  readonly #cache = new Map<string, ResolvedChannel<R> | null>();

  constructor(withoutNamespace: ChannelOptions = {}, namespaces: Record<string, ChannelOptions> = {}) {
    checkOptions(withoutNamespace, 'channels without namespace');
    this.withoutNamespace = withoutNamespace;
    for (const [name, o] of Object.entries(namespaces)) this.addNamespace(name, o);
  }

  addNamespace(name: string, options: ChannelOptions): void {
    if (!NAMESPACE_NAME.test(name)) throw new Error(`invalid namespace name "${name}": use 2 or more of a-z A-Z 0-9 - _`);
    checkOptions(options, `namespace "${name}"`);
    this.namespaces.set(name, options);
    this.#cache.clear();
  }

  addRoute(route: R): void {
    this.routes.push(route);
    this.#cache.clear();
  }

  /** Lay options over some channels of a namespace (the first overlay that applies decides). */
  addOverlay(overlay: ChannelOverlay): void {
    this.overlays.push(overlay);
    this.#cache.clear();
  }

  /** The channel's options, or undefined when its namespace is unknown (error 102). */
  resolve(channel: string): ResolvedChannel<R> | undefined {
    const hit = this.#cache.get(channel);
    if (hit !== undefined) return hit ?? undefined;
    const r = this.#resolve(channel);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(channel, r ?? null);
    return r;
  }

  #resolve(channel: string): ResolvedChannel<R> | undefined {
    for (const route of this.routes) {
      const params = route.pattern.match(channel);
      if (params) {
        return { channel, namespace: route.pattern.pattern, options: route.options, route, params, isPrivate: false, ...this.#users(channel, route.options) };
      }
    }
    const isPrivate = channel.startsWith(PRIVATE_PREFIX);
    const name = isPrivate ? channel.slice(PRIVATE_PREFIX.length) : channel;
    const i = name.indexOf(NAMESPACE_BOUNDARY);
    let options: ChannelOptions | undefined;
    let namespace = '';
    if (i < 0) options = this.withoutNamespace;
    else {
      namespace = name.slice(0, i);
      options = this.namespaces.get(namespace);
    }
    if (options === undefined) return undefined;
    let tokenOnly = isPrivate;
    if (this.overlays.length > 0) {
      const rest = i < 0 ? name : name.slice(i + 1);
      for (const o of this.overlays) {
        const applied = o.namespace === namespace ? o.apply(rest, options) : undefined;
        if (applied === undefined) continue;
        options = applied.options;
        if (applied.tokenOnly === true) tokenOnly = true;
        break;
      }
    }
    return { channel, namespace, options, params: {}, isPrivate: tokenOnly, ...this.#users(channel, options) };
  }

  #users(channel: string, options: ChannelOptions): { allowedUsers?: readonly string[] } {
    if (!options.allowUserLimitedChannels) return {};
    const j = channel.lastIndexOf(USER_BOUNDARY);
    if (j < 0) return {};
    return { allowedUsers: channel.slice(j + 1).split(USER_SEPARATOR) };
  }
}
