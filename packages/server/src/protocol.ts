import type { DisconnectValue } from './codes.js';
import type { ConnectingContext, Credentials, Decision } from './context.js';
import type { HistoryReadOptions } from './history.js';
import type { IncomingMessage } from 'node:http';
import type { Logger } from './logger.js';
import type { PresenceStats } from './presence.js';
import type { SessionRouter } from './session-router.js';
import type { Subscription } from './subscription.js';
import type { ConnectionRequest, Transport } from './transport.js';
import type { ClientInfo, Publication, StreamPosition, TrafficCounters } from './types.js';

export type ProtocolName = 'centrifuge' | 'pond' | 'plain' | 'pusher' | 'phoenix';

/** An encoding of a protocol with its own encode-cache slot: each protocol, plus Centrifugo's Protobuf. */
export type ProtocolSlotName = ProtocolName | 'centrifuge-protobuf';

/**
 * Each protocol's (and encoding's) slot in the per-publication encode caches, in one table so two
 * can never share one (a shared slot would hand one encoding's bytes to the other's clients).
 */
export const PROTOCOL_SLOTS: Readonly<Record<ProtocolSlotName, number>> = { centrifuge: 0, pond: 1, plain: 2, pusher: 3, phoenix: 4, 'centrifuge-protobuf': 5 };
/** How many slots an encode cache has. */
export const PROTOCOL_SLOT_COUNT = 6;

/** Per-connection protocol state: turns frames into core operations and core events into frames. */
export interface Session {
  /** One client message from the transport (already size-checked). */
  handleMessage(data: Buffer, isBinary: boolean): void;
  /**
   * The connection was accepted before the first frame (protocols that authenticate at upgrade).
   * `subs`: its server-side subscriptions, still inactive: the session announces and commits them.
   */
  start?(subs: ReadonlyMap<string, PendingSubscribe>): void;
  /** A server-side subscription was added at runtime. */
  pushSubscribed(channel: string, result: SubscribeOutcome): void;
  /** The server removed a subscription. */
  pushUnsubscribed(channel: string, code: number, reason: string): void;
  /** An async message to this connection only (`Client.Send`, app `conn.send`). */
  pushMessage(data: string): void;
  /** Presence changed in a channel (pond needs the list; others ignore it). */
  presenceChanged?(channel: string, event: 'join' | 'leave' | 'update', info: ClientInfo): void;
  /** An event for this client alone on a channel (a route handler's `reply`). */
  pushReply?(channel: string, event: string, payload: unknown, requestId: string | undefined): void;
  /** Publications of this subscription were dropped (slow-consumer policy, broker outage): tell the client to resync. */
  pushLagged(sub: Subscription): void;
  /** Liveness: 'app' protocols send their own ping message and expect a pong message; 'transport' ones use the transport's. */
  readonly keepalive: 'app' | 'transport';
  sendPing(): void;
  /** How an 'app' keepalive session is closed when its pong does not come (default 3012 no pong; Pusher: 4201). */
  readonly noPongClose?: DisconnectValue;
  /**
   * This session's own keepalive timings (ms) in place of the node's `pingIntervalMs` and
   * `pongTimeoutMs` (Pusher: the app's `activity_timeout` and pong timeout). Checked on the node's
   * keepalive tick (at most 1 s apart), so they are kept to within a tick.
   */
  readonly keepaliveMs?: { readonly pingInterval: number; readonly pongTimeout: number };
  /** The connection is closing: last chance to tell the client (before the close frame). */
  onClose?(code: number, reason: string): void;
  /**
   * The connection is gone, however it ended (the server closed it, or the client went away, where
   * `onClose` is not called): release what the session holds outside the connection.
   */
  closed?(): void;
}

/**
 * What a session sees of its connection: identity, its subscriptions, the outbound queue for
 * replies and the close. Implemented by `Connection`; a session never touches the transport's
 * sockets or requests beyond this.
 */
