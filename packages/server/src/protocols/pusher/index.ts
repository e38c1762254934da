import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { type ChannelOptions, type ChannelOverlay, historyOf, NAMESPACE_NAME } from '../../channels.js';
import type { Credentials } from '../../context.js';
import type { HistoryReadOptions } from '../../history.js';
import type { EndpointOptions } from '../../options.js';
import type { Protocol } from '../../protocol.js';
import { PROTOCOL_SLOTS } from '../../protocol.js';
import type { Publication } from '../../types.js';
import { CACHE_TTL_MS, isCacheChannel, type PusherApp, PusherApps, type PusherAppOptions, type PusherAppsChange } from './apps.js';
import { pusherCloseFor, pusherRefusal } from './close-codes.js';
import { frame, publicationFrame } from './frames.js';
import { type PusherApiNode, PusherHttpApi } from './http-api.js';
import { PresenceFold } from './presence-fold.js';
import { appKeyOf, PusherSession, type PusherShared } from './session.js';
import { type PusherAppStats, PusherStats } from './stats.js';
import { SubscriptionCounter } from './subscription-count.js';
import { type PusherWebhookNode, PusherWebhooks } from './webhooks.js';

export { PusherApps, type PusherAppOptions, type PusherApp, type PusherAppsChange } from './apps.js';
export { PusherHttpApi, type PusherApiNode } from './http-api.js';
export { pusherWebhookFormat, PusherWebhooks, PUSHER_WEBHOOK_EVENTS, type PusherWebhookEvent, type PusherWebhookEventName, type PusherWebhookOptions } from './webhooks.js';
export { socketIdOf, clientIdOf } from './socket-id.js';
export type { PusherAppStats, PusherApiEndpoint } from './stats.js';

/** The Pusher protocol: publications encoded once per publication for every Pusher subscriber. */
export function pusherProtocol(shared: PusherShared): Protocol {
  const { apps } = shared;
  const nameOf = (channel: string) => apps.pusherName(channel) ?? channel;
  return {
    name: 'pusher',
    slot: PROTOCOL_SLOTS.pusher,
    newlineBatching: false,
    encodePublication: (channel, pub) => Buffer.from(publicationFrame(nameOf(channel), pub)),
    encodeEcho: () => undefined, // client events never come back to their sender
    encodeBroadcast: (pub) => Buffer.from(frame('message', undefined, pub.data)),
    encodeJoin: () => undefined, // presence changes go out as member_added/removed, folded by user
    encodeLeave: () => undefined,
    createSession: (conn, host) => new PusherSession(conn, host, shared),
    closeFor: pusherCloseFor,
    refuseInBand: pusherRefusal,
  };
}

/** What mounting needs of the node (the public facade). */
export interface PusherNode extends PusherApiNode, PusherWebhookNode {
  registerProtocol(protocol: Protocol): unknown;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, endpoint: EndpointOptions): void;
  /** Cache channels keep a history of one; Pusher's private names are token-only for other protocols. */
  readonly registry: {
    addOverlay(overlay: ChannelOverlay): void;
    /** An app added by a reload gets its namespace when the node has none of that name. */
    addNamespace(name: string, options: ChannelOptions): void;
    readonly namespaces: ReadonlyMap<string, ChannelOptions>;
    resolve(channel: string): { readonly options: ChannelOptions } | undefined;
  };
  history(channel: string, opts: Partial<HistoryReadOptions>): Promise<{ publications: Publication[] }>;
  reportError(err: unknown): void;
}

/** Pusher names other protocols' clients reach by subscription token only (§17.2): private, presence and user channels. */
export function isTokenOnlyName(name: string): boolean {
  return name.startsWith('private-') || name.startsWith('presence-') || name.startsWith('#');
}

/**
 * How an app's namespace treats Pusher's channel kinds, for every protocol: a cache channel keeps
 * its last publication (a history of one for 30 minutes, unless the namespace keeps more); a
 * private, presence or user channel admits other protocols' clients by subscription token only,
 * and gives them nothing as non-subscribers (publish, presence, history) or through user-limited
 * names. Pusher clients are authorized by the app's signatures whatever the namespace says.
 */
export function pusherOverlay(app: PusherApp): ChannelOverlay {
  return {
    namespace: app.namespace,
    apply(name: string, base: ChannelOptions) {
      const cache = isCacheChannel(name);
      const tokenOnly = isTokenOnlyName(name);
      if (!cache && !tokenOnly) return undefined;
      let options = base;
      if (cache && historyOf(base) === undefined) options = { ...options, historySize: 1, historyTtlMs: CACHE_TTL_MS };
      if (tokenOnly) {
        options = {
          ...options,
          allowPublishForClient: false,
          allowPublishForAnonymous: false,
          allowPresenceForClient: false,
          allowPresenceForAnonymous: false,
          allowHistoryForClient: false,
          allowHistoryForAnonymous: false,
          allowUserLimitedChannels: false,
        };
      }
      return { options, tokenOnly };
    },
  };
}

