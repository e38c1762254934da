import { historyOf } from './channels.js';
import { Disconnects, Unsubscribes } from './codes.js';
import type { Connection, Subscription } from './connection.js';
import type { RefreshContext, RefreshResult, SubRefreshContext, SubRefreshResult } from './context.js';
import type { Hub } from './hub.js';
import type { NodeContext } from './node-context.js';
import type { NodeRegistry } from './node-registry.js';
import { DEFAULTS } from './options.js';
import type { StreamPosition } from './types.js';

/**
 * The node's periodic work: keepalive (pings, pong timeouts, connect timeouts, expired
 * credentials, lagged subscribers), presence refresh, node announcements, and the resync after a
 * broker reconnect. Owns the node's timers.
 */
export class Maintenance {
  #timers: NodeJS.Timeout[] = [];
  /** Server-side connection refresh (`Switchboard.onRefresh`): called when a connection's credentials expire. */
  onRefresh: ((ctx: RefreshContext) => Promise<RefreshResult> | RefreshResult) | undefined;
  /** Server-side subscription refresh (`Switchboard.onSubRefresh`), for subscriptions granted with `serverRefresh`. */
  onSubRefresh: ((ctx: SubRefreshContext) => Promise<SubRefreshResult> | SubRefreshResult) | undefined;
  /** Refreshes in flight (one per connection or subscription at a time). */
  readonly #refreshing = new WeakSet<object>();

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly nodes: NodeRegistry,
  ) {}

  get pingIntervalMs(): number {
    return this.ctx.options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
  }

  /** After a failed server-side refresh the connection or subscription lives this much longer, then it is asked again. */
  get refreshRetryMs(): number {
    return this.ctx.options.refreshRetryMs ?? DEFAULTS.refreshRetryMs;
  }

  get pongTimeoutMs(): number {
    return this.ctx.options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs;
  }

  start(): void {
    const tick = Math.max(50, Math.min(1000, this.pingIntervalMs / 4, this.pongTimeoutMs / 4));
    this.#timers.push(setInterval(() => this.keepaliveTick(), tick));
    this.#timers.push(setInterval(() => void this.refreshPresence(), this.ctx.options.presenceRefreshMs ?? DEFAULTS.presenceRefreshMs));
    this.#timers.push(setInterval(() => void this.nodes.announce(), 3_000));
    for (const t of this.#timers) t.unref();
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  keepaliveTick(): void {
    const now = Date.now();
    const nodeInterval = this.pingIntervalMs;
    const nodePongTimeout = this.pongTimeoutMs;
    const grace = this.ctx.options.expiredCloseDelayMs ?? DEFAULTS.expiredCloseDelayMs;
    const connectTimeout = this.ctx.limits.connectTimeoutMs;
    for (const conn of this.hub.connections.values()) {
      if (conn.state === 'connecting') {
        if (now - conn.openedAt > connectTimeout) conn.close(Disconnects.stale);
        continue;
      }
      if (conn.state !== 'connected') continue;
      if (conn.expireAt > 0 && this.onRefresh !== undefined) {
        if (now >= conn.expireAt) this.#refresh(conn);
      } else if (conn.expireAt > 0 && now > conn.expireAt + grace) {
        conn.close(Disconnects.expired);
        continue;
      }
      const own = conn.session.keepaliveMs;
      const pongTimeout = own?.pongTimeout ?? nodePongTimeout;
      const interval = own?.pingInterval ?? nodeInterval;
      if (conn.awaitingPong && pongTimeout > 0 && now - conn.lastPingAt > pongTimeout) {
        conn.close(conn.session.keepalive === 'transport' ? Disconnects.connectionClosed : (conn.session.noPongClose ?? Disconnects.noPong));
        continue;
      }
      if (conn.inboundStalled(now)) {
        this.hub.stats.inboundStalls++;
        conn.close(Disconnects.tooManyRequests);
        continue;
      }
      // no second ping while one is unanswered: a pong timeout longer than the ping interval must
      // still end with the close (re-pinging would restart the wait forever)
      if (interval > 0 && !conn.awaitingPong && now - conn.lastPingAt >= interval) {
        conn.lastPingAt = now;
        conn.awaitingPong = pongTimeout > 0;
        conn.session.sendPing();
      }
      for (const sub of conn.subscriptions.values()) {
        if (sub.serverRefresh && sub.expireAt > 0 && this.onSubRefresh !== undefined) {
          if (now >= sub.expireAt) this.#subRefresh(conn, sub);
        } else if (sub.expireAt > 0 && now > sub.expireAt + grace) {
          this.hub.removeSubscription(sub, true);
          if (sub.serverSide) conn.close(Disconnects.subExpired);
          else conn.session.pushUnsubscribed(sub.channel, Unsubscribes.expired.code, Unsubscribes.expired.reason);
        }
        if (sub.lagged && sub.active && conn.queuedBytes === 0) {
          sub.lagged = false;
          conn.session.pushLagged(sub);
        }
      }
    }
  }

  /**
   * Ask the app (a refresh proxy) whether an expired connection lives on. Expired: closed with 3005;
   * extended: new expiry (and info, meta). A failure gives the connection one more minute and asks
   * again then, so a backend outage does not end every connection (Centrifugo's rule).
   */
  #refresh(conn: Connection): void {
    const handler = this.onRefresh;
    if (handler === undefined || this.#refreshing.has(conn)) return;
    this.#refreshing.add(conn);
    void (async () => {
      try {
        const r = await handler({ client: conn.client });
        if (conn.state !== 'connected') return;
        const expireAt = (r.expireAt ?? 0) * 1000;
        if (r.expired === true || (expireAt > 0 && expireAt <= Date.now())) return conn.close(Disconnects.expired);
        conn.expireAt = expireAt;
        if (r.info !== undefined) conn.info = r.info;
        if (r.meta !== undefined) conn.meta = r.meta;
      } catch (err) {
        this.ctx.logger.warn({ err, client: conn.id, retryMs: this.refreshRetryMs }, 'connection refresh failed: asking again later');
        if (conn.state === 'connected') conn.expireAt = Date.now() + this.refreshRetryMs;
      } finally {
        this.#refreshing.delete(conn);
      }
    })();
  }

  /** The same for a subscription granted with server-side refresh: expired ones are unsubscribed (2501). */
  #subRefresh(conn: Connection, sub: Subscription<Connection>): void {
    const handler = this.onSubRefresh;
    if (handler === undefined || this.#refreshing.has(sub)) return;
    this.#refreshing.add(sub);
    void (async () => {
      try {
        const r = await handler({ client: conn.client, channel: sub.channel });
        if (conn.state !== 'connected' || conn.subscriptions.get(sub.channel) !== sub) return;
        const expireAt = (r.expireAt ?? 0) * 1000;
        if (r.expired === true || (expireAt > 0 && expireAt <= Date.now())) {
          this.hub.removeSubscription(sub, true);
          if (sub.serverSide) conn.close(Disconnects.subExpired);
          else conn.session.pushUnsubscribed(sub.channel, Unsubscribes.expired.code, Unsubscribes.expired.reason);
          return;
        }
        sub.expireAt = expireAt;
        if (r.info !== undefined) sub.chanInfo = r.info;
      } catch (err) {
        this.ctx.logger.warn({ err, client: conn.id, channel: sub.channel, retryMs: this.refreshRetryMs }, 'subscription refresh failed: asking again later');
        if (conn.subscriptions.get(sub.channel) === sub) sub.expireAt = Date.now() + this.refreshRetryMs;
      } finally {
        this.#refreshing.delete(sub);
      }
    })();
  }

  /** Re-add live presence entries so they outlive the store's TTL while the client stays. */
  async refreshPresence(): Promise<void> {
    // in batches: a networked store (Redis) pipelines them instead of one round trip per entry
    let batch: Promise<void>[] = [];
    try {
      for (const conn of [...this.hub.connections.values()]) {
        for (const sub of conn.subscriptions.values()) {
          if (!sub.presence) continue;
          batch.push(this.ctx.presence.add(sub.channel, conn.id, sub.info()));
          if (batch.length >= 256) {
            await Promise.all(batch);
            batch = [];
          }
        }
      }
      await Promise.all(batch);
    } catch (err) {
      this.ctx.logger.warn({ err }, 'presence refresh failed');
    }
  }

  /**
   * The broker lost messages: subscribers of recoverable channels resync from history (the session
   * turns this into an unsubscribe 2500 / resubscribe), the others are told. A positioned
   * subscriber whose stream did not move past it (same epoch, same top) missed nothing.
   */
  async resyncAfterReconnect(): Promise<void> {
    await Promise.all(
      [...this.hub.channels].map(async ([channel, state]) => {
        let pos: StreamPosition | undefined;
        if (historyOf(state.resolved.options) !== undefined) {
          try {
            pos = await this.ctx.history.position(channel);
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
}
