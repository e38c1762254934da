import type { AckStore } from './acks.js';
import type { TokenOptions } from './auth.js';
import type { Broker } from './broker.js';
import type { ChannelOptions } from './channels.js';
import type { ContractOptions } from './contract.js';
import type { Client, ConnectingContext } from './context.js';
import type { HistoryStore } from './history.js';
import type { Logger } from './logger.js';
import type { PresenceStore } from './presence.js';
import type { ClusterOptions, UserStatusOptions } from './cluster/lifecycle.js';
import type { StateStore } from './cluster/state.js';
import type { ProtocolName } from './protocol.js';
import type { Publication } from './types.js';
import type { TransportName } from './http-endpoints.js';

export const VERSION = '0.1.0';

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
  refreshRetryMs: 60_000,
  presenceRefreshMs: 20_000,
  shutdownTimeoutMs: 10_000,
  historyMaxLimit: 300,
  recoveryMaxPublications: 300,
  maxConnectionsPerUser: 0,
  maxConnectsPerSecond: 0,
  commandRateLimit: 0,
  maxPendingCommands: 256,
  pendingStallMs: 10_000,
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
   * New connections (WebSocket upgrades) per second on this node, bursts up to the rate (0:
   * unlimited). Past it an upgrade gets HTTP 503 "connect rate limit" with `Retry-After: 1` before
   * any authentication work. Set it near what one node absorbs (bench: `--scenario storm`, JWT
   * connects per CPU-second) so a reconnect storm is spread by the clients' backoff, not queued.
   */
  maxConnectsPerSecond?: number;
  /**
   * Commands per second per connection, every protocol (0: unlimited). Bursts up to the rate pass;
   * past it a command gets error 111 (its handler does not run); a client that keeps sending at
   * more than twice the rate is disconnected with 3013. See command-limit.ts.
   */
  commandRateLimit?: number;
  /**
   * Inbound backpressure: commands of one connection received and not finished yet. Past it the
   * node stops reading the connection (the client's writes back up) until they drain to half.
   */
  maxPendingCommands?: number;
  /**
   * A connection kept paused by `maxPendingCommands` for longer than this (ms) is disconnected
   * with 3013 "too many requests" (the client may reconnect, with its backoff).
   */
  pendingStallMs?: number;
}

export interface SwitchboardOptions extends ContractOptions {
  broker?: Broker;
  history?: HistoryStore;
  presence?: PresenceStore;
  /** Cluster state (node leases, online users, occupied channels, revocations, last seen): the engine's, memory by default. */
  state?: StateStore;
  /**
   * Acknowledged delivery: what each consumer has not acknowledged (acks.ts). The engine's (Redis:
   * shared by every node, so a client reconnecting elsewhere gets its pending publications), memory by default.
   */
  acks?: AckStore;
  /** Node lease and revocation reload timings (cluster/lifecycle.ts). */
  cluster?: ClusterOptions;
  /** Track users online/offline and last seen across the cluster (`userStatus()`, API `user_status`, `$status:<user>` channels). */
  userStatus?: UserStatusOptions;
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
  /**
   * After a failed server-side refresh (`onRefresh` / `onSubRefresh` throwing, e.g. a refresh proxy
   * that timed out) the connection or subscription lives this much longer, then it is asked again.
   * Default 60 s, Centrifugo's fixed value; shorter only to exercise the rule in tests.
   */
  refreshRetryMs?: number;
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
  /** Default: Centrifugo's path of the transport (`/connection/websocket`, `/connection/http_stream`, `/emulation`, ...). */
  path?: string;
  protocol?: ProtocolName;
  /**
   * The transport served here (default `websocket`): `http_stream`, `sse` and `emulation` (the
   * official SDK's fallbacks; serve all three), `uni_websocket`, `uni_sse`, `uni_http_stream`
   * (push-only, Centrifugo's unidirectional framing). All but `websocket` serve the native protocol.
   */
  transport?: TransportName;
  /** A connection handler for this endpoint only (else the switchboard's). */
  onConnecting?: (ctx: ConnectingContext) => unknown;
}

export interface UserSelector {
  user?: string;
  client?: string;
}


/** The limits a node runs with: the defaults, overridden by what the options set (only the `Limits` keys are kept). */
export function resolveLimits(limits: Limits | undefined): Required<Limits> {
  const l = { ...DEFAULTS, ...limits };
  return {
    maxMessageSize: l.maxMessageSize,
    maxConnections: l.maxConnections,
    maxChannelsPerConnection: l.maxChannelsPerConnection,
    maxQueueBytes: l.maxQueueBytes,
    handshakeTimeoutMs: l.handshakeTimeoutMs,
    connectTimeoutMs: l.connectTimeoutMs,
    maxConnectionsPerUser: l.maxConnectionsPerUser,
    maxConnectsPerSecond: l.maxConnectsPerSecond,
    commandRateLimit: l.commandRateLimit,
    maxPendingCommands: l.maxPendingCommands,
    pendingStallMs: l.pendingStallMs,
  };
}