export interface PusherMount {
  readonly apps: PusherApps;
  /** Serve WebSocket upgrades to `{path}/{key}` (default `/app/{key}`). */
  attach(server: HttpServer | HttpsServer, path?: string): void;
  /** Serve one upgrade (frameworks that route upgrades themselves). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The HTTP API (`/apps/{app_id}/...`): resolves false when the request is not for it. */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Pusher-format webhooks (queues for the apps that have any). */
  readonly webhooks: PusherWebhooks;
  /**
   * Put another app list in place (e.g. a file reloaded on SIGHUP). Validated whole first: an
   * invalid list throws and the running apps stay as they were. Apps added accept connections and
   * HTTP API calls at once; the connections of apps removed (or whose key or namespace changed)
   * are closed with 4001 and their HTTP API answers 404; a changed secret checks the next
   * signature, and a changed limit or webhook applies from the next frame or event.
   */
  reload(apps: readonly PusherAppOptions[]): PusherAppsChange;
  /** Per-app counters now: connections, WebSocket traffic, HTTP API calls, webhooks (metrics, admin). */
  stats(): PusherAppStats[];
  /** Stop the webhooks (what is queued gets up to `timeoutMs` to go out). Call on shutdown. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Serve Pusher protocol 7 and the Pusher HTTP API from a node:
 * `const p = pusher(sb, { apps: [{ id, key, secret }] }); p.attach(server)`;
 * `http.createServer((req, res) => p.handleHttp(req, res).then(done => ...))`.
 */
export function pusher(node: PusherNode, options: { apps: readonly PusherAppOptions[]; apiPrefix?: string; reloadable?: boolean }): PusherMount {
  // `reloadable`: the apps come from a list that `reload` replaces, which may start empty.
  const apps = new PusherApps(options.apps, { allowEmpty: options.reloadable === true });
  // Overlays by namespace. One stays when its app is removed by a reload: the namespace keeps
  // Pusher's rules for the other protocols (private, presence and user names by token only).
  const overlays = new Set<string>();
  // An app added by a reload in a namespace the node does not have gets it, with the defaults
  // (other protocols' clients need tokens there), as the standalone server does for its startup apps.
  const missing = (app: PusherApp) => app.namespace !== '' && !node.registry.namespaces.has(app.namespace);
  const overlay = (app: PusherApp, reloaded: boolean) => {
    if (reloaded && missing(app)) node.registry.addNamespace(app.namespace, {});
    if (overlays.has(app.namespace)) return;
    overlays.add(app.namespace);
    node.registry.addOverlay(pusherOverlay(app));
  };
  for (const app of apps.all()) overlay(app, false);
  const webhooks = new PusherWebhooks(apps, node);
  // Presence channels (and the hidden `#online-{id}` ones of watchlists) are tracked in the cluster
  // state whatever the webhooks: when a node dies, a survivor reaps its members and announces their
  // leaves, so Pusher clients everywhere get member_removed (and watchers `offline`) for them; a dead
  // node's presence entries would otherwise only expire from the store.
  const tracked = (ch: string) => {
    const name = apps.pusherName(ch);
    return name !== undefined && (name.startsWith('presence-') || name.startsWith('#online-'));
  };
  const untrackPresence = node.lifecycle.listen(() => {}, { channels: tracked, users: false });
  const stats = new PusherStats(apps);
  const sessions = new Set<PusherSession>();
  const shared: PusherShared = {
    apps,
    stats,
    webhooks,
    sessions,
    fold: new PresenceFold(),
    lastPublication: async (channel) => (await node.history(channel, { limit: 1, reverse: true })).publications[0],
  };
  const count = () => {
    if (!shared.counter && [...apps.all()].some((a) => a.enableSubscriptionCount)) shared.counter = new SubscriptionCounter(() => node.channels(), (err) => node.reportError(err));
  };
  count();
  node.registerProtocol(pusherProtocol(shared));
  const api = new PusherHttpApi(apps, node, options.apiPrefix ?? '/apps', stats);
  const endpoint: EndpointOptions = {
    path: '',
    protocol: 'pusher',
    // No token: the app key decides (an unknown key is told with 4001 after the upgrade, never an
    // HTTP status, so pusher-js stops retrying). The session checks every channel signature
    // itself; the `caps` grant lets its client events through the core's publish check.
    onConnecting: (ctx) => {
      const app = apps.byKey(appKeyOf(ctx.request.url));
      const credentials: Partial<Credentials> = { user: '' };
      if (app) {
        const prefix = app.namespace === '' ? '' : `${app.namespace}:`;
        credentials.claims = { caps: [{ channels: [`${prefix}private-*`, `${prefix}presence-*`], match: 'wildcard', allow: ['pub'] }] };
      }
      ctx.accept(credentials);
    },
  };
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => node.handleUpgrade(req, socket, head, { ...endpoint, path: req.url ?? '/' });
  return {
    apps,
    attach(server, path = '/app') {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const p = (req.url ?? '/').split('?')[0]!;
        if (p.startsWith(`${path}/`) && !p.slice(path.length + 1).includes('/')) handleUpgrade(req, socket, head);
      });
    },
    handleUpgrade,
    handleHttp: (req, res) => api.handle(req, res),
    webhooks,
    reload(list) {
      for (const a of list) {
        if (a.namespace && !NAMESPACE_NAME.test(a.namespace) && !node.registry.namespaces.has(a.namespace)) {
          throw new Error(`pusher app ${a.id}: namespace "${a.namespace}" is not a valid namespace name: use 2 or more of a-z A-Z 0-9 - _`);
        }
      }
      const change = apps.replace(list); // throws when invalid: nothing changed
      for (const app of change.added) overlay(app, true);
      webhooks.update(change);
      count();
      const gone = new Set(change.removed.map((a) => a.id));
      for (const session of [...sessions]) if (session.app && gone.has(session.app.id)) session.appGone();
      return change;
    },
    stats: () => stats.snapshot((app) => webhooks.statsOf(app)),
    close: async (timeoutMs) => {
      untrackPresence();
      shared.counter?.close();
      await webhooks.close(timeoutMs);
    },
  };
}
