import type { IncomingMessage } from 'node:http';
import type { Connection, Subscription } from './connection.js';
import type { ClientInfo, Publication } from './types.js';

export type ProtocolName = 'centrifuge' | 'pond' | 'plain';

/** Per-connection protocol state: turns frames into core operations and core events into frames. */
export interface Session {
  /** One WebSocket message from the client (already size-checked by the transport). */
  handleMessage(data: Buffer, isBinary: boolean): void;
  /**
   * The connection was accepted before the first frame (protocols that authenticate at upgrade).
   * `subs`: its server-side subscriptions, still inactive: the session announces and activates them.
   */
  start?(subs: ReadonlyMap<string, { sub: Subscription; outcome: SubscribeOutcome }>): void;
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
  pushLagged?(sub: Subscription): void;
  /** Liveness: 'app' protocols send their own ping message and expect a pong message. */
  readonly keepalive: 'app' | 'ws';
  sendPing(): void;
  /** The connection is closing: last chance to tell the client (before the close frame). */
  onClose?(code: number, reason: string): void;
}

/**
 * A wire protocol: a singleton per protocol holding the encoders shared by every connection
 * (a publication is encoded once per protocol, whoever receives it) and the session factory.
 */
export interface Protocol {
  readonly name: ProtocolName;
  /** Small integer, unique per protocol: the slot in per-publication encode caches. */
  readonly slot: number;
  /** Several queued messages may be joined with '\n' into one WebSocket message. */
  readonly newlineBatching: boolean;
  encodePublication(channel: string, pub: Publication): Buffer;
  /** The same publication as seen by the client whose command caused it (e.g. carries its request id). */
  encodeEcho?(channel: string, pub: Publication): Buffer;
  /** A publication to '*': every connection receives it, subscribed or not. Undefined: not delivered. */
  encodeBroadcast(pub: Publication): Buffer | undefined;
  encodeJoin(channel: string, info: ClientInfo): Buffer | undefined;
  encodeLeave(channel: string, info: ClientInfo): Buffer | undefined;
  createSession(conn: Connection, request: IncomingMessage): Session;
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
}
