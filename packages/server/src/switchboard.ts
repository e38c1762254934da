import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TokenVerifier } from './auth.js';
import { Authenticator } from './authenticator.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './broker-memory.js';
import { type ChannelOptions, ChannelRegistry, compileRoute, historyOf } from './channels.js';
import { Disconnects, type DisconnectValue, Errors, ReplyError } from './codes.js';
import { Commands } from './commands.js';
import type { Connection } from './connection.js';
import type {
  Client,
  ConnectingContext,
  Middleware,
  PublishContext,
  RefreshContext,
  RefreshResult,
  RpcContext,
  SubRefreshContext,
  SubRefreshResult,
  SubscribeContext,
} from './context.js';
import { ControlPlane } from './control.js';
import type { NodeInfo } from './control-messages.js';
import { EpochMismatchError, type HistoryReadOptions, type HistoryStore } from './history.js';
import { Hub, type NodeStats } from './hub.js';
import { newClientId } from './internal/ids.js';
import { type Logger, silentLogger } from './logger.js';
import { Maintenance } from './maintenance.js';
import { NodeEvents, type NodeContext } from './node-context.js';
import { NodeRegistry } from './node-registry.js';
import { DEFAULTS, type EndpointOptions, type Limits, resolveLimits, type SwitchboardEvents, type SwitchboardOptions, type UserSelector } from './options.js';
import { CommandPipeline } from './pipeline.js';
import type { PresenceStats, PresenceStore } from './presence.js';
import { MemoryPresenceStore } from './presence-memory.js';
import type { Protocol, ProtocolName, RequestTransportHost, SessionHost } from './protocol.js';
import { Route } from './route.js';
import { createSessionHost } from './session-host.js';
import { SubscribeFlow } from './subscribe-flow.js';
import { Publisher, type PublishOptions } from './publisher.js';
import type { ClientInfo, Publication, StreamPosition } from './types.js';
import type { ConnectionRequest, Transport } from './transport.js';
import { UpgradeGate } from './upgrade-gate.js';
import { DEFAULT_TRANSPORT_PATHS, HTTP_TRANSPORTS, HttpEndpoints, type HttpTransportName, interceptRequests } from './http-endpoints.js';
import { SessionRouter } from './session-router.js';
import { ServerOps } from './server-ops.js';
import { Lifecycle, type UserStatus } from './cluster/lifecycle.js';
import type { ConnectionPage, ConnectionQuery } from './cluster/connections.js';
import { Revocations } from './cluster/revocations.js';
import type { StateStore } from './cluster/state.js';
import { MemoryStateStore } from './cluster/state-memory.js';
import { MemoryAckStore, type AckConsumer, type AckStore } from './acks.js';
import { attachWebhook, type WebhookOptions, type WebhookQueue } from './webhooks/index.js';

export { DEFAULTS, VERSION } from './options.js';
export type { EndpointOptions, Limits, SwitchboardEvents, SwitchboardOptions, UserSelector } from './options.js';
export type { Logger } from './logger.js';
export { Route } from './route.js';
export { httpStatusOf } from './http-status.js';

/**
 * A Switchboard node: the app API and the lifecycle. One per process; several nodes form one
 * server through a shared broker, history and presence (Redis). The work is done by its parts
 * (docs/design.md): the Hub (connections, indexes, fan-out), the UpgradeGate, the Authenticator,
 * the SubscribeFlow, Commands, the ControlPlane, the NodeRegistry and Maintenance.
 */
export class Switchboard implements RequestTransportHost {
  readonly id = newClientId();
  readonly name: string;
  readonly broker: Broker;
  readonly historyStore: HistoryStore;
  readonly presenceStore: PresenceStore;
  /** Cluster state: node leases, memberships, revocations, last seen (cluster/state.ts). */
  readonly stateStore: StateStore;
  /** Acknowledged delivery: what each consumer has not acknowledged (acks.ts). */
  readonly ackStore: AckStore;
  readonly registry: ChannelRegistry<Route>;
  readonly options: SwitchboardOptions;
  readonly logger: Logger;
  readonly maxQueueBytes: number;
  readonly limits: Required<Limits>;
  readonly startedAt = Date.now();
  /** What protocol sessions may ask of this node. */
  readonly sessionHost: SessionHost;

