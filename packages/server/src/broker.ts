import type { HistoryStore } from './history.js';
import type { IdempotentPublish, VersionedPublish } from './idempotency.js';
import type { ClientInfo, HistoryOptions, Publication, StreamPosition } from './types.js';

/** What a broker hands to the node it serves. Called synchronously, in delivery order. */
export interface BrokerEventHandler {
  /** A publication for a channel this node subscribed to. */
  onPublication(channel: string, pub: Publication): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
  /** A control message from any node (this one included): cross-node operations, node announcements. */
  onControl(message: string): void;
  /**
   * A publication on a channel that may match one of this node's pattern subscriptions
   * (`subscribePattern`). Called besides `onPublication`, not instead of it.
   */
  onPatternPublication?(channel: string, pub: Publication): void;
  /**
   * The broker lost messages it cannot account for (e.g. Redis went away and came back).
   * The node then checks the stream position of every local channel and makes subscribers
   * recover or tells them they cannot.
   */
  onReconnect?(): void;
}

/**
 * Moves publications, join/leave events and control messages between nodes.
 *
 * Contract (checked by the broker conformance suite in `@switchboard/server/testing`):
 * - `subscribe(ch)` resolves only once publications to `ch` from any node will reach this node.
 *   Subscribing twice is harmless; `unsubscribe` stops delivery (eventually).
 * - `publish(ch, pub, { history })` with history options appends `pub` to the history store and
 *   assigns the next offset of the channel's current epoch; offsets are gapless within an epoch.
 *   Publications of one channel reach every subscribed node in offset order, whichever node
 *   published them. The returned position is the publication's own.
 * - Without history options nothing is stored and the publication carries no offset; order per
 *   channel is kept for publications made from one node.
 * - Delivery is at most once per subscribed node. A node that misses publications (a broker
 *   outage) is told through `onReconnect`, and recovers from history where there is one.
 * - Join and leave events travel with the channel's publications, in order with those of the same node.
 * - `delivery` travels with a publication to every node but is never stored in history.
 * - A failed publish (backend unreachable) rejects: it is never dropped silently.
 * - Control messages reach every node, the sender included.
 */
export interface Broker {
  start(handler: BrokerEventHandler): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /**
   * `idempotent` (only passed to a broker whose `idempotentPublish` is true): a publication whose key
   * was already published on the channel within `ttlMs`, by any node, is not published again; the
   * call resolves with the first one's position (undefined without history) and calls `duplicate`.
   */
  publish(
    channel: string,
    pub: Publication,
    options?: { history?: HistoryOptions; idempotent?: IdempotentPublish; version?: VersionedPublish },
  ): Promise<StreamPosition | undefined>;
  /** This broker deduplicates idempotent publications across nodes (else the node does, for retries reaching it). */
  readonly idempotentPublish?: boolean;
  /**
   * This broker checks publish versions (`version`, only passed with `history` and only to a broker
   * where this is true) across nodes, atomically with the append: a stale publication is neither
   * appended nor delivered; the call resolves with the stream's top and calls `stale`. Else the
   * node checks them, for publications reaching it.
   */
  readonly versionedPublish?: boolean;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  publishControl(message: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional synchronous fast path (an in-process broker): publish and dispatch now, returning the
   * position as `publish` would, or `false` when this publication needs the asynchronous path
   * (the caller then calls `publish`). Same contract as `publish` otherwise.
   */
  publishSync?(channel: string, pub: Publication, history?: HistoryOptions): StreamPosition | undefined | false;
  /**
   * Optional (issue 21): from when it resolves, publications from any node to any channel starting
   * with `prefix` reach this node through `onPatternPublication`. A broker without it refuses
   * pattern subscriptions (108 not available).
   */
  subscribePattern?(prefix: string): Promise<void>;
  unsubscribePattern?(prefix: string): Promise<void>;
  /** The history store this broker appends to, when it brings its own (the node uses it unless given one). */
  readonly history?: HistoryStore;
}
