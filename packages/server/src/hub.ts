import type { ResolvedChannel } from './channels.js';
import { Disconnects, DisconnectError } from './codes.js';
import { clientOf, type Connection, type ConnectionOwner } from './connection.js';
import type { NodeContext } from './node-context.js';
import { DeltaEncodings } from './delta.js';
import { PROTOCOL_SLOT_COUNT, type ProtocolName } from './protocol.js';
import type { Route } from './route.js';
import { Outbound } from './outbound.js';
import { AckTracker, DEFAULT_ACK_TIMEOUT_MS } from './acks.js';
import { PATTERN_CHANNEL_TAG, PatternIndex, tagged, type PatternState } from './patterns.js';
import type { Subscription } from './subscription.js';
import type { ClientInfo, Publication, TrafficCounters } from './types.js';
import type { UserSelector } from './options.js';

/** A channel with subscribers on this node. */
export interface ChannelState {
  readonly subs: Set<Subscription<Connection>>;
  readonly resolved: ResolvedChannel<Route>;
  /** The broker subscription of this channel (made once, awaited by every subscribe). */
  brokerSubscribed: Promise<void> | undefined;
  /** The data of the last publication on this channel here: the base of the next fossil delta. */
  lastData?: string | undefined;
  /** Channel compaction: the channel's numeric id on this node, unique while it has subscribers here. */
  readonly id: number;
}

type Sub = Subscription<Connection>;

const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

/** What the cluster lifecycle hears from the Hub (cluster/lifecycle.ts). */
export interface HubLifecycle {
  connected(conn: Connection): void;
  disconnected(conn: Connection, code: number, reason: string): void;
  subscribed(sub: Sub): void;
  unsubscribed(sub: Sub): void;
}

/** The node's counters (metrics, leak checks). */
export interface NodeStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  publications: number;
  deliveries: number;
  disconnects: Map<number, number>;
  errors: Map<number, number>;
  /**
   * Connections closed with 3013 because reading stayed paused past `limits.pendingStallMs`
   * (inbound backpressure). The command rate limiter closes with the same code; it does not count here.
   */
  inboundStalls: number;
  /** Transport messages and bytes by protocol (out: one batched write counts as one message). */
  byProtocol: Record<ProtocolName, TrafficCounters>;
}

/**
 * The Hub owns this node's live state: connections, the user index, the channel index, and the
 * outbound scheduler. Fan-out happens here: a publication from the broker is encoded once per
 * protocol and queued on every active subscriber; join/leave and broadcasts to all likewise.
 * Nothing else adds to or removes from these indexes.
 */
