import { EventEmitter } from 'node:events';
import { type IncomingMessage, type Server as HttpServer, STATUS_CODES } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { type ConnectionClaims, TokenError, type TokenOptions, TokenVerifier } from './auth.js';
import type { Broker, BrokerEventHandler } from './broker.js';
import { MemoryBroker } from './broker-memory.js';
import { MemoryHistoryStore } from './history-memory.js';
import {
  type ChannelOptions,
  ChannelRegistry,
  checkChannelName,
  compileRoute,
  historyOf,
  type ResolvedChannel,
  type RoutePattern,
} from './channels.js';
import { Disconnects, type DisconnectValue, DisconnectError, Errors, ReplyError, Unsubscribes } from './codes.js';
import { CommandRateLimiter } from './command-limit.js';
import { checkPublication, type ContractOptions } from './contract.js';
import { Connection, type ConnectionOwner, type ConnectionRequest, Subscription } from './connection.js';
import type {
  Client,
  CommandContext,
  CommandKind,
  ConnectingContext,
  Credentials,
  Decision,
  EventContext,
  Middleware,
  PublishContext,
  RpcContext,
  SubscribeContext,
} from './context.js';
import { capAllows, subscribeGrant } from './grants.js';
import { EpochMismatchError, type HistoryReadOptions, type HistoryStore } from './history.js';
import { globMatcher, globToRegExp } from './internal/glob.js';
import { newClientId } from './internal/ids.js';
import type { PresenceStats, PresenceStore } from './presence.js';
import { MemoryPresenceStore } from './presence-memory.js';
import type { Protocol, ProtocolName, SubscribeOutcome } from './protocol.js';
import { WsTransport } from './transport-ws.js';
import type { ClientInfo, Delivery, Publication, StreamPosition } from './types.js';

/** Named defaults: every limit is on, and generous enough for real apps. */
export const DEFAULTS = {
  maxMessageSize: 65_536,
  maxConnections: 100_000,
  maxChannelsPerConnection: 128,
  maxQueueBytes: 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  pingIntervalMs: 25_000,
  pongTimeoutMs: 8_000,
  expiredCloseDelayMs: 25_000,
  presenceRefreshMs: 20_000,
  shutdownTimeoutMs: 10_000,
  historyMaxLimit: 300,
  recoveryMaxPublications: 300,
  maxConnectionsPerUser: 0,
  commandRateLimit: 0,
} as const;

export interface Limits {
  /** Largest inbound WebSocket message, bytes; larger ones close the connection with 1009. */
  maxMessageSize?: number;
  /** Connections on this node; past it upgrades get 503. */
  maxConnections?: number;
  maxChannelsPerConnection?: number;
  /** Per-connection outbound queue, bytes (queued + kernel-buffered). */
  maxQueueBytes?: number;
  /** Upgrade requests must complete within this. */
  handshakeTimeoutMs?: number;
  /** After the upgrade, a native-protocol client must send `connect` within this (else 3502 stale). */
  connectTimeoutMs?: number;
  /** Connections per user on this node (0: unlimited); past it 3504. */
  maxConnectionsPerUser?: number;
  /**
   * Commands per second per connection, every protocol (0: unlimited). Bursts up to the rate pass;
   * past it a command gets error 111 (its handler does not run); a client that keeps sending at
   * more than twice the rate is disconnected with 3013. See command-limit.ts.
   */
  commandRateLimit?: number;
}

export interface SwitchboardOptions extends ContractOptions {
  broker?: Broker;
  history?: HistoryStore;
  presence?: PresenceStore;
  /** Options of channels without a namespace. */
  channels?: ChannelOptions;
  /** Namespaces by name: `trpc:user:42` is in namespace `trpc`. */
  namespaces?: Record<string, ChannelOptions>;
  token?: TokenOptions;
  /** Connections without a token are accepted as anonymous (user ''). */
  allowAnonymous?: boolean;
  /** Development mode: every connection, subscription and client publish allowed. Never in production. */
  insecure?: boolean;
  /** Subscribe each authenticated connection to `<namespace>:#<user>` (or `#<user>` with ''). */
  userPersonalChannel?: { namespace: string } | undefined;
  limits?: Limits;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Grace after a connection token expires before the connection is closed with 3005. */
  expiredCloseDelayMs?: number;
  presenceRefreshMs?: number;
  /** Allowed `Origin` values; `*` wildcards allowed (`https://*.example.com`). Empty/undefined: any. */
  allowedOrigins?: readonly string[];
  /** permessage-deflate (off by default: it costs CPU and memory per connection). */
  compression?: boolean;
  /** This node's name (info, metrics). */
  name?: string;
  /** Called for errors the app should know about (handler exceptions, broker failures). */
  logger?: Logger;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Routes: a channel pattern with its options and handlers. */
export class Route {
  readonly events = new Map<string, (ctx: EventContext) => unknown>();
  readonly middleware: Middleware[] = [];
  constructor(
    readonly pattern: RoutePattern,
    readonly options: ChannelOptions,
    readonly join: ((ctx: SubscribeContext) => unknown) | undefined,
  ) {}

  /** Handle a named client event on this route's channels (`*` catches every event). */
  on(event: string, handler: (ctx: EventContext) => unknown): this {
    this.events.set(event, handler);
    return this;
  }

  /** Middleware around this route's joins and events (e.g. a rate limit). */
  use(mw: Middleware): this {
    this.middleware.push(mw);
    return this;
  }
}

export interface SwitchboardEvents {
  connect: [client: Client];
  disconnect: [client: Client, info: { code: number; reason: string }];
  subscribe: [client: Client, channel: string];
  unsubscribe: [client: Client, channel: string];
  publish: [channel: string, pub: Publication];
  message: [client: Client, data: unknown];
  error: [error: Error, client: Client | undefined];
}

export interface EndpointOptions {
  path: string;
  protocol?: ProtocolName;
  /** A connection handler for this endpoint only (else the switchboard's). */
  onConnecting?: (ctx: ConnectingContext) => unknown;
}

export interface UserSelector {
  user?: string;
  client?: string;
}

interface ChannelState {
  readonly subs: Set<Subscription>;
  readonly resolved: ResolvedChannel<Route>;
  brokerSubscribed: Promise<void> | undefined;
}

interface Survey {
  readonly replies: unknown[];
  readonly waiting: Set<string>;
  readonly done: (replies: unknown[]) => void;
  readonly timer: NodeJS.Timeout;
}

interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients: number;
  num_users: number;
  num_subs: number;
  num_channels: number;
  uptime: number;
  seenAt: number;
}

export const VERSION = '0.1.0';

