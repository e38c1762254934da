import type { ConnectionClaims } from './auth.js';
import type { ConnectionRequest } from './connection.js';
import type { ProtocolName } from './protocol.js';

/** The public face of a connection, as app code sees it. */
export interface Client {
  readonly id: string;
  readonly user: string;
  readonly protocol: ProtocolName;
  /** Per-connection data: set by connect handlers, middleware and app code. */
  readonly assigns: Record<string, unknown>;
  /** Server-side only data from the token's `meta` claim or the connect handler. */
  readonly meta: unknown;
  readonly request: ConnectionRequest;
  /** The name of the transport under the connection (`websocket`, ...). */
  readonly transportName: string;
  /**
   * Headers the client sent inside its connect command (Centrifugo's headers emulation: browsers
   * cannot set WebSocket headers). Client-controlled: never trust them without checking.
   */
  readonly emulatedHeaders: Readonly<Record<string, string>> | undefined;
  /** Channels this connection is subscribed to. */
  channels(): string[];
  isSubscribed(channel: string): boolean;
  /** An async message to this connection only. */
  send(data: unknown): void;
  disconnect(code?: number, reason?: string): void;
}

/** Who a connection is, as decided at connect. */
export interface Credentials {
  user: string;
  /** Connection info shown to others (presence, publications), any JSON value. */
  info?: unknown;
  /** Server-side only. */
  meta?: unknown;
  /** Token claims the grants read (`caps`, the claims `subscribeByClaim` names); set from the token. */
  claims?: Readonly<Record<string, unknown>>;
  assigns?: Record<string, unknown>;
  /** Unix seconds when the connection must be refreshed; 0/undefined: never. */
  expireAt?: number;
  /** Server-side subscriptions to make at connect. */
  channels?: string[];
  /** Data returned to the client in the connect reply. */
  data?: unknown;
  /** Server-side subscriptions with their own channel info, reply data and option overrides (Centrifugo's `subs`). */
  subs?: Record<string, SubscriptionGrant>;
}

/**
 * Per-subscription option overrides (Centrifugo's `override`): undefined keeps the namespace's
 * value. Recovery and positioning only take effect on channels that keep history.
 */
export interface SubscribeOverride {
  presence?: boolean;
  joinLeave?: boolean;
  forcePushJoinLeave?: boolean;
  forceRecovery?: boolean;
  forcePositioning?: boolean;
}

/** What a subscription was granted beyond yes. */
export interface SubscriptionGrant {
  /** Channel info (presence, join/leave, publications), JSON text. */
  info?: string;
  /** Data for the client in the subscribe reply, JSON text. */
  data?: string;
  override?: SubscribeOverride;
}

export type Decision =
  | { kind: 'accept'; credentials: Partial<Credentials> }
  /** `error`: `code` is a reply error code to answer with as it is (not an HTTP status); `temporary` goes with it. */
  | { kind: 'decline'; code: number; message: string; error?: { temporary: boolean } };

export interface ConnectingContext {
  readonly protocol: ProtocolName;
  readonly request: ConnectionRequest;
  /** The token the client presented: connect command (native protocol) or `token` query parameter. */
  readonly token: string | undefined;
  /** Custom connect data (native protocol). */
  readonly data: unknown;
  /** Claims of `token` when it verified against the configured keys. */
  readonly claims: ConnectionClaims | undefined;
  /** Why `token` did not verify, when it did not. */
  readonly tokenError: 'invalid' | 'expired' | undefined;
  /** The id the connection will have (Centrifugo's `client`). */
  readonly clientId: string;
  /** The transport (`websocket`, ...). */
  readonly transport: string;
  /** Client name and version from the connect command (native protocol), '' otherwise. */
  readonly name: string;
  readonly version: string;
  /** Headers sent inside the connect command (headers emulation); client-controlled. */
  readonly emulatedHeaders: Readonly<Record<string, string>> | undefined;
  /** Accept, with the identity to give the connection (defaults: the token's claims). */
  accept(credentials?: Partial<Credentials>): void;
  /**
   * Refuse. `code`: an HTTP status (4xx, before the WebSocket upgrade where the protocol allows),
   * a reply error code (100..399, 600..1999) or a disconnect code (3000..4999); each protocol maps it
   * (codes below 600 are HTTP statuses: the native protocol answers them with error 101 unauthorized).
   */
  decline(code: number, message?: string): void;
  /**
   * Refuse with a reply error code as it is (100..1999, e.g. a connect proxy's `error`), whatever
   * its number: the native protocol answers it with `temporary` (a temporary error makes the SDK
   * reconnect with backoff); protocols that refuse at the upgrade map it to an HTTP status.
   */
  fail(code: number, message: string, temporary?: boolean): void;
}

