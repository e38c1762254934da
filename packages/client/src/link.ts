/**
 * What stands between a `Realtime` instance and the server. `DirectLink` holds a centrifuge
 * connection of its own; `SharedLink` (the `shareConnection` option) shares one connection among
 * every tab of an origin. The instance keeps the listeners, positions, de-duplication and resync
 * decisions; a link only moves subscriptions and publications.
 */
import type { Centrifuge, ClientInfo } from 'centrifuge';
import type { RealtimeEvents } from './realtime.js';
import type { RealtimeError } from './errors.js';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** Where this instance's connection is: its own, or shared by tabs (this tab holds it, or another does). */
export type ConnectionRole = 'own' | 'leader' | 'follower';

/** A position in a channel's stream. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** A publication as it travels from a link to the instance (and between tabs). */
export interface LinkPublication {
  channel: string;
  data: unknown;
  offset?: number;
  info?: ClientInfo;
  tags?: Record<string, string>;
}

export interface LinkSubscribed {
  channel: string;
  recovered: boolean;
  wasRecovering: boolean;
  /** The stream position, for channels with history. */
  position?: StreamPosition;
}

/** Instance-level events a link reports (connection, errors, server-side subscriptions' publications and resyncs). */
export type LinkEvents = Pick<RealtimeEvents, 'state' | 'connected' | 'disconnected' | 'error' | 'subscribed' | 'resync' | 'leader'> & {
  serverPublication: LinkPublication;
};

/** What a link calls back into. */
export interface LinkSink {
  event<K extends keyof LinkEvents>(name: K, value: LinkEvents[K]): void;
  publication(p: LinkPublication): void;
  subscribed(s: LinkSubscribed): void;
  /** A subscribe refusal, or the server ending a subscription (code in the error). */
  channelError(channel: string, err: RealtimeError): void;
  /** The last position this instance processed on `channel` (for recovery after a hand-over). */
  position(channel: string): StreamPosition | undefined;
  /** Whether `channel` has been subscribed here before (so a new subscription is a resubscription). */
  subscribedBefore(channel: string): boolean;
  /** Channels this instance has handlers for. */
  channels(): string[];
}

export interface Link {
  readonly role: ConnectionRole;
  /** The centrifuge client, where this tab holds the connection. */
  readonly centrifuge: Centrifuge | undefined;
  /** Subscribes `channel` (idempotent; tries again after the server refused it for good). */
  open(channel: string): void;
  close(channel: string): void;
  publish(channel: string, data: unknown): Promise<void>;
  rpc(method: string, data: unknown): Promise<unknown>;
  ready(timeoutMs?: number): Promise<void>;
  connect(): void;
  disconnect(): void;
  shutdown(): void;
}
