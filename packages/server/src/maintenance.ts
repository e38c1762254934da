import { historyOf } from './channels.js';
import { Disconnects, Unsubscribes } from './codes.js';
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

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly nodes: NodeRegistry,
  ) {}

  get pingIntervalMs(): number {
    return this.ctx.options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
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
    const interval = this.pingIntervalMs;
    const pongTimeout = this.pongTimeoutMs;
    const grace = this.ctx.options.expiredCloseDelayMs ?? DEFAULTS.expiredCloseDelayMs;
    const connectTimeout = this.ctx.limits.connectTimeoutMs;
    for (const conn of this.hub.connections.values()) {
      if (conn.state === 'connecting') {
        if (now - conn.openedAt > connectTimeout) conn.close(Disconnects.stale);
        continue;
      }
      if (conn.state !== 'connected') continue;
      if (conn.expireAt > 0 && now > conn.expireAt + grace) {
        conn.close(Disconnects.expired);
        continue;
      }
      if (conn.awaitingPong && pongTimeout > 0 && now - conn.lastPingAt > pongTimeout) {
        conn.close(conn.session.keepalive === 'transport' ? Disconnects.connectionClosed : (conn.session.noPongClose ?? Disconnects.noPong));
        continue;
      }
      if (conn.inboundStalled(now)) {
        conn.close(Disconnects.tooManyRequests);
        continue;
      }
      if (interval > 0 && now - conn.lastPingAt >= interval) {
        conn.lastPingAt = now;
        conn.awaitingPong = pongTimeout > 0;
        conn.session.sendPing();
      }
      for (const sub of conn.subscriptions.values()) {
        if (sub.expireAt > 0 && now > sub.expireAt + grace) {
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