function destroyOnError(this: Duplex): void {
  this.destroy();
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function originMatcher(patterns: readonly string[]): (origin: string | undefined) => boolean {
  // `*` alone allows any origin; elsewhere `*` stays within the host (never crosses a "/").
  const allowed = patterns.includes('*') ? () => true : globMatcher(patterns, { separator: '/', ignoreCase: true });
  return (origin) => origin === undefined || allowed(origin); // non-browser clients send no Origin
}

/**
 * A Switchboard node: connections, channels, fan-out, and the app API. One per process;
 * several nodes form one server through a shared broker, history and presence (Redis).
 */
export class Switchboard implements ConnectionOwner {
  readonly id = newClientId();
  readonly name: string;
  readonly broker: Broker;
  readonly historyStore: HistoryStore;
  readonly presenceStore: PresenceStore;
  readonly registry: ChannelRegistry<Route>;
  readonly verifier: TokenVerifier;
  readonly options: SwitchboardOptions;
  readonly logger: Logger;
  readonly maxQueueBytes: number;
  readonly limits: Required<Limits>;
  readonly startedAt = Date.now();

  readonly #events = new EventEmitter();
  readonly #connections = new Map<string, Connection>();
  readonly #users = new Map<string, Set<Connection>>();
  readonly #channels = new Map<string, ChannelState>();
  readonly #protocols = new Map<ProtocolName, Protocol>();
  readonly #middleware: Middleware[] = [];
  readonly #rpc = new Map<string, (ctx: RpcContext) => unknown>();
  #onConnecting: ((ctx: ConnectingContext) => unknown) | undefined;
  #onSubscribe: ((ctx: SubscribeContext) => unknown) | undefined;
  #onPublish: ((ctx: PublishContext) => unknown) | undefined;
  readonly #wss: WebSocketServer;
  readonly #originOk: (origin: string | undefined) => boolean;
  #flushQueue: Connection[] = [];
  #flushScheduled = false;
  #started: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #shuttingDown = false;
  #closed = false;
  readonly #surveys = new Map<string, Survey>();
  readonly #nodes = new Map<string, NodeInfo>();
  readonly #pendingUpgrades = new Set<Duplex>();
  readonly #commandLimit: CommandRateLimiter | undefined;
  /** Metrics hook: called once per publication fanned out on this node (not per recipient) with ms from publish to the last enqueue. */
  onFanout: ((ms: number) => void) | undefined;
  /** Counters for metrics and leak checks. */
  readonly stats = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    publications: 0,
    deliveries: 0,
    disconnects: new Map<number, number>(),
    errors: new Map<number, number>(),
    /** WebSocket messages and bytes by protocol (out: one batched write counts as one message). */
    byProtocol: {
      centrifuge: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      pond: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      plain: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
    } as Record<ProtocolName, { messagesIn: number; bytesIn: number; messagesOut: number; bytesOut: number }>,
  };

  constructor(options: SwitchboardOptions = {}) {
    this.options = options;
    this.name = options.name ?? `switchboard-${process.pid}`;
    this.logger = options.logger ?? silentLogger;
    const limits = { ...DEFAULTS, ...options.limits };
    this.limits = {
      maxMessageSize: limits.maxMessageSize,
      maxConnections: limits.maxConnections,
      maxChannelsPerConnection: limits.maxChannelsPerConnection,
      maxQueueBytes: limits.maxQueueBytes,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      connectTimeoutMs: limits.connectTimeoutMs,
      maxConnectionsPerUser: limits.maxConnectionsPerUser,
      commandRateLimit: limits.commandRateLimit,
    };
    this.maxQueueBytes = this.limits.maxQueueBytes;
    this.#commandLimit = this.limits.commandRateLimit > 0 ? new CommandRateLimiter(this.limits.commandRateLimit) : undefined;
    if (options.broker) {
      this.broker = options.broker;
      this.historyStore = options.history ?? (options.broker instanceof MemoryBroker ? options.broker.history : undefined)!;
      if (!this.historyStore) throw new Error('a custom broker needs its history store: pass options.history too');
    } else {
      const broker = new MemoryBroker(options.history ? { history: options.history } : {});
      this.broker = broker;
      this.historyStore = broker.history;
    }
    this.presenceStore = options.presence ?? new MemoryPresenceStore();
    this.registry = new ChannelRegistry<Route>(options.channels ?? {}, options.namespaces ?? {});
    this.verifier = new TokenVerifier(options.token ?? {});
    this.#originOk = options.allowedOrigins && options.allowedOrigins.length > 0 ? originMatcher(options.allowedOrigins) : () => true;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxMessageSize,
      perMessageDeflate: options.compression ? { threshold: 256, serverNoContextTakeover: true, clientNoContextTakeover: true } : false,
      clientTracking: false,
      // The native protocol's JSON client offers no subprotocol; when one is offered, echo the JSON one.
      handleProtocols: (protocols) => (protocols.has('centrifuge-json') ? 'centrifuge-json' : false),
    });
    this.#events.on('error', () => {});
  }

  // ───────────────────────────── app API: handlers ─────────────────────────────

  /** Decide who a connection is (or refuse it). Without one, the token decides. */
  onConnecting(handler: (ctx: ConnectingContext) => unknown): this {
    this.#onConnecting = handler;
    return this;
  }

  /** Authorize subscriptions of channels that no route handles (namespace rules otherwise). */
  onSubscribe(handler: (ctx: SubscribeContext) => unknown): this {
    this.#onSubscribe = handler;
    return this;
  }

  /** Authorize or transform client publications (namespace rules otherwise). */
  onPublish(handler: (ctx: PublishContext) => unknown): this {
    this.#onPublish = handler;
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

  /** An RPC method (native `rpc`, plain-JSON `action`). */
  rpc(method: string, handler: (ctx: RpcContext) => unknown): this {
    this.#rpc.set(method, handler);
    return this;
  }

  /** Middleware around every inbound command of every protocol. */
  use(mw: Middleware): this {
    this.#middleware.push(mw);
    return this;
  }

  on<E extends keyof SwitchboardEvents>(event: E, listener: (...args: SwitchboardEvents[E]) => unknown): this {
    this.#events.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<E extends keyof SwitchboardEvents>(event: E, listener: (...args: SwitchboardEvents[E]) => unknown): this {
    this.#events.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  #emit<E extends keyof SwitchboardEvents>(event: E, ...args: SwitchboardEvents[E]): void {
    if (this.#events.listenerCount(event) === 0) return;
    for (const l of this.#events.listeners(event)) {
      try {
        const r = (l as (...a: unknown[]) => unknown)(...args);
        if (r instanceof Promise) r.catch((err: unknown) => this.reportError(err, event === 'error' ? undefined : (args[0] as Client)));
      } catch (err) {
        if (event !== 'error') this.reportError(err, args[0] as Client);
      }
    }
  }

  /** Errors from handlers and hooks: logged, emitted as 'error', never thrown at the client. */
  reportError(err: unknown, client?: Client): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.logger.error({ err: e, client: client?.id }, 'handler error');
    this.#emit('error', e, client);
  }

  registerProtocol(protocol: Protocol): this {
    this.#protocols.set(protocol.name, protocol);
    return this;
  }

  protocol(name: ProtocolName): Protocol | undefined {
    return this.#protocols.get(name);
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /** Starts the broker and timers; called by attach/handleUpgrade/publish, or explicitly. */
  start(): Promise<void> {
    if (this.#started) return this.#started;
    const handler: BrokerEventHandler = {
      onPublication: (ch, pub) => this.#onPublication(ch, pub),
      onJoin: (ch, info) => this.#onJoinLeave(ch, info, 'join'),
      onLeave: (ch, info) => this.#onJoinLeave(ch, info, 'leave'),
      onControl: (msg) => this.#onControl(msg),
      onReconnect: () => void this.#onBrokerReconnect(),
    };
    this.#started = (async () => {
      await this.broker.start(handler);
      await this.broker.subscribe('*');
      const tick = Math.max(50, Math.min(1000, this.#pingInterval / 4, this.#pongTimeout / 4));
      this.#timers.push(setInterval(() => this.#keepaliveTick(), tick));
      this.#timers.push(setInterval(() => void this.#refreshPresence(), this.options.presenceRefreshMs ?? DEFAULTS.presenceRefreshMs));
      this.#timers.push(setInterval(() => void this.#announce(), 3_000));
      for (const t of this.#timers) t.unref();
      await this.#announce();
    })();
    return this.#started;
  }

  get #pingInterval(): number {
    return this.options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
  }

  get #pongTimeout(): number {
    return this.options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs;
  }

  get pingIntervalMs(): number {
    return this.#pingInterval;
  }

  /** Mount on an HTTP(S) server: upgrades to `path` are served with `protocol` (native by default). */
  attach(server: HttpServer | HttpsServer, endpoint: EndpointOptions | string = '/connection/websocket'): this {
    const ep: EndpointOptions = typeof endpoint === 'string' ? { path: endpoint } : endpoint;
    void this.start();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== ep.path) return; // another endpoint's (or another library's) upgrade
      this.handleUpgrade(req, socket, head, ep);
    });
    return this;
  }

  /**
   * Serve one upgrade request (for frameworks that route upgrades themselves). Checks run before
   * the upgrade, so a refused client gets a plain HTTP status: 403 origin, 503 full or shutting down,
   * 401/403 from protocols that authenticate at upgrade.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, endpoint: EndpointOptions | ProtocolName = 'centrifuge'): void {
    const ep: EndpointOptions = typeof endpoint === 'string' ? { path: req.url ?? '/', protocol: endpoint } : endpoint;
    const protocolName = ep.protocol ?? 'centrifuge';
    const protocol = this.#protocols.get(protocolName);
    // A shared function, not a closure: a closure here would keep this call's scope (the request,
    // the handshake timer, the URL) alive for the whole life of the connection.
    socket.on('error', destroyOnError);
    if (!protocol) return this.#refuseUpgrade(socket, 500, `protocol ${protocolName} is not registered`);
    if (this.#shuttingDown || this.#closed) return this.#refuseUpgrade(socket, 503, 'shutting down');
    if (!this.#originOk(req.headers.origin)) return this.#refuseUpgrade(socket, 403, 'origin not allowed');
    if (this.#connections.size + this.#pendingUpgrades.size >= this.limits.maxConnections) {
      return this.#refuseUpgrade(socket, 503, 'connection limit reached');
    }
    void this.start();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const request: ConnectionRequest = {
      url: req.url ?? '/',
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
      query: new URLSearchParams(url.search), // not url.searchParams: that keeps the whole URL per connection
    };
    this.#pendingUpgrades.add(socket);
    const timer = setTimeout(() => {
      this.#pendingUpgrades.delete(socket);
      socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    timer.unref();
    const finish = () => {
      clearTimeout(timer);
      this.#pendingUpgrades.delete(socket);
    };
    const upgrade = (credentials: Credentials | undefined) => {
      if (socket.destroyed) return finish();
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        finish();
        this.#accept(ws, protocol, request, req, credentials);
      });
    };
    if (protocolName === 'centrifuge') return upgrade(undefined);
    // Protocols without a connect command authenticate on the upgrade request itself.
    const token = url.searchParams.get('token') ?? bearer(req.headers.authorization);
    this.authenticate({ protocol: protocolName, request, token, data: undefined }, ep.onConnecting).then(
      (d) => {
        if (d.kind === 'decline') {
          finish();
          return this.#refuseUpgrade(socket, httpStatusOf(d.code), d.message);
        }
        upgrade({ user: '', ...d.credentials });
      },
      (err) => {
        finish();
        if (err instanceof ReplyError || err instanceof DisconnectError) {
          return this.#refuseUpgrade(socket, httpStatusOf(err.code), err.message);
        }
        this.reportError(err);
        this.#refuseUpgrade(socket, 500, 'internal server error');
      },
    );
  }

  #refuseUpgrade(socket: Duplex, status: number, message: string): void {
    if (!socket.writable) return void socket.destroy();
    const body = JSON.stringify({ error: { code: status, message } });
    socket.end(
      `HTTP/1.1 ${status} ${httpReason(status)}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  #accept(ws: WebSocket, protocol: Protocol, request: ConnectionRequest, req: IncomingMessage, credentials: Credentials | undefined): void {
    const transport = new WsTransport(ws, request.remoteAddress);
    const conn = new Connection(newClientId(), protocol, transport, request, this);
    this.#connections.set(conn.id, conn);
    conn.session = protocol.createSession(conn, req);
    const perProtocol = this.stats.byProtocol[protocol.name];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.stats.messagesIn++;
      this.stats.bytesIn += data.length;
      perProtocol.messagesIn++;
      perProtocol.bytesIn += data.length;
      try {
        conn.session.handleMessage(data, isBinary);
      } catch (err) {
        this.reportError(err, conn);
        conn.close(Disconnects.internal);
      }
    });
    ws.on('pong', () => {
      conn.awaitingPong = false;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports oversized frames as errors and then closes with 1009.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#countDisconnect(1009);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      conn.transportClosed(code, reason.toString());
    });
    if (credentials !== undefined) {
      this.register(conn, credentials).then(
        (subs) => conn.session.start?.(subs),
        (err) => this.#closeWithError(conn, err),
      );
    }
  }

  #closeWithError(conn: Connection, err: unknown): void {
    if (err instanceof DisconnectError) conn.close(err);
    else {
      this.reportError(err, conn);
      conn.close(Disconnects.internal);
    }
  }

  // ───────────────────────────── authentication ─────────────────────────────

  /**
   * Runs token verification and the connecting handler. Never throws for bad credentials: the
   * decision says how to refuse.
   */
  async authenticate(
    input: { protocol: ProtocolName; request: ConnectionRequest; token: string | undefined | null; data: unknown },
    handler: ((ctx: ConnectingContext) => unknown) | undefined = this.#onConnecting,
  ): Promise<Decision> {
    const token = input.token ?? undefined;
    let claims: ConnectionClaims | undefined;
    let tokenError: 'invalid' | 'expired' | undefined;
    if (token !== undefined && token !== '') {
      if (this.verifier.configured) {
        try {
          claims = await this.verifier.verifyConnection(token);
        } catch (err) {
          tokenError = err instanceof TokenError ? err.kind : 'invalid';
        }
      } else if (!this.options.insecure) tokenError = 'invalid';
    }
    const fallback = (): Decision => {
      if (tokenError === 'expired') return { kind: 'decline', code: Errors.tokenExpired.code, message: 'token expired' };
      if (tokenError === 'invalid') return { kind: 'decline', code: Disconnects.invalidToken.code, message: Disconnects.invalidToken.reason };
      if (claims) return { kind: 'accept', credentials: claimsToCredentials(claims) };
      if (this.options.allowAnonymous || this.options.insecure) return { kind: 'accept', credentials: { user: '' } };
      return { kind: 'decline', code: Disconnects.badRequest.code, message: 'no credentials' };
    };
    let decision: Decision | undefined;
    await this.#runMiddleware({ kind: 'connect', protocol: input.protocol, client: undefined, data: input.data, state: {} }, async () => {
      if (!handler) return;
      const ctx: ConnectingContext = {
        protocol: input.protocol,
        request: input.request,
        token,
        data: input.data,
        claims,
        tokenError,
        accept(credentials) {
          decision ??= { kind: 'accept', credentials: { ...(claims ? claimsToCredentials(claims) : { user: '' }), ...credentials } };
        },
        decline(code, message) {
          decision ??= { kind: 'decline', code, message: message ?? (code < 600 ? httpReason(code) : 'unauthorized') };
        },
      };
      await handler(ctx);
    });
    return decision ?? fallback();
  }

  /** Make an authenticated connection live: limits, user index, server-side subscriptions, hooks. */
  async register(
    conn: Connection,
    creds: Credentials,
    recover: Readonly<Record<string, { recover?: boolean; offset?: number; epoch?: string }>> = {},
  ): Promise<Map<string, { sub: Subscription; outcome: SubscribeOutcome }>> {
    if (conn.state === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
    conn.user = creds.user ?? '';
    conn.info = creds.info === undefined ? undefined : typeof creds.info === 'string' && isJsonText(creds.info) ? creds.info : JSON.stringify(creds.info);
    conn.meta = creds.meta;
    conn.claims = creds.claims;
    if (creds.assigns) Object.assign(conn.assigns, creds.assigns);
    conn.expireAt = creds.expireAt ? creds.expireAt * 1000 : 0;
    if (conn.user !== '') {
      const max = this.limits.maxConnectionsPerUser;
      let set = this.#users.get(conn.user);
      if (max > 0 && set && set.size >= max) throw new DisconnectError(Disconnects.connectionLimit);
      if (!set) this.#users.set(conn.user, (set = new Set()));
      set.add(conn);
    }
    conn.state = 'connected';
    conn.lastPingAt = Date.now();
    this.logger.debug({ client: conn.id, user: conn.user, protocol: conn.protocol }, 'connect');
    const subs = new Map<string, { sub: Subscription; outcome: SubscribeOutcome }>();
    const channels = [...(creds.channels ?? [])];
    const personal = this.options.userPersonalChannel;
    if (personal && conn.user !== '') channels.push(personal.namespace ? `${personal.namespace}:#${conn.user}` : `#${conn.user}`);
    for (const ch of channels) {
      if (conn.subscriptions.has(ch)) continue;
      const r = recover[ch];
      // activated by the session once the connect reply is written
      const { sub, outcome } = await this.subscribe(conn, {
        channel: ch,
        serverSide: true,
        recoverable: true,
        ...(r?.recover ? { recover: true, offset: r.offset ?? 0, epoch: r.epoch ?? '' } : {}),
      });
      subs.set(ch, { sub, outcome });
    }
    this.#emit('connect', asClient(conn));
    return subs;
  }

  // ───────────────────────────── subscribe ─────────────────────────────

  resolve(channel: string): ResolvedChannel<Route> | undefined {
    return this.registry.resolve(channel);
  }

  /**
   * Subscribe `conn` to a channel. Checks permission and limits, makes the broker subscription
   * live, reads the stream position (and recovers), adds presence. The subscription is returned
   * inactive: publications wait in its buffer until the session has written the reply and calls
   * `activate`, so the client never sees a publication before the subscribe reply.
   */
  async subscribe(
    conn: Connection,
    req: {
      channel: string;
      token?: string | undefined;
      data?: unknown;
      recover?: boolean | undefined;
      offset?: number | undefined;
      epoch?: string | undefined;
      positioned?: boolean | undefined;
      recoverable?: boolean | undefined;
      joinLeave?: boolean | undefined;
      serverSide?: boolean;
      /** Server-side subscribe from the API: skips permission checks. */
      trusted?: boolean;
    },
  ): Promise<{ sub: Subscription; outcome: SubscribeOutcome; replies: { event: string; payload: unknown }[] }> {
    const channel = req.channel;
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (conn.subscriptions.has(channel)) throw new ReplyError(Errors.alreadySubscribed);
    if (conn.subscriptions.size >= this.limits.maxChannelsPerConnection) {
      if (req.serverSide) throw new DisconnectError(Disconnects.channelLimit);
      throw new ReplyError(Errors.limitExceeded, 'too many channels');
    }
    const o = resolved.options;
    let chanInfo: string | undefined;
    let replyData: string | undefined;
    let expireAt = 0;
    const replies: { event: string; payload: unknown }[] = [];
    let tracked: Record<string, unknown> | undefined;
    const sub = new Subscription(conn, channel, resolved);
    const client = asClient(conn);

    await this.#runMiddleware({ kind: 'subscribe', protocol: conn.protocol, client, channel, data: req.data, state: {} }, async () => {
      if (req.trusted || req.serverSide) return;
      // 1. private channels need a token; 2. a token alone decides.
      if (req.token) {
        let claims;
        try {
          claims = await this.verifier.verifySubscription(req.token);
        } catch (err) {
          if (err instanceof TokenError && err.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
          throw new ReplyError(Errors.permissionDenied);
        }
        if (claims.channel !== channel || claims.user !== conn.user || (claims.client !== undefined && claims.client !== conn.id)) {
          throw new DisconnectError(Disconnects.invalidToken);
        }
        chanInfo = claims.info;
        replyData = claims.data;
        expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
        return;
      }
      if (resolved.isPrivate) throw new ReplyError(Errors.permissionDenied);
      const anonymous = conn.user === '';
      let allowed: boolean;
      if (resolved.allowedUsers) allowed = !anonymous && resolved.allowedUsers.includes(conn.user);
      else {
        allowed =
          (o.allowSubscribeForClient === true && (!anonymous || o.allowSubscribeForAnonymous === true)) || this.options.insecure === true;
      }
      if (!resolved.route && !this.options.insecure) allowed = subscribeGrant(channel, resolved.namespace, o.subscribeByClaim, conn.user, conn.claims, allowed);
      const handler = resolved.route?.join ?? (resolved.route ? undefined : this.#onSubscribe);
      if (handler && !resolved.allowedUsers) {
        let decided: 'accept' | 'decline' | undefined;
        let declineErr: ReplyError | undefined;
        const ctx: SubscribeContext = {
          client,
          channel,
          params: resolved.params,
          data: req.data,
          allowedByNamespace: allowed,
          accept(opts) {
            decided ??= 'accept';
            if (opts?.info !== undefined) chanInfo = JSON.stringify(opts.info);
            if (opts?.data !== undefined) replyData = JSON.stringify(opts.data);
            return this;
          },
          decline(code = 403, message = 'permission denied') {
            if (decided === undefined) {
              decided = 'decline';
              declineErr = new ReplyError(code < 600 ? Errors.permissionDenied.code : code, message);
              (declineErr as ReplyError & { status?: number }).status = code < 600 ? code : 403;
            }
            return this;
          },
          assign(key, value) {
            conn.assigns[key] = value;
            return this;
          },
          track(data = {}) {
            tracked = data;
            return this;
          },
          reply(event, payload) {
            replies.push({ event, payload });
            return this;
          },
        };
        await this.#runChain(resolved.route?.middleware ?? [], ctx as unknown as CommandContext, async () => {
          await handler(ctx);
        });
        if (decided === 'decline') throw declineErr!;
        if (decided === 'accept') allowed = true;
      }
      if (!allowed) throw new ReplyError(Errors.permissionDenied);
    }, !(req.trusted || req.serverSide));

    if (conn.state === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
    if (conn.subscriptions.has(channel)) throw new ReplyError(Errors.alreadySubscribed);
    const maxSubs = o.maxSubscribers ?? 0;
    let state = this.#channels.get(channel);
    if (maxSubs > 0 && state && state.subs.size >= maxSubs) throw new ReplyError(Errors.limitExceeded, 'channel is full');

    // Join the index first (inactive: publications are buffered), then make the broker subscription
    // live, then read the position: a publication racing this subscribe is either in the history
    // read or in the buffer, never in neither.
    if (!state) {
      state = { subs: new Set(), resolved, brokerSubscribed: undefined };
      this.#channels.set(channel, state);
    }
    state.subs.add(sub);
    conn.subscriptions.set(channel, sub);
    sub.chanInfo = tracked !== undefined ? JSON.stringify({ ...(chanInfo ? (parseJson(chanInfo) as object) : {}), ...tracked }) : chanInfo;
    sub.expireAt = expireAt;
    sub.serverSide = req.serverSide === true;
    try {
      state.brokerSubscribed ??= this.broker.subscribe(channel);
      await state.brokerSubscribed;
      const history = historyOf(o);
      const canHistory = this.#can(conn, o, 'history', channel);
      sub.recoverable = history !== undefined && (o.forceRecovery === true || (req.recoverable === true && (o.allowRecovery === true || canHistory)));
      sub.positioned = history !== undefined && (sub.recoverable || o.forcePositioning === true || (req.positioned === true && canHistory));
      sub.joinLeave = o.forcePushJoinLeave === true || (o.joinLeave === true && (req.joinLeave === true || req.serverSide === true || conn.protocol !== 'centrifuge'));
      sub.presence = o.presence === true || tracked !== undefined;
      let outcome: SubscribeOutcome;
      const wasRecovering = req.recover === true;
      if (history !== undefined && (sub.positioned || wasRecovering)) {
        if (wasRecovering && sub.recoverable) {
          outcome = await this.#recover(sub, req.offset ?? 0, req.epoch ?? '');
        } else {
          const pos = await this.historyStore.position(channel);
          sub.offset = pos.offset;
          sub.epoch = pos.epoch;
          outcome = { recoverable: sub.recoverable, positioned: sub.positioned, epoch: pos.epoch, offset: pos.offset, wasRecovering, recovered: false, publications: [], joinLeave: sub.joinLeave };
        }
      } else {
        outcome = { recoverable: false, positioned: false, wasRecovering, recovered: false, publications: [], joinLeave: sub.joinLeave };
      }
      if (replyData !== undefined) outcome = { ...outcome, data: replyData };
      if (expireAt > 0) outcome = { ...outcome, ttl: Math.max(1, Math.floor((expireAt - Date.now()) / 1000)) };
      if (sub.presence) {
        const info = sub.info();
        await this.presenceStore.add(channel, conn.id, info);
        // Always announced: sessions that push presence lists (PondSocket) learn of changes from it.
        await this.broker.publishJoin(channel, info);
      }
      if ((conn.state as string) === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
      this.logger.debug({ client: conn.id, channel }, 'subscribe');
      return { sub, outcome, replies };
    } catch (err) {
      this.#removeSubscription(sub, false);
      if (err instanceof ReplyError || err instanceof DisconnectError) throw err;
      this.reportError(err, client);
      throw new ReplyError(Errors.internal);
    }
  }

  async #recover(sub: Subscription, offset: number, epoch: string): Promise<SubscribeOutcome> {
    const channel = sub.channel;
    const base = { recoverable: true, positioned: true, wasRecovering: true, joinLeave: sub.joinLeave };
    let pos: StreamPosition;
    let pubs: Publication[] = [];
    try {
      const r = await this.historyStore.read(channel, { since: { offset, epoch }, limit: DEFAULTS.recoveryMaxPublications + 1 });
      pos = r.position;
      pubs = r.publications;
    } catch (err) {
      if (!(err instanceof EpochMismatchError)) throw err;
      pos = err.position;
      sub.offset = pos.offset;
      sub.epoch = pos.epoch;
      return { ...base, epoch: pos.epoch, offset: pos.offset, recovered: false, publications: [] };
    }
    const recovered =
      (epoch === '' || epoch === pos.epoch) &&
      pubs.length <= DEFAULTS.recoveryMaxPublications &&
      (pubs.length === 0 ? pos.offset === offset : pubs[0]!.offset === offset + 1 && pubs[pubs.length - 1]!.offset === pos.offset);
    if (!recovered) {
      sub.offset = pos.offset;
      sub.epoch = pos.epoch;
      return { ...base, epoch: pos.epoch, offset: pos.offset, recovered: false, publications: [] };
    }
    sub.offset = pos.offset;
    sub.epoch = pos.epoch;
    return { ...base, epoch: pos.epoch, offset, recovered: true, publications: pubs };
  }

  /**
   * The reply has been written: deliver what arrived meanwhile (skipping what the reply's
   * recovered publications already covered) and go live.
   */
  activate(sub: Subscription): void {
    if (sub.active || sub.conn.state === 'closed' || sub.conn.subscriptions.get(sub.channel) !== sub) return;
    const buffered = sub.buffer ?? [];
    sub.buffer = undefined;
    sub.active = true;
    const cache: (Buffer | undefined)[] = [];
    for (const pub of buffered) {
      cache.length = 0; // one encoding per publication
      this.#deliver(sub, pub, cache);
    }
  }

  /** Remove a subscription without asking the client (the session tells it how it sees fit). */
  dropSubscription(sub: Subscription): void {
    this.#removeSubscription(sub, true);
  }

  /** Client-initiated unsubscribe. */
  async unsubscribe(conn: Connection, channel: string): Promise<void> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) return;
    await this.#runMiddleware({ kind: 'unsubscribe', protocol: conn.protocol, client: asClient(conn), channel, state: {} }, async () => {
      this.#removeSubscription(sub, true);
    });
  }

  /** Drop a subscription: index, presence, leave event, broker when the channel empties. */
  #removeSubscription(sub: Subscription, emit: boolean): void {
    const conn = sub.conn;
    if (conn.subscriptions.get(sub.channel) === sub) conn.subscriptions.delete(sub.channel);
    const state = this.#channels.get(sub.channel);
    if (state && state.subs.delete(sub) && state.subs.size === 0) {
      this.#channels.delete(sub.channel);
      const pending = state.brokerSubscribed ?? Promise.resolve();
      pending
        .then(() => {
          // resubscribed meanwhile: keep the broker subscription
          if (!this.#channels.has(sub.channel)) return this.broker.unsubscribe(sub.channel);
        })
        .catch((err) => this.reportError(err));
    }
    sub.buffer = undefined;
    sub.active = false;
    if (sub.presence) {
      const info = sub.info();
      this.presenceStore
        .remove(sub.channel, conn.id)
        .then(() => this.broker.publishLeave(sub.channel, info))
        .catch((err) => this.reportError(err));
    }
    if (emit) {
      this.logger.debug({ client: conn.id, channel: sub.channel }, 'unsubscribe');
      this.#emit('unsubscribe', asClient(conn), sub.channel);
    }
  }

  // ───────────────────────────── fan-out ─────────────────────────────

  #onPublication(channel: string, pub: Publication): void {
    if (channel === '*') return this.#broadcastAll(pub);
    const state = this.#channels.get(channel);
    if (state === undefined) return;
    this.stats.publications++;
    const d = pub.delivery;
    // One encoded message per protocol, shared by every recipient.
    const cache: (Buffer | undefined)[] = [undefined, undefined, undefined, undefined];
    for (const sub of state.subs) {
      if (sub.active) this.#deliver(sub, pub, cache);
      else sub.buffer?.push(pub);
    }
    if (this.onFanout !== undefined && pub.time !== undefined) this.onFanout(Date.now() - pub.time);
  }

  /**
   * One publication to one subscriber: targeting, offset bookkeeping (skip what recovery already
   * delivered; hold back past a gap so the client resyncs), then the protocol's encoding, shared
   * through `cache` (indexed by protocol slot) by every recipient of the same publication.
   */
  #deliver(sub: Subscription, pub: Publication, cache: (Buffer | undefined)[]): void {
    const conn = sub.conn;
    const d = pub.delivery;
    if (d !== undefined && !conn.wants(d)) return;
    const off = pub.offset;
    if (off !== undefined && off > 0) {
      if (off <= sub.offset && pub.epoch === sub.epoch) return; // already delivered (recovery overlap)
      if (off > sub.offset + 1 && sub.positioned && pub.epoch === sub.epoch) {
        sub.lagged = true; // a gap this node cannot account for: hold back, the client resyncs from its last offset
        return;
      }
      sub.offset = off;
    }
    const p = conn.proto;
    let buf: Buffer | undefined;
    if (d !== undefined && d.originClient === conn.id && p.encodeEcho !== undefined) buf = p.encodeEcho(sub.channel, pub);
    else {
      buf = cache[p.slot];
      if (buf === undefined) buf = cache[p.slot] = p.encodePublication(sub.channel, pub);
    }
    conn.enqueue(buf, sub);
    this.stats.deliveries++;
  }

  #broadcastAll(pub: Publication): void {
    const cache: (Buffer | null | undefined)[] = [undefined, undefined, undefined, undefined];
    for (const conn of this.#connections.values()) {
      if (conn.state !== 'connected') continue;
      const p = conn.proto;
      let buf = cache[p.slot];
      if (buf === undefined) buf = cache[p.slot] = p.encodeBroadcast(pub) ?? null;
      if (buf === null) continue;
      conn.enqueue(buf);
    }
  }

  #onJoinLeave(channel: string, info: ClientInfo, kind: 'join' | 'leave'): void {
    const state = this.#channels.get(channel);
    if (state === undefined) return;
    const cache: (Buffer | null | undefined)[] = [undefined, undefined, undefined, undefined];
    for (const sub of state.subs) {
      const conn = sub.conn;
      conn.session.presenceChanged?.(channel, kind, info);
      if (!sub.joinLeave || !sub.active) continue;
      const p = conn.proto;
      let buf = cache[p.slot];
      if (buf === undefined) buf = cache[p.slot] = (kind === 'join' ? p.encodeJoin(channel, info) : p.encodeLeave(channel, info)) ?? null;
      if (buf !== null) conn.enqueue(buf, sub);
    }
  }

  scheduleFlush(conn: Connection): void {
    this.#flushQueue.push(conn);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushAll);
    }
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const q = this.#flushQueue;
    this.#flushQueue = [];
    for (let i = 0; i < q.length; i++) {
      try {
        q[i]!.flush();
      } catch (err) {
        this.reportError(err, q[i]);
      }
    }
    this.stats.messagesOut += q.length;
  };

  // ───────────────────────────── publish ─────────────────────────────

  /**
   * Publish to a channel (or '*' for every connection, subscribed or not). `data` is any JSON
   * value; pass `{ raw: text }` to publish JSON text you already have without re-serialising it.
   */
  async publish(
    channel: string,
    data: unknown,
    options: {
      info?: ClientInfo;
      tags?: Record<string, string>;
      skipHistory?: boolean;
      delivery?: Delivery;
      raw?: boolean;
      /**
       * Called with the number of subscribers the publication was handed to, where the node can
       * know it: on a single node (the memory broker) only; never with a broker between nodes.
       */
      reached?: (subscribers: number) => void;
    } = {},
  ): Promise<StreamPosition | undefined> {
    await this.start();
    const text = options.raw ? (data as string) : JSON.stringify(data);
    if (text === undefined) throw new ReplyError(Errors.badRequest, 'data must be a JSON value');
    const pub: Publication = {
      data: text,
      ...(options.info ? { info: options.info } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
      time: Date.now(),
      ...(options.delivery ? { delivery: options.delivery } : {}),
    };
    if (channel === '*') {
      await this.broker.publish('*', pub);
      return undefined;
    }
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (this.options.contract) await checkPublication(this.options.contract, channel, data, options.raw === true);
    const history = options.skipHistory || options.delivery ? undefined : historyOf(resolved.options);
    const b = this.broker;
    // The memory broker dispatches synchronously unless it must await another history store.
    const sync = b instanceof MemoryBroker && (history === undefined || b.history instanceof MemoryHistoryStore);
    const pos = sync ? (b as MemoryBroker).publishSync(channel, pub, history) : await b.publish(channel, pub, history ? { history } : undefined);
    // Synchronous dispatch on one node: the channel's subscribers now are those it was handed to.
    if (options.reached && sync) options.reached(this.#channels.get(channel)?.subs.size ?? 0);
    this.#emit('publish', channel, pub);
    return pos;
  }

  /** A publication from a client: permission (namespace rules or onPublish), then publish. */
  async clientPublish(conn: Connection, channel: string, data: unknown, requestId?: string): Promise<StreamPosition | undefined> {
    const resolved = this.#resolveForClient(channel);
    // Event-style data on a route with a handler for that event goes to the handler.
    if (resolved.route && isEvent(data) && (resolved.route.events.has(data.event) || resolved.route.events.has('*'))) {
      await this.clientEvent(conn, channel, data.event, data.payload, requestId);
      return undefined;
    }
    let result: StreamPosition | undefined;
    const client = asClient(conn);
    await this.#runMiddleware({ kind: 'publish', protocol: conn.protocol, client, channel, data, state: {} }, async () => {
      const allowed = this.#can(conn, resolved.options, 'publish', channel);
      if (this.#onPublish) {
        const verdict = await this.#onPublish({ client, channel, data, allowedByNamespace: allowed });
        if (verdict === false) throw new ReplyError(Errors.permissionDenied);
        if (verdict !== true && !allowed) throw new ReplyError(Errors.permissionDenied);
      } else if (!allowed) throw new ReplyError(Errors.permissionDenied);
      const delivery: Delivery | undefined = requestId !== undefined ? { originClient: conn.id, originRequest: requestId } : undefined;
      const sub = conn.subscriptions.get(channel);
      result = await this.publish(channel, data, { info: conn.clientInfo(sub?.chanInfo), ...(delivery ? { delivery } : {}) });
    });
    return result;
  }

  /** A named event from a client on a channel (PondSocket broadcast, plain-JSON event, native publish of {event,payload}). */
  /**
   * Resolves to whether the sender was sent something for this event (its echo or a reply), so
   * request/response protocols can answer a request the handler left unanswered.
   */
  async clientEvent(conn: Connection, channel: string, event: string, payload: unknown, requestId?: string): Promise<boolean> {
    const resolved = this.#resolveForClient(channel);
    const route = resolved.route;
    const handler = route?.events.get(event) ?? route?.events.get('*');
    const client = asClient(conn);
    if (!handler) {
      // No handler: a plain publication of {event, payload}, where the channel allows client publishing.
      const data = { event, payload: payload === undefined ? {} : payload };
      await this.#runMiddleware({ kind: 'publish', protocol: conn.protocol, client, channel, event, data, state: {} }, async () => {
        const allowed = this.#can(conn, resolved.options, 'publish', channel);
        if (this.#onPublish) {
          const verdict = await this.#onPublish({ client, channel, data, allowedByNamespace: allowed });
          if (verdict === false || (verdict !== true && !allowed)) throw new ReplyError(Errors.permissionDenied);
        } else if (!allowed) throw new ReplyError(Errors.permissionDenied);
        const sub = conn.subscriptions.get(channel);
        await this.publish(channel, data, {
          info: conn.clientInfo(sub?.chanInfo),
          ...(requestId !== undefined ? { delivery: { originClient: conn.id, originRequest: requestId } } : {}),
        });
      });
      return true;
    }
    if (!conn.subscriptions.has(channel)) throw new ReplyError(Errors.permissionDenied, 'not a member of this channel');
    const info = conn.clientInfo(conn.subscriptions.get(channel)?.chanInfo);
    const origin = (extra: Partial<Delivery> = {}): Delivery => ({
      originClient: conn.id,
      ...(requestId !== undefined ? { originRequest: requestId } : {}),
      ...extra,
    });
    let answered = false;
    const ctx: EventContext = {
      client,
      channel,
      params: resolved.params,
      event,
      payload,
      broadcast: async (ev, p) => {
        answered = true;
        await this.publish(channel, { event: ev, payload: p ?? {} }, { info, delivery: origin() });
      },
      broadcastFrom: async (ev, p) =>
        void (await this.publish(channel, { event: ev, payload: p ?? {} }, { info, delivery: origin({ exceptClient: conn.id }) })),
      broadcastTo: async (users, ev, p) => {
        if (users.includes(conn.user)) answered = true;
        await this.publish(channel, { event: ev, payload: p ?? {} }, { info, delivery: origin({ toUsers: [...users] }) });
      },
      reply: (ev, p) => {
        answered = true;
        conn.session.pushReply?.(channel, ev, p ?? {}, requestId);
      },
      updatePresence: async (data) => this.updatePresence(conn, channel, data),
      evict: async (user, reason) => this.evict(channel, user, reason),
    };
    await this.#runMiddleware({ kind: 'event', protocol: conn.protocol, client, channel, event, data: payload, state: {} }, async () => {
      await this.#runChain(route!.middleware, ctx as unknown as CommandContext, async () => {
        await handler(ctx);
      });
    });
    return answered;
  }

  #resolveForClient(channel: string): ResolvedChannel<Route> {
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    return resolved;
  }

  /** Centrifugo's permission rules for publish, presence and history. */
  #can(conn: Connection, o: ChannelOptions, what: 'publish' | 'presence' | 'history', channel: string): boolean {
    if (this.options.insecure || capAllows(conn.claims, channel, what === 'publish' ? 'pub' : what === 'presence' ? 'prs' : 'hst')) return true;
    const anonymous = conn.user === '';
    const subscribed = conn.subscriptions.get(channel)?.active === true || conn.subscriptions.has(channel);
    if (what === 'publish') {
      if (anonymous && o.allowPublishForAnonymous !== true && o.allowPublishForClient === true) return subscribed && o.allowPublishForSubscriber === true;
      return o.allowPublishForClient === true || (o.allowPublishForSubscriber === true && subscribed);
    }
    if (what === 'presence') {
      if (anonymous && o.allowPresenceForAnonymous !== true && o.allowPresenceForClient === true) return subscribed && o.allowPresenceForSubscriber === true;
      return o.allowPresenceForClient === true || (o.allowPresenceForSubscriber === true && subscribed);
    }
    if (anonymous && o.allowHistoryForAnonymous !== true && o.allowHistoryForClient === true) return subscribed && o.allowHistoryForSubscriber === true;
    return o.allowHistoryForClient === true || (o.allowHistoryForSubscriber === true && subscribed);
  }

  async clientPresence(conn: Connection, channel: string, stats: boolean): Promise<Map<string, ClientInfo> | PresenceStats> {
    const resolved = this.#resolveForClient(channel);
    let out: Map<string, ClientInfo> | PresenceStats | undefined;
    await this.#runMiddleware({ kind: 'presence', protocol: conn.protocol, client: asClient(conn), channel, state: {} }, async () => {
      if (!resolved.options.presence) throw new ReplyError(Errors.notAvailable);
      if (!this.#can(conn, resolved.options, 'presence', channel)) throw new ReplyError(Errors.permissionDenied);
      out = stats ? await this.presenceStore.stats(channel) : await this.presenceStore.get(channel);
    });
    return out!;
  }

  async clientHistory(conn: Connection, channel: string, opts: HistoryReadOptions): Promise<{ publications: Publication[]; position: StreamPosition }> {
    const resolved = this.#resolveForClient(channel);
    let out: { publications: Publication[]; position: StreamPosition } | undefined;
    await this.#runMiddleware({ kind: 'history', protocol: conn.protocol, client: asClient(conn), channel, state: {} }, async () => {
      if (!historyOf(resolved.options)) throw new ReplyError(Errors.notAvailable);
      if (!this.#can(conn, resolved.options, 'history', channel)) throw new ReplyError(Errors.permissionDenied);
      out = await this.history(channel, opts);
    });
    return out!;
  }

  async clientRpc(conn: Connection, method: string, data: unknown): Promise<unknown> {
    const handler = this.#rpc.get(method);
    let result: unknown;
    await this.#runMiddleware({ kind: 'rpc', protocol: conn.protocol, client: asClient(conn), method, data, state: {} }, async () => {
      if (!handler) throw new ReplyError(Errors.methodNotFound);
      result = await handler({ client: asClient(conn), method, data });
    });
    return result;
  }

  /** An async message from a client (native `send`); reaches the 'message' hook. */
  async clientMessage(conn: Connection, data: unknown): Promise<void> {
    await this.#runMiddleware({ kind: 'message', protocol: conn.protocol, client: asClient(conn), data, state: {} }, async () => {
      this.#emit('message', asClient(conn), data);
    });
  }

  get hasMessageHandler(): boolean {
    return this.#events.listenerCount('message') > 0;
  }

  /** Connection token refresh: verifies the new token (same user) and moves the expiry. */
  async refreshConnection(conn: Connection, token: string): Promise<{ expires: boolean; ttl: number }> {
    let claims: ConnectionClaims;
    try {
      claims = await this.verifier.verifyConnection(token);
    } catch (err) {
      if (err instanceof TokenError && err.kind === 'expired') throw new DisconnectError(Disconnects.expired);
      throw new DisconnectError(Disconnects.invalidToken);
    }
    if (claims.user !== conn.user) throw new DisconnectError(Disconnects.invalidToken);
    conn.expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
    if (claims.info !== undefined) conn.info = claims.info;
    conn.claims = claims.payload;
    return conn.expireAt ? { expires: true, ttl: Math.max(1, Math.floor((conn.expireAt - Date.now()) / 1000)) } : { expires: false, ttl: 0 };
  }

  async refreshSubscription(conn: Connection, channel: string, token: string): Promise<{ expires: boolean; ttl: number }> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) throw new ReplyError(Errors.permissionDenied, 'not subscribed');
    let claims;
    try {
      claims = await this.verifier.verifySubscription(token);
    } catch (err) {
      if (err instanceof TokenError && err.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
      throw new ReplyError(Errors.permissionDenied);
    }
    if (claims.channel !== channel || claims.user !== conn.user || (claims.client !== undefined && claims.client !== conn.id)) {
      throw new DisconnectError(Disconnects.invalidToken);
    }
    sub.expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
    return sub.expireAt ? { expires: true, ttl: Math.max(1, Math.floor((sub.expireAt - Date.now()) / 1000)) } : { expires: false, ttl: 0 };
  }

  /** Update a member's presence data (PondSocket's presence update). */
  async updatePresence(conn: Connection, channel: string, data: Record<string, unknown>): Promise<void> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) throw new ReplyError(Errors.permissionDenied, 'not a member of this channel');
    sub.chanInfo = JSON.stringify(data);
    sub.presence = true;
    const info = sub.info();
    await this.presenceStore.add(channel, conn.id, info);
    await this.broker.publishControl(JSON.stringify({ op: 'presence-update', channel, info }));
  }

  /** Remove every connection of `user` from `channel` on every node. */
  async evict(channel: string, user: string, reason = 'evicted'): Promise<void> {
    await this.unsubscribeUser({ user }, channel, { code: 2000, reason });
    // The remaining members learn who was evicted (PondSocket's `kicked` event).
    await this.publish(channel, { event: 'kicked', payload: { userId: user, reason } }, { skipHistory: true });
  }

  // ───────────────────────────── middleware ─────────────────────────────

  async #runMiddleware(ctx: CommandContext, last: () => Promise<void>, fromClient = true): Promise<void> {
    // Every client command of every protocol passes here: the command rate limit (111 / 3013).
    if (fromClient && this.#commandLimit !== undefined && ctx.client !== undefined) this.#commandLimit.check(ctx.client);
    return this.#runChain(this.#middleware, ctx, last);
  }

  async #runChain(chain: readonly Middleware[], ctx: CommandContext, last: () => Promise<void>): Promise<void> {
    if (chain.length === 0) return last();
    let i = -1;
    const dispatch = async (n: number): Promise<void> => {
      if (n <= i) throw new Error('next() called twice');
      i = n;
      if (n === chain.length) return last();
      await chain[n]!(ctx, () => dispatch(n + 1));
    };
    return dispatch(0);
  }

  // ───────────────────────────── server-side operations ─────────────────────────────

  async #control(op: Record<string, unknown>): Promise<void> {
    await this.start();
    await this.broker.publishControl(JSON.stringify({ ...op, from: this.id }));
  }

  #matching(sel: UserSelector): Connection[] {
    if (sel.client !== undefined) {
      const c = this.#connections.get(sel.client);
      return c && (sel.user === undefined || c.user === sel.user) ? [c] : [];
    }
    if (sel.user === undefined) return [];
    if (sel.user === '') return [...this.#connections.values()].filter((c) => c.user === '' && c.state === 'connected');
    return [...(this.#users.get(sel.user) ?? [])];
  }

  /** Subscribe a user's (or one client's) connections on every node; they get a subscribe push. */
  async subscribeUser(sel: UserSelector, channel: string): Promise<void> {
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    if (!this.registry.resolve(channel)) throw new ReplyError(Errors.unknownChannel);
    await this.#control({ op: 'subscribe', sel, channel });
  }

  async unsubscribeUser(sel: UserSelector, channel: string, reason: { code: number; reason: string } = Unsubscribes.server): Promise<void> {
    await this.#control({ op: 'unsubscribe', sel, channel, code: reason.code, reason: reason.reason });
  }

  /** Disconnect a user's (or one client's) connections on every node; default 3503 force disconnect. */
  async disconnectUser(sel: UserSelector, d: DisconnectValue = Disconnects.forceNoReconnect, whitelist: string[] = []): Promise<void> {
    await this.#control({ op: 'disconnect', sel, code: d.code, reason: d.reason, whitelist });
  }

  /** Server-side refresh of a user's connections (extends or expires them). */
  async refreshUser(sel: UserSelector, opts: { expireAt?: number; expired?: boolean; info?: unknown }): Promise<void> {
    await this.#control({ op: 'refresh', sel, ...opts });
  }

  #onControl(message: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(message) as Record<string, unknown>;
    } catch {
      return;
    }
    const sel = (m['sel'] ?? {}) as UserSelector;
    switch (m['op']) {
      case 'subscribe':
        for (const conn of this.#matching(sel)) void this.#serverSubscribe(conn, m['channel'] as string);
        break;
      case 'unsubscribe':
        for (const conn of this.#matching(sel)) {
          const sub = conn.subscriptions.get(m['channel'] as string);
          if (!sub) continue;
          this.#removeSubscription(sub, true);
          conn.session.pushUnsubscribed(sub.channel, m['code'] as number, m['reason'] as string);
        }
        break;
      case 'disconnect': {
        const white = new Set((m['whitelist'] as string[] | undefined) ?? []);
        for (const conn of this.#matching(sel)) {
          if (!white.has(conn.id)) conn.close({ code: m['code'] as number, reason: m['reason'] as string });
        }
        break;
      }
      case 'refresh':
        for (const conn of this.#matching(sel)) {
          if (m['expired'] === true) conn.close(Disconnects.expired);
          else if (typeof m['expireAt'] === 'number') conn.expireAt = (m['expireAt'] as number) * 1000;
          if (m['info'] !== undefined) conn.info = JSON.stringify(m['info']);
        }
        break;
      case 'presence-update': {
        const info = m['info'] as ClientInfo;
        const state = this.#channels.get(m['channel'] as string);
        if (state) for (const sub of state.subs) sub.conn.session.presenceChanged?.(sub.channel, 'update', info);
        break;
      }
      case 'node': {
        const n = m['info'] as NodeInfo;
        const known = this.#nodes.has(n.uid);
        this.#nodes.set(n.uid, { ...n, seenAt: Date.now() });
        // A node we had not heard of learns of us at once, not at our next periodic announcement:
        // otherwise a survey (channels) it makes right after starting would not wait for our answer.
        if (!known && n.uid !== this.id && !this.#closed) void this.#announce();
        break;
      }
      case 'survey':
        void this.#answerSurvey(m);
        break;
      case 'survey-reply': {
        if (m['to'] !== this.id) break;
        const s = this.#surveys.get(m['id'] as string);
        if (!s) break;
        s.replies.push(m['data']);
        s.waiting.delete(m['from'] as string);
        if (s.waiting.size === 0) {
          clearTimeout(s.timer);
          this.#surveys.delete(m['id'] as string);
          s.done(s.replies);
        }
        break;
      }
    }
  }

  async #serverSubscribe(conn: Connection, channel: string): Promise<void> {
    if (conn.state !== 'connected' || conn.subscriptions.has(channel)) return;
    try {
      const { sub, outcome } = await this.subscribe(conn, { channel, serverSide: true });
      conn.session.pushSubscribed(channel, outcome);
      this.activate(sub);
      this.#emit('subscribe', asClient(conn), channel);
    } catch (err) {
      if (err instanceof DisconnectError) conn.close(err);
      else if (!(err instanceof ReplyError)) this.reportError(err, conn);
    }
  }

  /** Emit the 'subscribe' hook (sessions call it after activating a client-side subscription). */
  subscribed(conn: Connection, channel: string): void {
    this.#emit('subscribe', asClient(conn), channel);
  }

  #localInfo(): NodeInfo {
    let subs = 0;
    for (const c of this.#connections.values()) subs += c.subscriptions.size;
    return {
      uid: this.id,
      name: this.name,
      version: VERSION,
      num_clients: this.#connections.size,
      num_users: this.#users.size,
      num_subs: subs,
      num_channels: this.#channels.size,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
      seenAt: Date.now(),
    };
  }

  async #announce(): Promise<void> {
    try {
      await this.broker.publishControl(JSON.stringify({ op: 'node', info: this.#localInfo(), from: this.id }));
    } catch (err) {
      this.logger.warn({ err }, 'node announcement failed');
    }
    const cutoff = Date.now() - 15_000;
    for (const [uid, n] of this.#nodes) if (n.seenAt < cutoff && uid !== this.id) this.#nodes.delete(uid);
  }

  async #answerSurvey(m: Record<string, unknown>): Promise<void> {
    let data: unknown;
    if (m['kind'] === 'channels') {
      const out: Record<string, number> = {};
      for (const [ch, st] of this.#channels) out[ch] = st.subs.size;
      data = out;
    }
    await this.broker.publishControl(JSON.stringify({ op: 'survey-reply', id: m['id'], to: m['from'], from: this.id, data }));
  }

  async #survey(kind: string, timeoutMs = 3_000): Promise<unknown[]> {
    await this.start();
    const id = newClientId();
    const waiting = new Set(this.#nodes.keys());
    waiting.add(this.id);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#surveys.delete(id);
        resolve(s.replies);
      }, timeoutMs);
      timer.unref();
      const s: Survey = { replies: [], waiting, done: resolve, timer };
      this.#surveys.set(id, s);
      this.broker.publishControl(JSON.stringify({ op: 'survey', kind, id, from: this.id })).catch(() => {
        clearTimeout(timer);
        this.#surveys.delete(id);
        resolve(s.replies);
      });
    });
  }

  /** Every live node (this one included), as the last announcements described them. */
  async info(): Promise<{ nodes: Omit<NodeInfo, 'seenAt'>[] }> {
    await this.start();
    this.#nodes.set(this.id, this.#localInfo());
    return { nodes: [...this.#nodes.values()].map(({ seenAt: _s, ...n }) => n) };
  }

  /** Active channels across all nodes with their subscriber counts; `pattern` is a glob (`*`, `?`). */
  async channels(pattern?: string): Promise<Map<string, number>> {
    const replies = await this.#survey('channels');
    const out = new Map<string, number>();
    const re = pattern ? globToRegExp(pattern) : undefined;
    for (const r of replies) {
      for (const [ch, n] of Object.entries((r ?? {}) as Record<string, number>)) {
        if (re && !re.test(ch)) continue;
        out.set(ch, (out.get(ch) ?? 0) + n);
      }
    }
    return out;
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

  // ───────────────────────────── timers ─────────────────────────────

  #keepaliveTick(): void {
    const now = Date.now();
    const interval = this.#pingInterval;
    const pongTimeout = this.#pongTimeout;
    const grace = this.options.expiredCloseDelayMs ?? DEFAULTS.expiredCloseDelayMs;
    for (const conn of this.#connections.values()) {
      if (conn.state === 'connecting') {
        if (now - conn.openedAt > this.limits.connectTimeoutMs) conn.close(Disconnects.stale);
        continue;
      }
      if (conn.state !== 'connected') continue;
      if (conn.expireAt > 0 && now > conn.expireAt + grace) {
        conn.close(Disconnects.expired);
        continue;
      }
      if (conn.awaitingPong && pongTimeout > 0 && now - conn.lastPingAt > pongTimeout) {
        conn.close(conn.session.keepalive === 'ws' ? Disconnects.connectionClosed : Disconnects.noPong);
        continue;
      }
      if (interval > 0 && now - conn.lastPingAt >= interval) {
        conn.lastPingAt = now;
        conn.awaitingPong = pongTimeout > 0;
        conn.session.sendPing();
      }
      for (const sub of conn.subscriptions.values()) {
        if (sub.expireAt > 0 && now > sub.expireAt + grace) {
          this.#removeSubscription(sub, true);
          if (sub.serverSide) conn.close(Disconnects.subExpired);
          else conn.session.pushUnsubscribed(sub.channel, Unsubscribes.expired.code, Unsubscribes.expired.reason);
        }
        if (sub.lagged && sub.active && conn.queuedBytes === 0) {
          sub.lagged = false;
          conn.session.pushLagged?.(sub);
        }
      }
    }
  }

  /** Re-add live presence entries so they outlive the store's TTL while the client stays. */
  async #refreshPresence(): Promise<void> {
    // in batches: a networked store (Redis) pipelines them instead of one round trip per entry
    let batch: Promise<void>[] = [];
    try {
      for (const conn of [...this.#connections.values()]) {
        for (const sub of conn.subscriptions.values()) {
          if (!sub.presence) continue;
          batch.push(this.presenceStore.add(sub.channel, conn.id, sub.info()));
          if (batch.length >= 256) {
            await Promise.all(batch);
            batch = [];
          }
        }
      }
      await Promise.all(batch);
    } catch (err) {
      this.logger.warn({ err }, 'presence refresh failed');
    }
  }

  async #onBrokerReconnect(): Promise<void> {
    // Publications may have been missed: subscribers of recoverable channels resync from history
    // (the session turns this into an unsubscribe 2500 / resubscribe), the others are told.
    // A positioned subscriber whose stream did not move past it (same epoch, same top) missed nothing.
    await Promise.all(
      [...this.#channels].map(async ([channel, state]) => {
        let pos: StreamPosition | undefined;
        if (historyOf(state.resolved.options) !== undefined) {
          try {
            pos = await this.historyStore.position(channel);
          } catch {
            pos = undefined; // cannot tell: resync
          }
        }
        for (const sub of state.subs) {
          if (pos !== undefined && sub.positioned && sub.epoch === pos.epoch && sub.offset >= pos.offset) continue;
          sub.lagged = true;
        }
      }),
    );
  }

  // ───────────────────────────── connection bookkeeping ─────────────────────────────

  connectionClosed(conn: Connection, code: number, reason: string): void {
    if (!this.#connections.delete(conn.id)) return;
    this.#countDisconnect(code);
    if (conn.user !== '') {
      const set = this.#users.get(conn.user);
      if (set) {
        set.delete(conn);
        if (set.size === 0) this.#users.delete(conn.user);
      }
    }
    for (const sub of [...conn.subscriptions.values()]) this.#removeSubscription(sub, false);
    this.logger.debug({ client: conn.id, user: conn.user, code, reason }, 'disconnect');
    if (conn.openedAt && conn.user !== undefined) this.#emit('disconnect', asClient(conn), { code, reason });
  }

  #countDisconnect(code: number): void {
    this.stats.disconnects.set(code, (this.stats.disconnects.get(code) ?? 0) + 1);
  }

  countError(code: number): void {
    this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
  }

  /** Counters of what this node holds, for metrics and leak checks. */
  counts(): { connections: number; users: number; channels: number; subscriptions: number; pendingUpgrades: number } {
    let subs = 0;
    for (const c of this.#connections.values()) subs += c.subscriptions.size;
    return { connections: this.#connections.size, users: this.#users.size, channels: this.#channels.size, subscriptions: subs, pendingUpgrades: this.#pendingUpgrades.size };
  }

  /** Local connections (admin, metrics). */
  connections(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  getConnection(id: string): Connection | undefined {
    return this.#connections.get(id);
  }

  /**
   * Graceful shutdown: refuse new upgrades, tell every client to reconnect (3001 shutdown, which
   * every protocol's client treats as "come back"), wait for them to go (up to the timeout), then
   * stop timers and the broker.
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#shuttingDown = true;
    const timeoutMs = options.timeoutMs ?? DEFAULTS.shutdownTimeoutMs;
    for (const conn of [...this.#connections.values()]) conn.close(Disconnects.shutdown);
    const deadline = Date.now() + timeoutMs;
    while (this.#connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of [...this.#connections.values()]) {
      conn.transport.terminate();
      conn.transportClosed(Disconnects.shutdown.code, 'shutdown');
    }
    for (const s of this.#pendingUpgrades) s.destroy();
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const s of this.#surveys.values()) clearTimeout(s.timer);
    this.#surveys.clear();
    // Presence removals and leave events are in flight: let them land before the stores close.
    await new Promise((r) => setImmediate(r));
    this.#wss.close();
    if (this.#started) await this.#started.catch(() => {});
    await this.broker.close().catch(() => {});
    await this.historyStore.close().catch(() => {});
    await this.presenceStore.close().catch(() => {});
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }
}

function asClient(conn: Connection): Client {
  return conn as unknown as Client;
}

function isJsonText(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function isEvent(data: unknown): data is { event: string; payload?: unknown } {
  return typeof data === 'object' && data !== null && !Array.isArray(data) && typeof (data as { event?: unknown }).event === 'string';
}

function bearer(h: string | undefined): string | null {
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m ? m[1]!.trim() : null;
}

function claimsToCredentials(c: ConnectionClaims): Credentials {
  return {
    user: c.user,
    ...(c.info !== undefined ? { info: c.info } : {}),
    ...(c.meta !== undefined ? { meta: c.meta } : {}),
    ...(c.expireAt ? { expireAt: c.expireAt } : {}),
    claims: c.payload,
    channels: [...c.channels, ...Object.keys(c.subs).filter((ch) => !c.channels.includes(ch))],
  };
}

/** Maps any decline code to an HTTP status for protocols that refuse at the upgrade. */
export function httpStatusOf(code: number): number {
  if (code >= 400 && code < 600) return code;
  if (code === Errors.unauthorized.code || code === Errors.tokenExpired.code || code === Disconnects.invalidToken.code || code === Disconnects.badRequest.code) return 401;
  if (code === Disconnects.connectionLimit.code) return 429;
  return 403;
}

function httpReason(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** Create a Switchboard node. Protocols are registered by `createSwitchboard` in index.ts. */
export type { ProtocolName };