export interface SessionConnection {
  readonly id: string;
  readonly user: string;
  readonly request: ConnectionRequest;
  readonly state: 'connecting' | 'connected' | 'closed';
  readonly subscriptions: ReadonlyMap<string, Subscription>;
  readonly transport: Transport;
  /** Client name/version from connect (observability only). */
  clientName: string;
  clientVersion: string;
  /** Set false when the client answers a ping. */
  awaitingPong: boolean;
  /**
   * When the keepalive last pinged (ms since the epoch): the next ping is due a ping interval later.
   * A session whose protocol pings after a silence (Pusher) moves it on every client frame.
   */
  lastPingAt: number;
  /** More counters the connection's traffic adds to (messages and bytes, both ways), set by the session: per-app metrics. */
  traffic: TrafficCounters | undefined;
  /** Queue a reply, error or push that no slow-consumer policy may drop. */
  enqueueControl(message: Buffer): void;
  close(d: DisconnectValue): void;
  /** Inbound backpressure: a command was queued / finished (see `Connection.commandQueued`). */
  commandQueued(): void;
  commandDone(): void;
  clientInfo(chanInfo?: string): ClientInfo;
  /** Headers sent inside the connect command (headers emulation), kept for backend proxies. */
  emulatedHeaders?: Readonly<Record<string, string>> | undefined;
}

/** What a session knows of a connecting client. */
export interface AuthenticateInput {
  protocol: ProtocolName;
  request: ConnectionRequest;
  token: string | undefined;
  data: unknown;
  /** The connection's id, when it exists already (native protocol). */
  clientId?: string;
  /** Client name and version from the connect command. */
  name?: string;
  version?: string;
  /** Headers sent inside the connect command (headers emulation). */
  headers?: Readonly<Record<string, string>>;
}

/** A client subscribe, as a session hands it to the core. */
export interface SubscribeRequest {
  channel: string;
  token?: string | undefined;
  data?: unknown;
  recover?: boolean | undefined;
  offset?: number | undefined;
  epoch?: string | undefined;
  positioned?: boolean | undefined;
  recoverable?: boolean | undefined;
  joinLeave?: boolean | undefined;
  /** Delta compression type asked for (`'fossil'`); the namespace must allow it. */
  delta?: string | undefined;
  /** A publication tags filter as the client sent it (Centrifugo's `tf`, validated by the core). */
  tagsFilter?: unknown;
  /** The client can take pushes with a numeric channel id instead of the name (channel compaction). */
  compaction?: boolean | undefined;
  /**
   * The protocol authorized this subscribe itself with a credential the core does not know (a
   * Pusher channel signature plays a subscription token's role): like a subscription token, it
   * alone decides, so namespace rules and subscribe handlers are skipped. `info`: the channel info
   * (JSON text); `presence`: track the subscriber in presence whatever the namespace says.
   */
  authorized?: { info?: string | undefined; presence?: boolean | undefined } | undefined;
}

/** What a subscribe produced, for the session to encode. */
export interface SubscribeOutcome {
  readonly recoverable: boolean;
  readonly positioned: boolean;
  readonly epoch?: string;
  readonly offset?: number;
  readonly wasRecovering: boolean;
  readonly recovered: boolean;
  readonly publications: readonly Publication[];
  /** Subscribe data for the client, JSON text. */
  readonly data?: string;
  /** Seconds until the subscription token expires (refresh needed), when it does. */
  readonly ttl?: number;
  readonly joinLeave: boolean;
  /** Delta compression was negotiated: publications may come as deltas against the previous one. */
  readonly delta?: boolean;
  /** Channel compaction: the numeric id that pushes of this subscription carry instead of the channel. */
  readonly id?: number;
}

/**
 * A subscription made but not live yet: publications wait in its buffer. The session writes its
 * reply (from `outcome`, plus `replies` from a join handler), then calls `commit()`, which delivers
 * what arrived meanwhile, makes it live and emits the app's `subscribe` event, in that order.
 */
