import type { PusherWebhookOptions } from './webhooks.js';
/**
 * Pusher apps: who may connect with which key, and where each app's channels live among the
 * node's channels. The Pusher channel `N` of an app with namespace `ns` is the Switchboard channel
 * `ns:N` (or `N` itself when the namespace is ''). Pusher names never contain ':', so apps with
 * distinct namespaces never see each other's channels.
 */

export interface PusherAppOptions {
  /** The app id of the HTTP API (`/apps/{id}/...`). */
  id: string;
  /** The public key clients connect with (`/app/{key}`). */
  key: string;
  /** Signs channel authorizations, sign-ins and HTTP API requests. */
  secret: string;
  /** Switchboard namespace of the app's channels; '' for top-level channels. Default ''. */
  namespace?: string;
  /** Client events (`client-*`) on private and presence channels. Default false. */
  enableClientMessages?: boolean;
  /**
   * Seconds of silence before a ping, announced in `connection_established` (the client pings after
   * that long without a frame from the server) and kept by the server (it sends `pusher:ping` after
   * that long without a frame from the client). Default 120.
   */
  activityTimeout?: number;
  /** Seconds the server waits for any frame after its `pusher:ping`, then `pusher:error` 4201 and close 4201. Default 30. */
  pongTimeout?: number;
  /** Largest event `data` (HTTP API and client events), in KB. Default 10 (Pusher's documented limit). */
  maxEventPayloadKb?: number;
  /** Distinct users per presence channel. Default 100. */
  maxPresenceMembers?: number;
  /** Largest presence `user_info`, in KB. Default 1. */
  maxUserInfoKb?: number;
  /** Client events per second per connection. Default 10. */
  maxClientEventsPerSecond?: number;
  /** `pusher_internal:subscription_count` events on every channel kind but presence. Default false (Pusher: opt-in per app). */
  enableSubscriptionCount?: boolean;
  /** Watchlist events (`online`/`offline` of the user ids in a signed-in user's `watchlist`). Default false (Pusher: opt-in per app). */
  enableWatchlistEvents?: boolean;
  /** Webhooks in Pusher's format (channel existence, members, client events, cache misses). */
  webhooks?: readonly PusherWebhookOptions[];
  /**
   * How long `channel_vacated` and `member_removed` webhooks wait for the subscriber (or the user) to
   * come back, in ms: one that leaves and returns within it, on any node, sends nothing. Default 3000
   * (Pusher's 3 s); 0 sends them at once.
   */
  webhookLeaveDelayMs?: number;
}

export interface PusherApp {
  readonly id: string;
  readonly key: string;
  readonly secret: string;
  readonly namespace: string;
  readonly enableClientMessages: boolean;
  readonly activityTimeout: number;
  readonly pongTimeout: number;
  /** The keepalive of the app's connections, in ms (from `activityTimeout` and `pongTimeout`). */
  readonly keepaliveMs: { readonly pingInterval: number; readonly pongTimeout: number };
  readonly maxEventPayloadBytes: number;
  readonly maxPresenceMembers: number;
  readonly maxUserInfoBytes: number;
  readonly maxClientEventsPerSecond: number;
  readonly enableSubscriptionCount: boolean;
  readonly enableWatchlistEvents: boolean;
  readonly webhooks: readonly PusherWebhookOptions[];
  readonly webhookLeaveDelayMs: number;
}

/** Pusher's limits on names ([SB]: 200 for both). */
export const MAX_CHANNEL_NAME = 200;
export const MAX_EVENT_NAME = 200;
export const MAX_CHANNELS_PER_EVENT = 100;
export const MAX_BATCH = 10;
/** How long a cache channel keeps its last event (Pusher: "up to 30 minutes"). */
export const CACHE_TTL_MS = 30 * 60_000;
const NAME = /^[-a-zA-Z0-9_=@,.;]+$/;

/** Cache channels (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`): the last event is replayed on subscribe. */
export function isCacheChannel(name: string): boolean {
  return /^(private-encrypted-|private-|presence-)?cache-/.test(name);
}

export function validChannelName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_CHANNEL_NAME && NAME.test(name);
}

function positive(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`pusher app ${what} must be a positive number (got ${String(v)})`);
  return v;
}

function nonNegative(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`pusher app ${what} must be a number of at least 0 (got ${String(v)})`);
  return v;
}

/** What `PusherApps.replace` changed, by app id. */
export interface PusherAppsChange {
  /** New ids, and ids whose key or namespace changed (their connections were another app's). */
  readonly added: readonly PusherApp[];
  /** Ids gone, and ids whose key or namespace changed (the old app). */
  readonly removed: readonly PusherApp[];
  /** Same id, key and namespace; another secret, limit or webhook (the new app). */
  readonly changed: readonly PusherApp[];
}

export class PusherApps {
  #byKey = new Map<string, PusherApp>();
  #byId = new Map<string, PusherApp>();
  #byNamespace = new Map<string, PusherApp>();