export interface SubscribeContext {
  readonly client: Client;
  readonly channel: string;
  /** Route params (`/chat/:roomId` → { roomId }). */
  readonly params: Readonly<Record<string, string>>;
  /** Join params / subscribe data sent by the client. */
  readonly data: unknown;
  /** Whether the namespace's own rules would allow this subscribe. */
  readonly allowedByNamespace: boolean;
  /**
   * Allow. `info`/`data` are JSON values (or JSON text with `raw`); `expireAt` (Unix seconds)
   * makes the subscription expire unless refreshed; `override` changes the namespace's presence,
   * join/leave, recovery and positioning for this subscription; `serverRefresh`: the server
   * refreshes it through `onSubRefresh` at expiry instead of asking the client.
   */
  accept(options?: { info?: unknown; data?: unknown; raw?: boolean; expireAt?: number; override?: SubscribeOverride; serverRefresh?: boolean }): this;
  decline(code?: number, message?: string): this;
  /** Set a connection assign. */
  assign(key: string, value: unknown): this;
  /** Track the subscriber in presence with this data (channel info). */
  track(data?: Record<string, unknown>): this;
  /** Send an event to the joiner alone, after the join is acknowledged. */
  reply(event: string, payload?: unknown): this;
}

export interface EventContext {
  readonly client: Client;
  readonly channel: string;
  readonly params: Readonly<Record<string, string>>;
  readonly event: string;
  readonly payload: unknown;
  /** Every subscriber, the sender included. */
  broadcast(event: string, payload?: unknown): Promise<void>;
  /** Every subscriber but the sender. */
  broadcastFrom(event: string, payload?: unknown): Promise<void>;
  /** Only the connections of these users. */
  broadcastTo(users: readonly string[], event: string, payload?: unknown): Promise<void>;
  /** The sender alone. */
  reply(event: string, payload?: unknown): void;
  /** Update the sender's presence data in this channel. */
  updatePresence(data: Record<string, unknown>): Promise<void>;
  /** Remove a user's connections from this channel. */
  evict(user: string, reason?: string): Promise<void>;
}

export interface PublishContext {
  readonly client: Client;
  readonly channel: string;
  readonly data: unknown;
  readonly allowedByNamespace: boolean;
  /** Publish this instead of the client's data (a JSON value, or JSON text with `raw`). */
  replaceData(data: unknown, options?: { raw?: boolean }): void;
  /** Do not keep this publication in the channel's history. */
  skipHistory(): void;
}

/** A connection whose credentials expire, refreshed by the server (`Switchboard.onRefresh`). */
export interface RefreshContext {
  readonly client: Client;
}

/** What a server-side refresh decided: end the connection, or extend it (Unix seconds), maybe with new info/meta. */
export interface RefreshResult {
  expired?: boolean;
  expireAt?: number;
  /** New connection info, JSON text. */
  info?: string;
  meta?: unknown;
}

/** A subscription whose grant expires, refreshed by the server (`Switchboard.onSubRefresh`). */
export interface SubRefreshContext {
  readonly client: Client;
  readonly channel: string;
}

export interface SubRefreshResult {
  expired?: boolean;
  expireAt?: number;
  /** New channel info, JSON text. */
  info?: string;
}

export interface RpcContext {
  readonly client: Client;
  readonly method: string;
  readonly data: unknown;
}

export type CommandKind = 'connect' | 'subscribe' | 'unsubscribe' | 'publish' | 'event' | 'rpc' | 'message' | 'presence' | 'history' | 'refresh';

/** What middleware sees of every inbound command, whatever the protocol. */
export interface CommandContext {
  readonly kind: CommandKind;
  readonly protocol: ProtocolName;
  /** Undefined only for `connect` before the connection is accepted. */
  readonly client: Client | undefined;
  readonly channel?: string;
  readonly method?: string;
  readonly event?: string;
  readonly data?: unknown;
  /** Free slot for middleware to pass values along. */
  readonly state: Record<string, unknown>;
}

export type Middleware = (ctx: CommandContext, next: () => Promise<void>) => Promise<void> | void;

/** What route middleware sees: a join (`subscribe`) or a client event on one of the route's channels. */
export interface RouteContext extends CommandContext {
  readonly kind: 'subscribe' | 'event';
  readonly client: Client;
  readonly channel: string;
  /** Route params (`/chat/:roomId` → { roomId }). */
  readonly params: Readonly<Record<string, string>>;
  /** The event's name (`event` only). */
  readonly event?: string;
  /** Join params (`subscribe`) or the event's payload (`event`). */
  readonly data: unknown;
}

/** Middleware around a route's joins and events; any `Middleware` works here too. */
export type RouteMiddleware = (ctx: RouteContext, next: () => Promise<void>) => Promise<void> | void;