  readonly #events: NodeEvents;
  readonly #hub: Hub;
  readonly #publisher: Publisher;
  readonly #auth: Authenticator;
  readonly #pipeline: CommandPipeline;
  readonly #flow: SubscribeFlow;
  readonly #commands: Commands;
  readonly #control: ControlPlane;
  readonly #nodes: NodeRegistry;
  readonly #maintenance: Maintenance;
  readonly #gate: UpgradeGate;
  readonly #http: HttpEndpoints;
  /** Delivers requests to the node holding a session (HTTP-streaming/SSE emulation; reusable by other request-based transports). */
  readonly router: SessionRouter;
  readonly #lifecycle: Lifecycle;
  readonly #ops: ServerOps;
  readonly #webhooks: WebhookQueue[] = [];
  readonly #webhookNames = new Set<string>();
  #started: Promise<void> | undefined;
  #closed = false;

  constructor(options: SwitchboardOptions = {}) {
    this.options = options;
    this.name = options.name ?? `switchboard-${process.pid}`;
    this.logger = options.logger ?? silentLogger;
    this.limits = resolveLimits(options.limits);
    this.maxQueueBytes = this.limits.maxQueueBytes;
    if (options.broker) {
      this.broker = options.broker;
      const history = options.history ?? options.broker.history;
      if (!history) throw new Error('a custom broker needs its history store: pass options.history too');
      this.historyStore = history;
    } else {
      const broker = new MemoryBroker(options.history ? { history: options.history } : {});
      this.broker = broker;
      this.historyStore = broker.history;
    }
    this.presenceStore = options.presence ?? new MemoryPresenceStore();
    this.stateStore = options.state ?? new MemoryStateStore();
    this.ackStore = options.acks ?? new MemoryAckStore();
    this.registry = new ChannelRegistry<Route>(options.channels ?? {}, options.namespaces ?? {});
    this.#events = new NodeEvents(this.logger);
    const ctx: NodeContext = {
      id: this.id,
      name: this.name,
      startedAt: this.startedAt,
      options,
      limits: this.limits,
      logger: this.logger,
      broker: this.broker,
      history: this.historyStore,
      presence: this.presenceStore,
      acks: this.ackStore,
      registry: this.registry,
      events: this.#events,
      revocations: new Revocations(),
    };
    this.#hub = new Hub(ctx);
    this.#publisher = new Publisher({ broker: this.broker, registry: this.registry, contract: options.contract, events: this.#events, hub: this.#hub, history: this.historyStore });
    this.#pipeline = new CommandPipeline(this.limits.commandRateLimit);
    this.#auth = new Authenticator(ctx, this.#pipeline);
    this.#flow = new SubscribeFlow(ctx, this.#hub, this.#auth, this.#pipeline);
    this.#commands = new Commands(ctx, this.#hub, this.#pipeline, {
      publish: (channel, data, opts) => this.publish(channel, data, opts),
      history: (channel, opts) => this.history(channel, opts),
      evict: (channel, user, reason) => this.evict(channel, user, reason),
      presenceUpdated: (channel, info) => this.#ops.send({ op: 'presence-update', channel, info }),
    });
    this.#control = new ControlPlane(ctx, this.#hub, this.#flow);
    this.#nodes = new NodeRegistry(ctx, this.#hub, (m) => this.#control.send(m));
    this.#control.registry = this.#nodes;
    this.#maintenance = new Maintenance(ctx, this.#hub, this.#nodes);
    this.sessionHost = createSessionHost(ctx, this.#hub, this.#auth, this.#flow, this.#commands, this.#maintenance);
    this.#gate = new UpgradeGate(ctx, this.#hub, this.#auth, this.#flow, this.sessionHost, () => this.start());
    this.router = new SessionRouter(this.id, (m) => this.#control.send(m), (id) => this.#nodes.has(id), this.logger);
    this.#control.router = this.router;
    this.#http = new HttpEndpoints(ctx, this.#gate, this.router);
    this.#lifecycle = new Lifecycle(ctx, this.#hub, this.stateStore, options.cluster ?? {}, (channel, data) => this.publish(channel, data));
    this.#hub.lifecycle = this.#lifecycle;
    this.#control.onRevoke = (r) => this.#lifecycle.applyRevocation(r);
    this.#ops = new ServerOps(ctx, this.#hub, {
      start: () => this.start(),
      send: (m) => this.#control.send(m),
      publish: (channel, data, opts) => this.publish(channel, data, opts),
      stateStore: this.stateStore,
      lifecycle: this.#lifecycle,
      nodes: this.#nodes,
    });
    if (options.userStatus) {
      this.#commands.rpcHandlers.set('update_user_status', async (rc) => {
        const conn = this.#hub.connections.get(rc.client.id);
        if (conn) await this.#lifecycle.activity(conn);
        return {};
      });
    }
  }

  /**
   * Send lifecycle events (connect, disconnect, subscribe, unsubscribe, channel_occupied,
   * channel_vacated, presence_join, presence_leave) to an HTTP endpoint: signed, batched, retried,
   * dead-lettered (webhooks/). Every node configures the same webhooks; each event is sent by the one
   * node that decided it. Call before clients connect.
   */
  webhooks(options: WebhookOptions): WebhookQueue {
    // a durable queue's journal is keyed by the webhook's name (or URL): two must not share one
    const journalName = options.name ?? options.url;
    if (this.#webhookNames.has(journalName)) throw new Error(`webhook: another webhook is named ${JSON.stringify(journalName)}: give each webhook of one URL its own name`);
    const { queue } = attachWebhook(this.#lifecycle, (ch) => this.registry.resolve(ch)?.namespace, options, this.logger);
    this.#webhooks.push(queue);
    this.#webhookNames.add(journalName);
    return queue;
  }

  /** The webhook queues of this node (metrics, admin page). */
  get webhookQueues(): readonly WebhookQueue[] {
    return this.#webhooks;
  }

  /** The cluster lifecycle: listen to connect/disconnect/subscribe/.../channel_occupied/vacated events decided once in the cluster (webhooks use it). */
  get lifecycle(): Lifecycle {
    return this.#lifecycle;
  }

  /** The token verifier (connection and subscription JWTs). */
  get verifier(): TokenVerifier {
    return this.#auth.verifier;
  }

  /** Counters for metrics and leak checks. */
  get stats(): NodeStats {
    return this.#hub.stats;
  }

  /** Metrics hook: called once per publication fanned out on this node (not per recipient) with ms from publish to the last enqueue. */
  get onFanout(): ((ms: number) => void) | undefined {
    return this.#hub.onFanout;
  }

  set onFanout(f: ((ms: number) => void) | undefined) {
    this.#hub.onFanout = f;
  }

  /** Control messages dropped as malformed, unknown or of a later version (see control-messages.ts). */
  get controlDropped(): number {
    return this.#control.dropped;
  }

  // ───────────────────────────── app API: handlers ─────────────────────────────

  /** Decide who a connection is (or refuse it). Without one, the token decides. */
  onConnecting(handler: (ctx: ConnectingContext) => unknown): this {
    this.#auth.onConnecting = handler;
    return this;
  }

  /**
   * Server-side refresh of expiring connections (Centrifugo's refresh proxy): with a handler set,
   * clients are not told to refresh their token; when a connection's credentials expire the
   * handler decides: `{ expired: true }` closes it (3005), `{ expireAt }` extends it. A handler that
   * throws gives the connection one more minute, then it is asked again.
   */
  onRefresh(handler: (ctx: RefreshContext) => Promise<RefreshResult> | RefreshResult): this {
    this.#maintenance.onRefresh = handler;
    return this;
  }

  /** The same for subscriptions accepted with `serverRefresh` (Centrifugo's sub refresh proxy). */
  onSubRefresh(handler: (ctx: SubRefreshContext) => Promise<SubRefreshResult> | SubRefreshResult): this {
    this.#maintenance.onSubRefresh = handler;
    return this;
  }

  /** Authorize subscriptions of channels that no route handles (namespace rules otherwise). */
  onSubscribe(handler: (ctx: SubscribeContext) => unknown): this {
    this.#flow.onSubscribe = handler;
    return this;
  }

  /** Authorize or transform client publications (namespace rules otherwise). */
  onPublish(handler: (ctx: PublishContext) => unknown): this {
    this.#commands.onPublish = handler;
    return this;
  }

  /** A channel pattern with params (`/chat/:roomId`), its options, and a join handler. */
  route(pattern: string, spec: { join?: (ctx: SubscribeContext) => unknown; options?: ChannelOptions } = {}): Route {
    const r = new Route(compileRoute(pattern), spec.options ?? {}, spec.join);
    this.registry.addRoute(r);
    return r;
  }

  /** Add a namespace at runtime. */
  namespace(name: string, options: ChannelOptions): this {
    this.registry.addNamespace(name, options);
    return this;
  }

  /** An RPC method (native `rpc`, plain-JSON `action`); `'*'` answers every method without a handler of its own. */
  rpc(method: string, handler: (ctx: RpcContext) => unknown): this {
    this.#commands.rpcHandlers.set(method, handler);
    return this;
  }

  /** Middleware around every inbound command of every protocol. */
  use(mw: Middleware): this {
    this.#pipeline.middleware.push(mw);
    return this;
  }

  on<E extends keyof SwitchboardEvents>(event: E, listener: (...args: SwitchboardEvents[E]) => unknown): this {
    this.#events.on(event, listener);
    return this;
  }

  off<E extends keyof SwitchboardEvents>(event: E, listener: (...args: SwitchboardEvents[E]) => unknown): this {
    this.#events.off(event, listener);
    return this;
  }

  /** Errors from handlers and hooks: logged, emitted as 'error', never thrown at the client. */
  reportError(err: unknown, client?: Parameters<NodeEvents['reportError']>[1]): void {
    this.#events.reportError(err, client);
  }

  registerProtocol(protocol: Protocol): this {
    this.#gate.protocols.set(protocol.name, protocol);
    return this;
  }

  protocol(name: ProtocolName): Protocol | undefined {
    return this.#gate.protocols.get(name);
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /** Starts the broker and timers; called by attach/handleUpgrade/publish, or explicitly. */
  start(): Promise<void> {
    if (this.#started) return this.#started;
    const hub = this.#hub;
    this.#started = (async () => {
      await this.broker.start({
        onPublication: (ch, pub) => hub.onPublication(ch, pub),
        onPatternPublication: (ch, pub) => hub.onPatternPublication(ch, pub),
        onJoin: (ch, info) => hub.onJoinLeave(ch, info, 'join'),
        onLeave: (ch, info) => hub.onJoinLeave(ch, info, 'leave'),
        onControl: (msg) => this.#control.handle(msg),
        onReconnect: () => void this.#maintenance.resyncAfterReconnect(),
      });
      await this.broker.subscribe('*');
      await this.#lifecycle.start();
      this.#maintenance.start();
      await this.#nodes.announce();
    })();
    return this.#started;
  }

  get pingIntervalMs(): number {
    return this.#maintenance.pingIntervalMs;
  }

  /** Mount on an HTTP(S) server: upgrades to `path` are served with `protocol` (native by default). */
  attach(server: HttpServer | HttpsServer, endpoint: EndpointOptions | string = '/connection/websocket'): this {
    const t = typeof endpoint === 'string' ? undefined : endpoint.transport;
    if (t !== undefined && HTTP_TRANSPORTS.has(t)) {
      const name = t as HttpTransportName;
      const path = (endpoint as EndpointOptions).path ?? DEFAULT_TRANSPORT_PATHS[name];
      void this.start();
      interceptRequests(server, path, (req, res) => this.#http.handle(req, res, name));
      return this;
    }
    this.#gate.attach(server, endpoint);
    return this;
  }

  /**
   * Serve one HTTP request of a request-based transport (for frameworks that route requests
   * themselves): `http_stream`, `sse`, `emulation`, `uni_http_stream`, `uni_sse`. The caller
   * matched the path; the body must not have been read.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, transport: HttpTransportName): void {
    void this.start();
    this.#http.handle(req, res, transport);
  }

  /**
   * Serve one upgrade request (for frameworks that route upgrades themselves). Checks run before
   * the upgrade, so a refused client gets a plain HTTP status: 403 origin, 503 full or shutting down,
   * 401/403 from protocols that authenticate at upgrade.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, endpoint: EndpointOptions | ProtocolName = 'centrifuge'): void {
    this.#gate.handleUpgrade(req, socket, head, endpoint);
  }

  /**
   * For request-based transports (HTTP long-polling, streaming endpoints): run the checks and the
   * authentication of an upgrade for `req` with the token the endpoint read, and on success open a
   * connection over the transport `make` builds. Resolves to the connection or to a refusal status.
   */
  connectRequest(
    req: IncomingMessage,
    opts: { protocol: ProtocolName; token: string | undefined; onConnecting?: EndpointOptions['onConnecting'] },
    make: (request: ConnectionRequest) => Transport,
  ): Promise<{ conn: Connection } | { status: number; message: string }> {
    return this.#gate.connectRequest(req, opts, make);
  }

  // ───────────────────────────── publish, history, presence ─────────────────────────────

  /**
   * Publish to a channel (or '*' for every connection, subscribed or not). `data` is any JSON
   * value; pass `{ raw: text }` to publish JSON text you already have without re-serialising it.
   * See `PublishOptions` (publisher.ts).
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<StreamPosition | undefined> {
    await this.start();
    return this.#publisher.publish(channel, data, options);
  }

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    this.#checkPresence(channel);
    return this.presenceStore.get(channel);
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    this.#checkPresence(channel);
    return this.presenceStore.stats(channel);
  }

  #checkPresence(channel: string): void {
    const r = this.registry.resolve(channel);
    if (!r) throw new ReplyError(Errors.unknownChannel);
    if (!r.options.presence) throw new ReplyError(Errors.notAvailable);
  }

  /**
   * Acknowledged delivery (namespace `acknowledge`): the consumers (a user, with the client id the
   * subscriber named, if any) that were sent `offset` of `channel` and have not acknowledged it yet,
   * sorted, for delivered/read receipts. Answers for every node sharing the engine's ack store.
   * Throws 102 for an unknown channel, 108 for one without acknowledged delivery, 107 for an offset
   * that is not an integer from 1.
   */
  async unacknowledged(channel: string, offset: number): Promise<AckConsumer[]> {
    const r = this.registry.resolve(channel);
    if (!r) throw new ReplyError(Errors.unknownChannel);
    if (r.options.acknowledge !== true) throw new ReplyError(Errors.notAvailable, 'the channel has no acknowledged delivery');
    if (!Number.isSafeInteger(offset) || offset < 1) throw new ReplyError(Errors.badRequest, 'offset: an integer from 1');
    return this.#hub.acks.unacknowledged(channel, offset);
  }

  /** History of a channel: `limit` 0 gives only the position, -1 all that is kept (capped). */
  async history(channel: string, opts: Partial<HistoryReadOptions> = {}): Promise<{ publications: Publication[]; position: StreamPosition }> {
    const r = this.registry.resolve(channel);
    if (!r) throw new ReplyError(Errors.unknownChannel);
    if (!historyOf(r.options)) throw new ReplyError(Errors.notAvailable);
    if (opts.reverse && opts.since && opts.since.offset === 0) throw new ReplyError(Errors.badRequest, 'reverse with since offset 0');
    let limit = opts.limit ?? 0;
    if (limit < 0 || limit > DEFAULTS.historyMaxLimit) limit = DEFAULTS.historyMaxLimit;
    try {
      return await this.historyStore.read(channel, { limit, ...(opts.since ? { since: opts.since } : {}), ...(opts.reverse ? { reverse: true } : {}) });
    } catch (err) {
      if (err instanceof EpochMismatchError) throw new ReplyError(Errors.unrecoverablePosition);
      throw err;
    }
  }

  async removeHistory(channel: string): Promise<void> {
    if (!this.registry.resolve(channel)) throw new ReplyError(Errors.unknownChannel);
    await this.historyStore.remove(channel);
  }

  // ──────────────── server-side operations (every node; server-ops.ts) ────────────────

  /** Subscribe a user's (or one client's) connections on every node; they get a subscribe push. */
  subscribeUser(sel: UserSelector, channel: string): Promise<void> {
    return this.#ops.subscribeUser(sel, channel);
  }

  unsubscribeUser(sel: UserSelector, channel: string, reason?: { code: number; reason: string }): Promise<void> {
    return this.#ops.unsubscribeUser(sel, channel, reason);
  }

  /** Disconnect a user's (or one client's) connections on every node; default 3503 force disconnect. */
  disconnectUser(sel: UserSelector, d?: DisconnectValue, whitelist?: string[]): Promise<void> {
    return this.#ops.disconnectUser(sel, d, whitelist);
  }

  /** Server-side refresh of a user's connections (extends or expires them). */
  refreshUser(sel: UserSelector, opts: { expireAt?: number; expired?: boolean; info?: unknown }): Promise<void> {
    return this.#ops.refreshUser(sel, opts);
  }

  /** Remove every connection of `user` from `channel` on every node; the others get a `kicked` event. */
  evict(channel: string, user: string, reason?: string): Promise<void> {
    return this.#ops.evict(channel, user, reason);
  }

  /**
   * Revoke one token by its `jti` until `expireAt` (ms; by then the token has expired anyway), on
   * every node and durably in the engine: connections holding it are closed with 3520 at once;
   * connect, refresh and subscribe with it are refused.
   */
  revokeToken(jti: string, expireAt: number): Promise<void> {
    return this.#ops.revokeToken(jti, expireAt);
  }

  /** Revoke every token of `user` issued before `issuedBefore` (unix seconds), remembered until `expireAt` (ms). */
  invalidateUserTokens(user: string, issuedBefore: number, expireAt: number): Promise<void> {
    return this.#ops.invalidateUserTokens(user, issuedBefore, expireAt);
  }

  /** Online/offline and last seen of each user, across the cluster (needs `userStatus` in the options). */
  userStatus(users: readonly string[]): Promise<UserStatus[]> {
    return this.#ops.userStatus(users);
  }

  /** Connections across the cluster matching `query.filter`, one page at a time (ordered by client id). */
  connectionsQuery(query?: ConnectionQuery): Promise<ConnectionPage> {
    return this.#ops.connectionsQuery(query);
  }

  /** Every live node (this one included), as the last announcements described them. */
  info(): Promise<{ nodes: NodeInfo[] }> {
    return this.#ops.info();
  }

  /** Active channels across all nodes with their subscriber counts; `pattern` is a glob (`*`, `?`). */
  channels(pattern?: string): Promise<Map<string, number>> {
    return this.#ops.channels(pattern);
  }

  // ───────────────────────────── local state ─────────────────────────────

  countError(code: number): void {
    this.#hub.countError(code);
  }

  /** Counters of what this node holds, for metrics and leak checks. */
  counts(): { connections: number; users: number; channels: number; subscriptions: number; pendingUpgrades: number } {
    const hub = this.#hub;
    return { connections: hub.connections.size, users: hub.users.size, channels: hub.channels.size, subscriptions: hub.subscriptionCount(), pendingUpgrades: this.#gate.pending.size };
  }

  /** This node's connections as the app sees them: read-only `Client` views (the same view handlers get). */
  *connections(): IterableIterator<Client> {
    for (const conn of this.#hub.connections.values()) yield conn.client;
  }

  /** One of this node's connections by client id, as a read-only `Client` view. */
  getConnection(id: string): Client | undefined {
    return this.#hub.connections.get(id)?.client;
  }

  /**
   * @internal The live `Connection` objects of this node, for the admin page, metrics and tests
   * (queue, transport, subscriptions' state). Not app API: apps use `connections()`.
   */
  liveConnections(): IterableIterator<Connection> {
    return this.#hub.connections.values();
  }

  /** @internal One live `Connection` by client id (admin, metrics, tests); apps use `getConnection()`. */
  liveConnection(id: string): Connection | undefined {
    return this.#hub.connections.get(id);
  }

  /**
   * Graceful shutdown: refuse new upgrades, tell every client to reconnect (3001 shutdown, which
   * every protocol's client treats as "come back"), wait for them to go (up to the timeout), then
   * stop timers and the broker.
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#gate.closing = true;
    const connections = this.#hub.connections;
    const timeoutMs = options.timeoutMs ?? DEFAULTS.shutdownTimeoutMs;
    for (const conn of [...connections.values()]) conn.close(Disconnects.shutdown);
    const deadline = Date.now() + timeoutMs;
    while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of [...connections.values()]) {
      conn.transport.terminate();
      conn.transportClosed(Disconnects.shutdown.code, 'shutdown');
    }
    this.#closed = true;
    await this.#lifecycle.close();
    await Promise.all(this.#webhooks.map((q) => q.close()));
    this.#maintenance.stop();
    this.#hub.acks.close();
    this.#nodes.close();
    this.router.close();
    this.#http.close();
    this.#hub.outbound.close();
    // Presence removals and leave events are in flight: let them land before the stores close.
    await new Promise((r) => setImmediate(r));
    this.#gate.close();
    if (this.#started) await this.#started.catch(() => {});
    await this.#hub.acks.settled(); // pending entries of the last deliveries reach the ack store before it closes
    await this.broker.close().catch(() => {});
    await this.historyStore.close().catch(() => {});
    await this.presenceStore.close().catch(() => {});
    await this.stateStore.close().catch(() => {});
    await this.ackStore.close().catch(() => {});
  }

  get isShuttingDown(): boolean {
    return this.#gate.closing;
  }
}

export type { ProtocolName };