export interface PendingSubscribe {
  readonly sub: Subscription;
  readonly outcome: SubscribeOutcome;
  /** Events a join handler asked to send to the joiner alone, after the reply. */
  readonly replies: readonly { readonly event: string; readonly payload: unknown }[];
  commit(): void;
}

/**
 * What a request-based transport endpoint that lives beside a protocol (Phoenix LongPoll,
 * `protocols/phoenix/longpoll.ts`) may ask of its node: its id (written into session tokens),
 * the message size limit, the session router (requests that reach another node) and the upgrade
 * checks plus authentication for a request. `Switchboard` implements it; protocol files depend on
 * this, never on the node class (`test/layering.test.ts`).
 */
export interface RequestTransportHost {
  readonly id: string;
  readonly limits: { readonly maxMessageSize: number };
  readonly router: Pick<SessionRouter, 'register' | 'deliver'>;
  /** Run the upgrade checks and authentication for `req`; on success open a connection over the transport `make` builds. */
  connectRequest(
    req: IncomingMessage,
    opts: { protocol: ProtocolName; token: string | undefined; onConnecting?: (ctx: ConnectingContext) => unknown },
    make: (request: ConnectionRequest) => Transport,
  ): Promise<{ conn: unknown } | { status: number; message: string }>;
}

/**
 * Everything a protocol session may ask of the node. Sessions depend on this interface only, never
 * on the node class; the core implements it (`Switchboard.sessionHost`). Every method that takes
 * a command from the client runs the command rate limit, middleware and permission checks; a
 * refusal is a thrown `ReplyError` (answer it) or `DisconnectError` (close with it).
 */
export interface SessionHost {
  readonly logger: Logger;
  /** Seconds between server pings the client should expect (0: none), for connect replies. */
  readonly pingIntervalMs: number;
  /** Whether the app listens to async client messages (native `send`). */
  readonly hasMessageHandler: boolean;
  /** Expiring connections are refreshed by the server (`onRefresh`): clients are not told to refresh. */
  readonly serverRefresh?: boolean;
  /** An unexpected failure: logged and emitted as the app's 'error' event. */
  reportError(err: unknown, conn?: SessionConnection): void;
  /** Count a coded error answered to a client (metrics). */
  countError(code: number): void;
  /** Token + connecting handler. Never throws for bad credentials: the decision says how to refuse. */
  authenticate(input: AuthenticateInput): Promise<Decision>;
  /** Make an authenticated connection live; returns its server-side subscriptions, not yet committed. */
  register(
    conn: SessionConnection,
    creds: Credentials,
    recover?: Readonly<Record<string, { recover?: boolean; offset?: number; epoch?: string }>>,
  ): Promise<ReadonlyMap<string, PendingSubscribe>>;
  subscribe(conn: SessionConnection, req: SubscribeRequest): Promise<PendingSubscribe>;
  unsubscribe(conn: SessionConnection, channel: string): Promise<void>;
  /** Remove a subscription without asking the client (the session tells it how it sees fit). */
  dropSubscription(sub: Subscription): void;
  publish(conn: SessionConnection, channel: string, data: unknown, requestId?: string): Promise<StreamPosition | undefined>;
  /** A named event on a channel; resolves to whether the sender was sent something (echo or reply). */
  event(conn: SessionConnection, channel: string, event: string, payload: unknown, requestId?: string): Promise<boolean>;
  presence(conn: SessionConnection, channel: string): Promise<Map<string, ClientInfo>>;
  presenceStats(conn: SessionConnection, channel: string): Promise<PresenceStats>;
  history(conn: SessionConnection, channel: string, opts: HistoryReadOptions): Promise<{ publications: Publication[]; position: StreamPosition }>;
  rpc(conn: SessionConnection, method: string, data: unknown): Promise<unknown>;
  message(conn: SessionConnection, data: unknown): Promise<void>;
  refreshConnection(conn: SessionConnection, token: string): Promise<{ expires: boolean; ttl: number }>;
  refreshSubscription(conn: SessionConnection, channel: string, token: string): Promise<{ expires: boolean; ttl: number }>;
  /** The current presence list of a channel, without permission checks (protocols that push lists). */
  presenceList(channel: string): Promise<Map<string, ClientInfo>>;
}

