import { Disconnects } from '../codes.js';
import type { Connection } from '../connection.js';
import type { Hub } from '../hub.js';
import type { NodeContext } from '../node-context.js';
import type { Subscription } from '../subscription.js';
import type { ClientInfo } from '../types.js';
import type { Reaped, Revocation, StateStore } from './state.js';

/** What happened to a client or a channel, as the node (or a survivor of a crashed node) reports it. */
export type LifecycleEventType =
  | 'connect'
  | 'disconnect'
  | 'subscribe'
  | 'unsubscribe'
  | 'channel_occupied'
  | 'channel_vacated'
  | 'presence_join'
  | 'presence_leave';

export const LIFECYCLE_EVENT_TYPES: readonly LifecycleEventType[] = [
  'connect',
  'disconnect',
  'subscribe',
  'unsubscribe',
  'channel_occupied',
  'channel_vacated',
  'presence_join',
  'presence_leave',
];

export interface LifecycleEvent {
  /** Unique across the cluster: de-duplicate deliveries by it. */
  readonly id: string;
  readonly type: LifecycleEventType;
  /** When the node decided it, ms since the epoch. */
  readonly time: number;
  /**
   * The cluster-wide sequence number of the membership change behind the event (channel events:
   * the channel's; connect/disconnect: the user's): order one channel's events by it.
   */
  readonly seq?: number;
  /** The name of the node that emitted the event. */
  readonly node: string;
  readonly client?: string;
  readonly user?: string;
  readonly channel?: string;
  readonly protocol?: string;
  readonly transport?: string;
  /** Disconnect code and reason. */
  readonly code?: number;
  readonly reason?: string;
  /** Connection info (connect, disconnect), channel info (presence events), as JSON values. */
  readonly info?: unknown;
  /** Emitted by a surviving node for a client of a node that died. */
  readonly lost?: true;
}

export interface UserStatusOptions {
  /**
   * Where status changes are published: `<prefix><user>` (default `$status:`, which resolves to the
   * namespace `status` and, with the `$`, needs a subscription token or an onSubscribe decision).
   * Nothing is published when the channel does not resolve to a route or namespace.
   */
  channelPrefix?: string;
  /** Explicit activity (`update_user_status` RPC) moves `last_seen` at most this often per connection (default 10 s). */
  activityIntervalMs?: number;
}

export interface ClusterOptions {
  /** The shared cluster state (engine); memory (this process only) by default. */
  state?: StateStore;
  /** A node's lease: survivors act for a node whose lease lapsed (default 10 s). */
  nodeTtlMs?: number;
  /** Reload the revocation list from the engine this often (default 10 s). */
  revocationReloadMs?: number;
}

export interface UserStatus {
  readonly user: string;
  readonly online: boolean;
  /** Last connect, disconnect or activity anywhere, ms since the epoch. */
  readonly lastSeen: number | undefined;
}

type Listener = (e: LifecycleEvent) => void;

/**
 * What failed in the background, by the engine call: `connect`, `disconnect`, `subscribe` and
 * `unsubscribe` mean that the membership change (and so its events) was not made or not reported.
 */
export type LifecycleFailure = 'connect' | 'disconnect' | 'subscribe' | 'unsubscribe' | 'heartbeat' | 'revocations' | 'last_seen' | 'lost_presence' | 'status_publication';
type ReapListener = (e: Reaped) => void;

/** Reaped and live-leave disconnects of a lost node's clients. */
export const NODE_LOST = { code: 3001, reason: 'node lost' } as const;

const USER_GROUP = 'u:';
const CHANNEL_GROUP = 'c:';
/** The chain of one client's operations (not a state group). */
const CLIENT_CHAIN = '\0k:';

/**
 * Cluster-wide lifecycle: who is online (user memberships), which channels are occupied (channel
 * memberships for the channels someone listens to), token revocations, and the node lease that lets
 * survivors act for a crashed node. Every transition (first member, last member) is decided
 * atomically by the engine's `StateStore`, so it is reported once in the cluster; events go to the
 * listeners (webhook queues) of the node that decided them.
 */