export class Hub implements ConnectionOwner {
  readonly connections = new Map<string, Connection>();
  readonly users = new Map<string, Set<Connection>>();
  readonly channels = new Map<string, ChannelState>();
  /** Channel compaction ids, never reused within the process (2^53 channels away from a repeat). */
  #nextChannelId = 1;
  /** Pattern subscriptions by prefix (issue 21). */
  readonly patterns = new PatternIndex<Sub>();
  /** Acknowledged delivery: records deliveries in the engine's ack store, schedules redeliveries (issue 21). */
  readonly acks: AckTracker;
  readonly stats: NodeStats = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    publications: 0,
    deliveries: 0,
    disconnects: new Map(),
    errors: new Map(),
    inboundStalls: 0,
    byProtocol: {
      centrifuge: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      pond: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      plain: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      pusher: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
      phoenix: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
    },
  };
  readonly outbound: Outbound;
  readonly maxQueueBytes: number;
  readonly maxPendingCommands: number;
  readonly pendingStallMs: number;
  /** Metrics hook: once per publication fanned out on this node, ms from publish to the last enqueue. */
  onFanout: ((ms: number) => void) | undefined;
  /** Cluster lifecycle (user status, occupancy, webhooks): told of registrations, live subscriptions and their ends. */
  lifecycle: HubLifecycle | undefined;

  constructor(readonly ctx: NodeContext) {
    this.maxQueueBytes = ctx.limits.maxQueueBytes;
    this.maxPendingCommands = ctx.limits.maxPendingCommands;
    this.pendingStallMs = ctx.limits.pendingStallMs;
    this.outbound = new Outbound(this.stats, (err, conn) => this.reportError(err, conn));
    this.acks = new AckTracker({
      store: ctx.acks,
      history: ctx.history,
      subscribed: (channel, consumer) => this.#ackSubs(channel, consumer).length > 0,
      send: (channel, consumer, pubs) => this.#redeliver(channel, consumer, pubs),
      reportError: (err) => this.reportError(err),
    });
  }

  // ─────────────── connections and users ───────────────

  add(conn: Connection): void {
    this.connections.set(conn.id, conn);
  }

  /** Index an authenticated connection by user (per-user limit: 3504). */
  addUser(conn: Connection): void {
    if (conn.user === '') return;
    const max = this.ctx.limits.maxConnectionsPerUser;
    let set = this.users.get(conn.user);
    if (max > 0 && set && set.size >= max) throw new DisconnectError(Disconnects.connectionLimit);
    if (!set) this.users.set(conn.user, (set = new Set()));
    set.add(conn);
  }

  connectionClosed(conn: Connection, code: number, reason: string): void {
    if (!this.connections.delete(conn.id)) return;
    this.countDisconnect(code);
    if (conn.user !== '') {
      const set = this.users.get(conn.user);
      if (set) {
        set.delete(conn);
        if (set.size === 0) this.users.delete(conn.user);
      }
    }
    for (const sub of [...conn.subscriptions.values()]) this.removeSubscription(sub, false);
    this.lifecycle?.disconnected(conn, code, reason);
    this.ctx.logger.debug({ client: conn.id, user: conn.user, code, reason }, 'disconnect');
    if (conn.openedAt && conn.user !== undefined) this.ctx.events.emit('disconnect', clientOf(conn), { code, reason });
  }

  /** The local connections a selector names (a client id, a user, or every anonymous connection). */
  matching(sel: UserSelector): Connection[] {
    if (sel.client !== undefined) {
      const c = this.connections.get(sel.client);
      return c && (sel.user === undefined || c.user === sel.user) ? [c] : [];
    }
    if (sel.user === undefined) return [];
    if (sel.user === '') return [...this.connections.values()].filter((c) => c.user === '' && c.state === 'connected');
    return [...(this.users.get(sel.user) ?? [])];
  }

  countDisconnect(code: number): void {
    this.stats.disconnects.set(code, (this.stats.disconnects.get(code) ?? 0) + 1);
  }

  countError(code: number): void {
    this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
  }

  reportError(err: unknown, conn?: Connection): void {
    this.ctx.events.reportError(err, conn === undefined ? undefined : clientOf(conn));
  }

  subscriptionCount(): number {
    let subs = 0;
    for (const c of this.connections.values()) subs += c.subscriptions.size;
    return subs;
  }

  // ─────────────── outbound scheduling (ConnectionOwner) ───────────────

  scheduleFlush(conn: Connection): void {
    this.outbound.schedule(conn);
  }

  hold(conn: Connection): void {
    this.outbound.hold(conn);
  }

  release(conn: Connection): void {
    this.outbound.release(conn);
  }

  // ─────────────── channel index ───────────────

  /** Add an (inactive) subscription to the channel index; the returned state holds the broker subscription. */
  join(sub: Sub): ChannelState {
    let state = this.channels.get(sub.channel);
    if (!state) {
      state = { subs: new Set(), resolved: sub.resolved as ResolvedChannel<Route>, brokerSubscribed: undefined, id: this.#nextChannelId++ };
      this.channels.set(sub.channel, state);
    }
    state.subs.add(sub);
    sub.conn.subscriptions.set(sub.channel, sub);
    return state;
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subs.size ?? 0;
  }

  /** Add an (inactive) pattern subscription to the pattern index. */
  joinPattern(sub: Sub): PatternState<Sub> {
    sub.conn.subscriptions.set(sub.channel, sub);
    return this.patterns.add(sub.pattern!, sub);
  }

  /** Drop a subscription: index, presence, leave event, broker when the channel empties. */
  removeSubscription(sub: Sub, emit: boolean): void {
    const conn = sub.conn;
    const { broker, presence, logger } = this.ctx;
    if (sub.active) this.lifecycle?.unsubscribed(sub);
    if (conn.subscriptions.get(sub.channel) === sub) conn.subscriptions.delete(sub.channel);
    const emptied = sub.pattern === undefined ? undefined : this.patterns.remove(sub.pattern, sub);
    if (emptied !== undefined) {
      const prefix = emptied.prefix;
      (emptied.brokerSubscribed ?? Promise.resolve())
        .then(() => {
          if (this.patterns.get(prefix) === undefined) return broker.unsubscribePattern?.(prefix);
        })
        .catch((err: unknown) => this.reportError(err));
    }
    const state = sub.pattern === undefined ? this.channels.get(sub.channel) : undefined;
    if (state && state.subs.delete(sub) && state.subs.size === 0) {
      this.channels.delete(sub.channel);
      const pending = state.brokerSubscribed ?? Promise.resolve();
      pending
        .then(() => {
          // resubscribed meanwhile: keep the broker subscription
          if (!this.channels.has(sub.channel)) return broker.unsubscribe(sub.channel);
        })
        .catch((err: unknown) => this.reportError(err));
    }
    sub.buffer = undefined;
    sub.active = false;
    if (sub.presence) {
      const info = sub.info();
      presence
        .remove(sub.channel, conn.id)
        .then(() => broker.publishLeave(sub.channel, info))
        .catch((err: unknown) => this.reportError(err));
    }
    if (emit) {
      logger.debug({ client: conn.id, channel: sub.channel }, 'unsubscribe');
      this.ctx.events.emit('unsubscribe', clientOf(conn), sub.channel);
    }
  }

  /**
   * The reply has been written: deliver what arrived meanwhile (skipping what the reply's
   * recovered publications already covered) and go live.
   */
  activate(sub: Sub): void {
    if (sub.active || sub.conn.state === 'closed' || sub.conn.subscriptions.get(sub.channel) !== sub) return;
    const buffered = sub.buffer ?? [];
    sub.buffer = undefined;
    sub.active = true;
    this.lifecycle?.subscribed(sub);
    const cache: (Buffer | undefined)[] = [];
    for (const pub of buffered) {
      cache.length = 0; // one encoding per publication
      this.deliver(sub, pub, cache);
    }
  }

  // ─────────────── fan-out ───────────────

  /** A publication from the broker. */
  onPublication(channel: string, pub: Publication): void {
    if (channel === '*') return this.broadcastAll(pub);
    const state = this.channels.get(channel);
    if (state === undefined) return;
    this.stats.publications++;
    // One encoded message per protocol, shared by every recipient.
    const cache: (Buffer | undefined)[] = new Array<undefined>(PROTOCOL_SLOT_COUNT).fill(undefined);
    const deltas = new DeltaEncodings(state.lastData, pub);
    state.lastData = pub.data;
    for (const sub of state.subs) {
      if (sub.active) this.deliver(sub, pub, cache, deltas);
      else sub.buffer?.push(pub);
    }
    if (this.onFanout !== undefined && pub.time !== undefined) this.onFanout(Date.now() - pub.time);
  }

  /**
   * One publication to one subscriber: targeting, offset bookkeeping (skip what recovery already
   * delivered; hold back past a gap so the client resyncs), then the protocol's encoding, shared
   * through `cache` (indexed by protocol slot) by every recipient of the same publication.
   * Subscribers that negotiated delta compression get theirs through `deltas` (buffered
   * publications delivered after a subscribe, without it, go full).
   */
  deliver(sub: Sub, pub: Publication, cache: (Buffer | undefined)[], deltas?: DeltaEncodings): void {
    const conn = sub.conn;
    const d = pub.delivery;
    if (d !== undefined && !conn.wants(d)) return;
    if (sub.positions !== undefined && !sub.positions.advance(pub.tags?.[PATTERN_CHANNEL_TAG] ?? '', pub)) return; // a pattern: per-channel positions
    const off = pub.offset;
    if (off !== undefined && off > 0) {
      if (off <= sub.offset && pub.epoch === sub.epoch) return; // already delivered (recovery overlap)
      if (off > sub.offset + 1 && sub.positioned && pub.epoch === sub.epoch) {
        sub.lagged = true; // a gap this node cannot account for: hold back, the client resyncs from its last offset
        return;
      }
      sub.offset = off;
    }
    // After the offset bookkeeping: a filtered-out publication still moves the position (no false gap).
    if (sub.tagsFilter !== undefined && !sub.tagsFilter(pub.tags ?? NO_TAGS)) return;
    const p = conn.proto;
    let buf: Buffer | undefined;
    const compact = sub.compactId !== undefined ? p.compact : undefined;
    if (sub.delta && p.encodeDelta !== undefined) {
      buf = deltas !== undefined ? deltas.messageFor(sub, p) : compact !== undefined ? compact.delta(sub.compactId!, pub, undefined) : p.encodeDelta(sub.channel, pub, undefined);
      if (deltas === undefined) sub.deltaBase = pub.data;
    } else if (compact !== undefined) {
      // Compacted pushes are shared by every compacted subscriber (the id is the channel's on this node).
      const i = p.slot + PROTOCOL_SLOT_COUNT;
      buf = cache[i];
      if (buf === undefined) buf = cache[i] = compact.publication(sub.compactId!, pub);
    } else if (d !== undefined && d.originClient === conn.id && p.encodeEcho !== undefined) {
      buf = p.encodeEcho(sub.channel, pub);
      if (buf === undefined) return; // the protocol never echoes (Pusher client events)
    } else {
      buf = cache[p.slot];
      if (buf === undefined) buf = cache[p.slot] = p.encodePublication(sub.channel, pub);
    }
    conn.enqueue(buf, sub);
    this.stats.deliveries++;
    if (sub.acked) this.ackPending(sub, pub);
  }

  /** Record a publication sent on an acknowledged subscription as pending for its consumer. */
  ackPending(sub: Sub, pub: Publication): void {
    const o = sub.resolved.options;
    this.acks.delivered(sub.channel, sub.ackConsumer, pub, o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS, o.historyTtlMs ?? 0);
  }

  /** Sends publications a subscribe took from the ack store to that subscription (right after its reply). */
  resendPending(sub: Sub, pubs: readonly Publication[]): void {
    if (pubs.length === 0 || sub.conn.state === 'closed' || !sub.active) return;
    this.#resend(sub, pubs);
    this.acks.resent(pubs.length);
  }

  /** The live acknowledged subscriptions of a consumer to a channel on this node. */
  #ackSubs(channel: string, consumer: string): Sub[] {
    const user = consumer.slice(consumer.indexOf('\n') + 1);
    const out: Sub[] = [];
    for (const conn of this.users.get(user) ?? []) {
      const sub = conn.subscriptions.get(channel);
      if (sub !== undefined && sub.active && sub.acked && sub.ackConsumer === consumer && conn.state === 'connected') out.push(sub);
    }
    return out;
  }

  /** Send pending publications again to the consumer's subscriptions of the channel here. */
  #redeliver(channel: string, consumer: string, pubs: readonly Publication[]): boolean {
    const subs = this.#ackSubs(channel, consumer);
    for (const sub of subs) this.#resend(sub, pubs);
    return subs.length > 0;
  }

  /** Publications again to one subscription, encoded for it (resends are rare and per consumer: no shared bytes). */
  #resend(sub: Sub, pubs: readonly Publication[]): void {
    for (const pub of pubs) sub.conn.enqueue(sub.conn.proto.encodePublication(sub.channel, pub), sub);
  }

  /**
   * A publication that may match pattern subscriptions (the broker calls this besides, not instead
   * of, `onPublication`): one tagged copy and one encoding per matching pattern.
   */
  onPatternPublication(channel: string, pub: Publication): void {
    if (this.patterns.size === 0) return;
    this.patterns.forEachMatch(channel, (state) => {
      const p = tagged(channel, pub);
      const cache: (Buffer | undefined)[] = new Array<undefined>(PROTOCOL_SLOT_COUNT).fill(undefined);
      for (const sub of state.subs) {
        if (sub.active) this.deliver(sub, p, cache);
        else sub.buffer?.push(p);
      }
    });
  }

  /** A publication to '*': every connected client, subscribed or not. */
  broadcastAll(pub: Publication): void {
    const cache: (Buffer | null | undefined)[] = new Array<undefined>(PROTOCOL_SLOT_COUNT).fill(undefined);
    for (const conn of this.connections.values()) {
      if (conn.state !== 'connected') continue;
      const p = conn.proto;
      let buf = cache[p.slot];
      if (buf === undefined) buf = cache[p.slot] = p.encodeBroadcast(pub) ?? null;
      if (buf === null) continue;
      conn.enqueue(buf);
    }
  }

  onJoinLeave(channel: string, info: ClientInfo, kind: 'join' | 'leave'): void {
    const state = this.channels.get(channel);
    if (state === undefined) return;
    const cache: (Buffer | null | undefined)[] = new Array<undefined>(PROTOCOL_SLOT_COUNT).fill(undefined);
    for (const sub of state.subs) {
      const conn = sub.conn;
      conn.session.presenceChanged?.(channel, kind, info);
      if (!sub.joinLeave || !sub.active) continue;
      const p = conn.proto;
      const compact = sub.compactId !== undefined ? p.compact : undefined;
      const i = compact !== undefined ? p.slot + PROTOCOL_SLOT_COUNT : p.slot;
      let buf = cache[i];
      if (buf === undefined) {
        if (compact !== undefined) buf = cache[i] = kind === 'join' ? compact.join(sub.compactId!, info) : compact.leave(sub.compactId!, info);
        else buf = cache[i] = (kind === 'join' ? p.encodeJoin(channel, info) : p.encodeLeave(channel, info)) ?? null;
      }
      if (buf !== null) conn.enqueue(buf, sub);
    }
  }

  /** A presence entry changed its data (PondSocket presence update) on some node. */
  onPresenceUpdate(channel: string, info: ClientInfo): void {
    const state = this.channels.get(channel);
    if (state) for (const sub of state.subs) sub.conn.session.presenceChanged?.(sub.channel, 'update', info);
  }
}