  /** `allowEmpty`: a mount whose apps come from a reloadable list may start with none. */
  constructor(apps: readonly PusherAppOptions[], options: { allowEmpty?: boolean } = {}) {
    if (apps.length === 0 && options.allowEmpty !== true) throw new Error('pusher: at least one app is needed');
    for (const a of apps) {
      for (const f of ['id', 'key', 'secret'] as const) {
        if (typeof a[f] !== 'string' || a[f] === '') throw new Error(`pusher app: ${f} must be a non-empty string`);
      }
      const namespace = a.namespace ?? '';
      if (namespace.includes(':')) throw new Error(`pusher app ${a.id}: namespace must not contain ':'`);
      if (this.#byKey.has(a.key)) throw new Error(`pusher app ${a.id}: key ${a.key} is used twice`);
      if (this.#byId.has(a.id)) throw new Error(`pusher app ${a.id}: id is used twice`);
      if (this.#byNamespace.has(namespace)) throw new Error(`pusher app ${a.id}: namespace "${namespace}" is used by another app`);
      const urls = (a.webhooks ?? []).map((w) => w.url);
      const twice = urls.find((u, i) => urls.indexOf(u) !== i);
      // the URL keys the webhook's journal in the engine (one log per app and URL)
      if (twice !== undefined) throw new Error(`pusher app ${a.id}: webhook ${twice} is configured twice`);
      for (const w of a.webhooks ?? []) if (w.durable !== undefined && typeof w.durable !== 'boolean') throw new Error(`pusher app ${a.id}: webhook durable must be a boolean`);
      const activityTimeout = Math.ceil(positive(a.activityTimeout, 120, `${a.id}: activityTimeout`));
      const pongTimeout = Math.ceil(positive(a.pongTimeout, 30, `${a.id}: pongTimeout`));
      const app: PusherApp = {
        id: a.id,
        key: a.key,
        secret: a.secret,
        namespace,
        enableClientMessages: a.enableClientMessages === true,
        activityTimeout,
        pongTimeout,
        keepaliveMs: { pingInterval: activityTimeout * 1000, pongTimeout: pongTimeout * 1000 },
        maxEventPayloadBytes: Math.round(positive(a.maxEventPayloadKb, 10, `${a.id}: maxEventPayloadKb`) * 1024),
        maxPresenceMembers: Math.round(positive(a.maxPresenceMembers, 100, `${a.id}: maxPresenceMembers`)),
        maxUserInfoBytes: Math.round(positive(a.maxUserInfoKb, 1, `${a.id}: maxUserInfoKb`) * 1024),
        maxClientEventsPerSecond: positive(a.maxClientEventsPerSecond, 10, `${a.id}: maxClientEventsPerSecond`),
        enableSubscriptionCount: a.enableSubscriptionCount === true,
        enableWatchlistEvents: a.enableWatchlistEvents === true,
        webhooks: a.webhooks ?? [],
        webhookLeaveDelayMs: nonNegative(a.webhookLeaveDelayMs, 3000, `${a.id}: webhookLeaveDelayMs`),
      };
      this.#byKey.set(app.key, app);
      this.#byId.set(app.id, app);
      this.#byNamespace.set(namespace, app);
    }
  }

  /**
   * Put another app list in place (a reload): validated whole first, so an invalid list throws and
   * changes nothing. Says which apps came, went or changed; the caller closes the connections of
   * the apps gone.
   */
  replace(apps: readonly PusherAppOptions[]): PusherAppsChange {
    const next = new PusherApps(apps, { allowEmpty: true });
    const added: PusherApp[] = [];
    const removed: PusherApp[] = [];
    const changed: PusherApp[] = [];
    for (const old of this.#byId.values()) {
      const now = next.#byId.get(old.id);
      if (!now || now.key !== old.key || now.namespace !== old.namespace) {
        removed.push(old);
        if (now) added.push(now);
      } else if (JSON.stringify(now) !== JSON.stringify(old)) changed.push(now);
    }
    for (const now of next.#byId.values()) if (!this.#byId.has(now.id)) added.push(now);
    this.#byKey = next.#byKey;
    this.#byId = next.#byId;
    this.#byNamespace = next.#byNamespace;
    return { added, removed, changed };
  }

  /** The app as it is now (after reloads), or undefined when it is gone or became another app (key, namespace). */
  current(app: PusherApp): PusherApp | undefined {
    const now = this.#byId.get(app.id);
    return now && now.key === app.key && now.namespace === app.namespace ? now : undefined;
  }

  byKey(key: string): PusherApp | undefined {
    return this.#byKey.get(key);
  }

  all(): IterableIterator<PusherApp> {
    return this.#byId.values();
  }

  byNamespace(namespace: string): PusherApp | undefined {
    return this.#byNamespace.get(namespace);
  }

  byId(id: string): PusherApp | undefined {
    return this.#byId.get(id);
  }

  /** The Switchboard channel of an app's Pusher channel. */
  channelOf(app: PusherApp, name: string): string {
    return app.namespace === '' ? name : `${app.namespace}:${name}`;
  }

  /** The Pusher name of a Switchboard channel (undefined: no app's channel). */
  pusherName(channel: string): string | undefined {
    const i = channel.indexOf(':');
    if (i > 0 && this.#byNamespace.has(channel.slice(0, i))) return channel.slice(i + 1);
    if (i < 0 && this.#byNamespace.has('')) return channel;
    return undefined;
  }
}