export class Lifecycle {
  readonly state: StateStore;
  readonly nodeTtlMs: number;
  readonly #listeners: { fn: Listener; channels: (channel: string) => boolean; users: boolean }[] = [];
  /** Owners of other groups in the state store (by group prefix), told of their reaped entries. */
  readonly #reapListeners: { prefix: string; fn: ReapListener }[] = [];
  /** Registered connections this node reported to the state (conn id → user). */
  readonly #tracked = new Map<string, string>();
  /** Subscriptions this node joined to channel groups (conn id + channel). */
  readonly #trackedSubs = new Set<string>();
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #lastActivity = new Map<string, number>();
  #timers: NodeJS.Timeout[] = [];
  #seq = 0;
  #started = false;
  #closed = false;
  userStatus: UserStatusOptions | undefined;
  /** What went wrong in the background (engine failures), by call. */
  readonly failuresBy = new Map<LifecycleFailure, number>();

  /** Background failures in all (the sum of `failuresBy`). */
  get failures(): number {
    let n = 0;
    for (const v of this.failuresBy.values()) n += v;
    return n;
  }

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    state: StateStore,
    readonly options: ClusterOptions,
    readonly publish: (channel: string, data: unknown) => Promise<unknown>,
  ) {
    this.state = state;
    this.nodeTtlMs = options.nodeTtlMs ?? 10_000;
    if (!(this.nodeTtlMs >= 500)) throw new RangeError('cluster.nodeTtlMs must be at least 500 ms');
    this.userStatus = ctx.options.userStatus;
  }

  /** Whether connections are reported to the state (user status, or someone wants connection events). */
  get tracksUsers(): boolean {
    return this.userStatus !== undefined || this.#listeners.some((l) => l.users);
  }

  #tracksChannel(channel: string): boolean {
    for (const l of this.#listeners) if (l.channels(channel)) return true;
    return false;
  }

  /**
   * Listen to lifecycle events. `channels` limits the channel events (and the occupancy tracking
   * they need) to the channels it accepts; `users: false` skips connection tracking. Add listeners
   * before clients connect: transitions before a listener existed are not replayed.
   */
  listen(fn: Listener, opts: { channels?: (channel: string) => boolean; users?: boolean } = {}): () => void {
    const entry = { fn, channels: opts.channels ?? (() => true), users: opts.users ?? true };
    this.#listeners.push(entry);
    return () => {
      const i = this.#listeners.indexOf(entry);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Entries of groups named `prefix…` that their owner (not this class) joined in the state store:
   * when a dead node's entry is reaped, `fn` hears it on the one node that reaped it (with `last`
   * as a leave would have said). Prefixes `c:` and `u:` are this class's own.
   */
  listenReaped(prefix: string, fn: ReapListener): () => void {
    if (prefix === '' || prefix.startsWith(CHANNEL_GROUP) || prefix.startsWith(USER_GROUP)) throw new Error(`lifecycle: group prefix "${prefix}" is reserved`);
    const entry = { prefix, fn };
    this.#reapListeners.push(entry);
    return () => {
      const i = this.#reapListeners.indexOf(entry);
      if (i >= 0) this.#reapListeners.splice(i, 1);
    };
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const beat = Math.max(100, Math.floor(this.nodeTtlMs / 4));
    this.#timers.push(setInterval(() => void this.#beat(), beat));
    const reload = this.options.revocationReloadMs ?? 10_000;
    this.#timers.push(setInterval(() => void this.#reloadRevocations(), reload));
    for (const t of this.#timers) t.unref();
    // Until the revocation list is loaded no connection is registered (they wait, then get 3004 and
    // come back): if the engine cannot answer now, retry every second rather than at the reload period.
    try {
      this.ctx.revocations.load(await this.state.revocations());
    } catch (err) {
      this.#fail(err, 'revocations', 'loading the revocation list');
      const retry = setInterval(() => {
        if (this.#closed || this.ctx.revocations.isLoaded) clearInterval(retry);
        else void this.#reloadRevocations();
      }, 1000);
      retry.unref();
      this.#timers.push(retry);
    }
    try {
      await this.state.heartbeat(this.ctx.id, this.nodeTtlMs);
    } catch (err) {
      this.#fail(err, 'heartbeat', 'the first heartbeat'); // the next beat retries
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    try {
      const { lapsed } = await this.state.heartbeat(this.ctx.id, this.nodeTtlMs);
      if (lapsed) await this.#rejoin();
      for (let i = 0; i < 20; i++) {
        const reaped = await this.state.reap(500);
        if (reaped.length === 0) break;
        this.#onReaped(reaped);
      }
    } catch (err) {
      this.#fail(err, 'heartbeat', 'heartbeat');
    }
  }

  /**
   * This node was taken for dead (a pause longer than its lease): a survivor has reported its
   * clients gone. Join them again and report them back (connect, subscribe, and channel_occupied
   * where the channel had emptied), so the receivers' picture matches the cluster's again.
   */
  async #rejoin(): Promise<void> {
    this.ctx.logger.warn({}, 'this node was taken for dead by the cluster: joining its members again');
    for (const [id, user] of this.#tracked) {
      const conn = this.hub.connections.get(id);
      if (!conn) continue;
      const group = USER_GROUP + user;
      await this.#serial(group, id, async () => {
        const r = await this.state.join(group, id, this.ctx.id, memberData(conn), 1);
        if (!r.added) return;
        this.#emit({ type: 'connect', seq: r.seq, ...connFields(conn) });
        if (user !== '' && this.userStatus && r.first) await this.#publishStatus(user, true, Date.now());
      });
    }
    for (const key of this.#trackedSubs) {
      const [id, channel] = splitKey(key);
      const sub = this.hub.connections.get(id)?.subscriptions.get(channel);
      if (!sub) continue;
      const group = CHANNEL_GROUP + channel;
      await this.#serial(group, id, async () => {
        const r = await this.state.join(group, id, this.ctx.id, subData(sub));
        if (!r.added) return;
        const base = { seq: r.seq, channel, client: id, user: sub.conn.user };
        if (r.first) this.#emit({ ...base, type: 'channel_occupied', client: undefined, user: undefined });
        this.#emit({ ...base, type: 'subscribe' });
        if (sub.presence) {
          // The reaper announced its leave (#lostPresence): it is back.
          const info = sub.info();
          this.#emit({ ...base, type: 'presence_join', ...(info.chanInfo !== undefined ? { info: parse(info.chanInfo) } : {}) });
          await this.ctx.presence.add(channel, id, info);
          await this.ctx.broker.publishJoin(channel, info);
        }
      });
    }
  }

  async #reloadRevocations(): Promise<void> {
    try {
      this.ctx.revocations.load(await this.state.revocations());
      this.disconnectRevoked();
    } catch (err) {
      this.#fail(err, 'revocations', 'revocation reload');
    }
  }

  // ─────────────── token revocation ───────────────

  /** A revocation announced on the control plane (or made here): remember it, close what it revokes. */
  applyRevocation(r: Revocation): void {
    this.ctx.revocations.add(r);
    this.disconnectRevoked(r.kind === 'user' ? r.user : undefined);
  }

  /** Close local connections whose token is revoked (of one user, or all). */
  disconnectRevoked(user?: string): void {
    const conns = user !== undefined ? [...(this.hub.users.get(user) ?? [])] : [...this.hub.connections.values()];
    for (const conn of conns) {
      if (conn.state !== 'connected') continue;
      if (this.ctx.revocations.revoked(conn.user, conn.claims)) conn.close(Disconnects.tokenRevoked);
    }
  }

  isRevoked(user: string, claims: { jti?: unknown; iat?: unknown } | undefined): boolean {
    return this.ctx.revocations.revoked(user, claims);
  }

  // ─────────────── hooks (hub, events) ───────────────

  #emit(e: Omit<LifecycleEvent, 'id' | 'time' | 'node'> & { time?: number }): void {
    const event: LifecycleEvent = { id: `${this.ctx.id}-${++this.#seq}`, time: Date.now(), node: this.ctx.name, ...e };
    for (const l of this.#listeners) {
      if (event.channel !== undefined ? !l.channels(event.channel) : !l.users) continue;
      try {
        l.fn(event);
      } catch (err) {
        this.ctx.events.reportError(err);
      }
    }
  }

  /**
   * Run `fn` after every earlier operation on the same group and of the same client (`k:<id>`), so
   * join/leave keep their order per group, and one client's events are emitted in the order its
   * node saw them (connect, then its subscribes and unsubscribes, then disconnect) on every engine,
   * whatever the order in which the engine answers calls on different groups.
   */
  #serial<T>(group: string, client: string, fn: () => Promise<T>): Promise<T> {
    const key = CLIENT_CHAIN + client;
    const a = this.#chains.get(group);
    const b = this.#chains.get(key);
    const prev = a && b ? Promise.all([a, b]) : (a ?? b ?? Promise.resolve());
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#chains.set(group, tail);
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(group) === tail) this.#chains.delete(group);
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return next;
  }

  #fail(err: unknown, op: LifecycleFailure, what: string = op): void {
    this.failuresBy.set(op, (this.failuresBy.get(op) ?? 0) + 1);
    this.ctx.logger.warn({ err, operation: op }, `cluster state: ${what} failed`);
  }

  connected(conn: Connection): void {
    if (!this.tracksUsers || this.#closed) return;
    this.#tracked.set(conn.id, conn.user);
    const group = USER_GROUP + conn.user;
    const time = Date.now();
    let emitted = false;
    void this.#serial(group, conn.id, async () => {
      const r = await this.state.join(group, conn.id, this.ctx.id, memberData(conn), 1);
      this.#emit({ type: 'connect', time, seq: r.seq, ...connFields(conn) });
      emitted = true;
      if (conn.user !== '' && this.userStatus) {
        await this.state.setLastSeen(conn.user, time);
        if (r.first) await this.#publishStatus(conn.user, true, time);
      }
    }).catch((err: unknown) => this.#fail(err, emitted ? 'last_seen' : 'connect'));
  }

  disconnected(conn: Connection, code: number, reason: string): void {
    const user = this.#tracked.get(conn.id);
    if (user === undefined) return;
    this.#tracked.delete(conn.id);
    this.#lastActivity.delete(conn.id);
    const group = USER_GROUP + user;
    const time = Date.now();
    let emitted = false;
    void this.#serial(group, conn.id, async () => {
      const r = await this.state.leave(group, conn.id);
      if (!r.removed) return; // reaped meanwhile (this node was taken for dead): reported by the reaper
      this.#emit({ type: 'disconnect', time, seq: r.seq, code, reason, ...connFields(conn) });
      emitted = true;
      if (user !== '' && this.userStatus) {
        await this.state.setLastSeen(user, time);
        if (r.last) await this.#publishStatus(user, false, time);
      }
    }).catch((err: unknown) => this.#fail(err, emitted ? 'last_seen' : 'disconnect'));
  }

  subscribed(sub: Subscription<Connection>): void {
    if (this.#closed || !this.#tracksChannel(sub.channel)) return;
    const conn = sub.conn;
    const key = `${conn.id}\n${sub.channel}`;
    this.#trackedSubs.add(key);
    const group = CHANNEL_GROUP + sub.channel;
    const time = Date.now();
    const presence = sub.presence;
    const info = presence ? sub.info() : undefined;
    void this.#serial(group, conn.id, async () => {
      const r = await this.state.join(group, conn.id, this.ctx.id, subData(sub));
      const base = { time, seq: r.seq, channel: sub.channel, client: conn.id, user: conn.user };
      if (r.first) this.#emit({ ...base, type: 'channel_occupied', client: undefined, user: undefined });
      this.#emit({ ...base, type: 'subscribe' });
      if (presence) this.#emit({ ...base, type: 'presence_join', ...(info?.chanInfo !== undefined ? { info: parse(info.chanInfo) } : {}) });
    }).catch((err: unknown) => this.#fail(err, 'subscribe'));
  }

  unsubscribed(sub: Subscription<Connection>): void {
    const conn = sub.conn;
    const key = `${conn.id}\n${sub.channel}`;
    if (!this.#trackedSubs.delete(key)) return;
    const group = CHANNEL_GROUP + sub.channel;
    const time = Date.now();
    const presence = sub.presence;
    void this.#serial(group, conn.id, async () => {
      const r = await this.state.leave(group, conn.id);
      if (!r.removed) return;
      const base = { time, seq: r.seq, channel: sub.channel, client: conn.id, user: conn.user };
      if (presence) this.#emit({ ...base, type: 'presence_leave' });
      this.#emit({ ...base, type: 'unsubscribe' });
      if (r.last) this.#emit({ ...base, type: 'channel_vacated', client: undefined, user: undefined });
    }).catch((err: unknown) => this.#fail(err, 'unsubscribe'));
  }

  /** A dead node's members, removed by this node: report what their node cannot. */
  #onReaped(entries: Reaped[]): void {
    const time = Date.now();
    for (const e of entries) {
      const owner = this.#reapListeners.find((l) => e.group.startsWith(l.prefix));
      if (owner !== undefined) {
        try {
          owner.fn(e);
        } catch (err) {
          this.ctx.events.reportError(err);
        }
        continue;
      }
      const data = parseObject(e.data);
      const client = e.member;
      const user = typeof data['user'] === 'string' ? data['user'] : '';
      if (e.group.startsWith(CHANNEL_GROUP)) {
        const channel = e.group.slice(CHANNEL_GROUP.length);
        const base = { time, seq: e.seq, channel, client, user, lost: true as const };
        if (data['presence'] === true) {
          this.#emit({ ...base, type: 'presence_leave' });
          void this.#lostPresence(channel, { client, user, ...(typeof data['chan'] === 'string' ? { chanInfo: data['chan'] } : {}) });
        }
        this.#emit({ ...base, type: 'unsubscribe' });
        if (e.last) this.#emit({ ...base, type: 'channel_vacated', client: undefined, user: undefined });
      } else if (e.group.startsWith(USER_GROUP)) {
        this.#emit({
          type: 'disconnect',
          time,
          seq: e.seq,
          client,
          user,
          code: NODE_LOST.code,
          reason: NODE_LOST.reason,
          lost: true,
          ...(typeof data['protocol'] === 'string' ? { protocol: data['protocol'] } : {}),
        });
        if (user !== '' && this.userStatus) {
          void this.state.setLastSeen(user, time).catch((err: unknown) => this.#fail(err, 'last_seen'));
          if (e.last) void this.#publishStatus(user, false, time);
        }
      }
    }
  }

  /**
   * A dead node's presence entry: drop it from the shared presence store and announce its leave to
   * every node's subscribers, as its own node would have (a dead node's entries otherwise only
   * expire from the store, and its subscribers on other nodes never hear that they left).
   */
  async #lostPresence(channel: string, info: ClientInfo): Promise<void> {
    try {
      await this.ctx.presence.remove(channel, info.client);
      await this.ctx.broker.publishLeave(channel, info);
    } catch (err) {
      this.#fail(err, 'lost_presence', 'the leave of a lost presence entry');
    }
  }

  // ─────────────── user status ───────────────

  /** Explicit client activity: moves `last_seen` (at most once per `activityIntervalMs` per connection). */
  async activity(conn: Connection): Promise<void> {
    if (!this.userStatus || conn.user === '') return;
    const now = Date.now();
    const every = this.userStatus.activityIntervalMs ?? 10_000;
    const last = this.#lastActivity.get(conn.id) ?? 0;
    if (now - last < every) return;
    this.#lastActivity.set(conn.id, now);
    await this.state.setLastSeen(conn.user, now);
  }

  async #publishStatus(user: string, online: boolean, time: number): Promise<void> {
    const channel = `${this.userStatus?.channelPrefix ?? '$status:'}${user}`;
    if (!this.ctx.registry.resolve(channel)) return;
    try {
      await this.publish(channel, { user, online, last_seen: time });
    } catch (err) {
      this.#fail(err, 'status_publication', 'status publication');
    }
  }

  async statuses(users: readonly string[]): Promise<UserStatus[]> {
    const [counts, seen] = await Promise.all([this.state.counts(users.map((u) => USER_GROUP + u)), this.state.lastSeen(users)]);
    return users.map((user, i) => ({ user, online: (counts[i] ?? 0) > 0, lastSeen: seen[i] }));
  }

  /** Stop timers; a clean shutdown's members have left by now, so the lease can go. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await Promise.allSettled([...this.#chains.values()]);
    if (this.#started) await this.state.forgetNode(this.ctx.id).catch(() => {});
  }
}

function memberData(conn: Connection): string {
  return JSON.stringify({ user: conn.user, protocol: conn.protocol });
}

/** What a survivor needs to report the subscription if its node dies: the user, and for presence the channel info of its leave. */
function subData(sub: Subscription<Connection>): string {
  return JSON.stringify({ user: sub.conn.user, ...(sub.presence ? { presence: true, ...(sub.chanInfo !== undefined ? { chan: sub.chanInfo } : {}) } : {}) });
}

function connFields(conn: Connection): Pick<LifecycleEvent, 'client' | 'user' | 'protocol' | 'transport' | 'info'> {
  return {
    client: conn.id,
    user: conn.user,
    protocol: conn.protocol,
    transport: conn.transport.kind,
    ...(conn.info !== undefined ? { info: parse(conn.info) } : {}),
  };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseObject(text: string): Record<string, unknown> {
  const v = parse(text);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('\n');
  return [key.slice(0, i), key.slice(i + 1)];
}