/**
 * A wire protocol: a singleton per protocol holding the encoders shared by every connection
 * (a publication is encoded once per protocol, whoever receives it) and the session factory.
 */
export interface Protocol {
  readonly name: ProtocolName;
  /** Small integer, unique per protocol: the slot in per-publication encode caches. */
  readonly slot: number;
  /** Several queued messages may be joined with '\n' into one transport message. */
  readonly newlineBatching: boolean;
  encodePublication(channel: string, pub: Publication): Buffer;
  /** The same publication as seen by the client whose command caused it (e.g. carries its request id); undefined: not sent back to it. */
  encodeEcho?(channel: string, pub: Publication): Buffer | undefined;
  /** A publication to '*': every connection receives it, subscribed or not. Undefined: not delivered. */
  encodeBroadcast(pub: Publication): Buffer | undefined;
  /**
   * A publication for a subscriber that negotiated delta compression: `delta`, the fossil delta of
   * the publication's data against the previous publication's (the base this client holds), or
   * undefined to send it full. Undefined method: the protocol has no delta compression.
   * `deltaSafe(delta)` tells whether this encoding can carry those delta bytes (else: full).
   */
  encodeDelta?(channel: string, pub: Publication, delta: Uint8Array | undefined): Buffer;
  /**
   * Channel compaction: the same pushes addressed by a numeric channel id instead of the name
   * (`delta` as for `encodeDelta`, for subscriptions with both). Undefined: no compaction.
   */
  readonly compact?: {
    publication(id: number, pub: Publication): Buffer;
    delta(id: number, pub: Publication, delta: Uint8Array | undefined): Buffer;
    join(id: number, info: ClientInfo): Buffer;
    leave(id: number, info: ClientInfo): Buffer;
  };
  deltaSafe?(delta: Uint8Array): boolean;
  encodeJoin(channel: string, info: ClientInfo): Buffer | undefined;
  encodeLeave(channel: string, info: ClientInfo): Buffer | undefined;
  createSession(conn: SessionConnection, host: SessionHost): Session;
  /**
   * Protocols that authenticate at the upgrade and read the token their own way (default: query
   * `token`, else `Authorization: Bearer`): the token, or an HTTP status and message to refuse with.
   */
  upgradeToken?(req: IncomingMessage, query: URLSearchParams): { token: string | undefined } | { status: number; message: string };
  /** A WebSocket subprotocol to select when the client offers it. */
  readonly subprotocol?: string;
  /**
   * Messages are binary (Centrifugo's Protobuf): they go out in binary frames, and several queued
   * messages are joined into one transport message by plain concatenation (each carries its length).
   */
  readonly binary?: boolean;
  /**
   * The encoding of this protocol the client asked for at the upgrade (`offered`: the WebSocket
   * subprotocols it offered), when the protocol has more than one (Centrifugo: JSON or Protobuf).
   */
  variant?(offered: ReadonlySet<string>, query: URLSearchParams): Protocol;
  /**
   * The close this protocol's clients get for a core disconnect (Pusher: its own 4000–4299 codes,
   * since its clients read the core's 3000–3999 codes as "reconnect in 1 s"). Undefined: as is.
   * The core still records its own code (metrics, disconnect events).
   */
  closeFor?(d: DisconnectValue): DisconnectValue;
  /**
   * Protocols whose clients cannot read an HTTP refusal of the upgrade (Pusher): the node's own
   * refusals (shutting down, full, connect rate, origin, a declined connect) are told after the
   * upgrade instead, as this frame followed by a close with this code. `status`/`message`: the
   * HTTP refusal it replaces. Undefined: refused with the HTTP status.
   */
  refuseInBand?(status: number, message: string): { frame: string; code: number; reason: string };
}
