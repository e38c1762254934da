import type { LifecycleEvent } from '../../cluster/lifecycle.js';
import type { StateStore } from '../../cluster/state.js';
import type { Logger } from '../../logger.js';
import { type WebhookFormat, WebhookQueue, type WebhookRetry, type WebhookStats } from '../../webhooks/index.js';
import type { PusherApp, PusherApps } from './apps.js';
import { hmacHex } from './signature.js';

/**
 * Webhooks as Pusher sends them (docs/protocols/pusher.md): `POST {"time_ms", "events": [...]}`
 * signed with `X-Pusher-Key` / `X-Pusher-Signature` (HMAC-SHA256 hex of the body with the app
 * secret), delivered by the core's webhook queue (batched, retried with backoff, dead-lettered).
 * Channel existence comes from the cluster lifecycle (decided once in the cluster); members are
 * folded by user id through the cluster state (the first connection of a user in a channel anywhere
 * adds the member, the last one anywhere removes it); client events and cache misses are sent by
 * the node where they happen.
 */

export type PusherWebhookEvent =
  | { readonly name: 'channel_occupied' | 'channel_vacated' | 'cache_miss'; readonly channel: string }
  | { readonly name: 'member_added' | 'member_removed'; readonly channel: string; readonly user_id: string }
  | { readonly name: 'client_event'; readonly channel: string; readonly event: string; readonly data: string; readonly socket_id: string; readonly user_id?: string };

export type PusherWebhookEventName = PusherWebhookEvent['name'];
export const PUSHER_WEBHOOK_EVENTS: readonly PusherWebhookEventName[] = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'];

export interface PusherWebhookOptions {
  readonly url: string;
  /** Which events (default all). Soketi's `event_types`. */
  readonly events?: readonly PusherWebhookEventName[];
  /** Events per request (default 100): Pusher's batch webhooks. */
  readonly maxBatch?: number;
  readonly lingerMs?: number;
  readonly timeoutMs?: number;
  readonly retry?: WebhookRetry;
}

/** Pusher's request: `{time_ms, events}`, `X-Pusher-Key`, `X-Pusher-Signature`. */
export function pusherWebhookFormat(app: Pick<PusherApp, 'key' | 'secret'>, events?: readonly PusherWebhookEventName[]): WebhookFormat<PusherWebhookEvent> {
  const wanted = new Set(events ?? PUSHER_WEBHOOK_EVENTS);
  return {
    accepts: (e) => wanted.has(e.name),
    encode(batch, now) {
      const body = JSON.stringify({ time_ms: now, events: batch });
      return { body, headers: { 'content-type': 'application/json', 'x-pusher-key': app.key, 'x-pusher-signature': hmacHex(app.secret, body) } };
    },
  };
}

/** What the webhooks need of the node. */
export interface PusherWebhookNode {
  readonly lifecycle: {
    readonly state: StateStore;
    readonly ctx: { readonly id: string };
    listen(fn: (e: LifecycleEvent) => void, opts: { channels?: (channel: string) => boolean; users?: boolean }): () => void;
  };
  readonly logger: Logger;
}

const MEMBER_GROUP = 'pusher-member:';

/** The webhook queues of every app of a mount, fed by the lifecycle and by the sessions. */
export class PusherWebhooks {
  readonly #queues = new Map<string, WebhookQueue<PusherWebhookEvent>[]>();
  /** Presence subscriptions this node holds: client + channel → the member's user id (leaves carry no channel data). */
  readonly #members = new Map<string, string>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #detach: () => void;

  constructor(
    readonly apps: PusherApps,
    readonly node: PusherWebhookNode,
  ) {
    for (const app of apps.all()) {
      const hooks = app.webhooks.map((w) => new WebhookQueue<PusherWebhookEvent>({ ...w, format: pusherWebhookFormat(app, w.events), logger: node.logger }));
      if (hooks.length > 0) this.#queues.set(app.id, hooks);
    }
    const appOf = (channel: string) => {
      const name = apps.pusherName(channel);
      if (name === undefined || name.startsWith('#')) return undefined;
      const app = apps.byNamespace(name === channel ? '' : channel.slice(0, channel.indexOf(':')));
      return app && this.#queues.has(app.id) ? { app, name } : undefined;
    };
    this.#detach =
      this.#queues.size === 0
        ? () => {}
        : node.lifecycle.listen((e) => this.#lifecycle(e, appOf), { channels: (ch) => appOf(ch) !== undefined, users: false });
  }

  get queues(): WebhookQueue<PusherWebhookEvent>[] {
    return [...this.#queues.values()].flat();
  }

  push(app: PusherApp, event: PusherWebhookEvent): void {
    for (const q of this.#queues.get(app.id) ?? []) q.push(event);
  }

  wants(app: PusherApp): boolean {
    return this.#queues.has(app.id);
  }

  #lifecycle(e: LifecycleEvent, appOf: (channel: string) => { app: PusherApp; name: string } | undefined): void {
    if (e.channel === undefined) return;
    const target = appOf(e.channel);
    if (!target) return;
    const { app, name } = target;
    if (e.type === 'channel_occupied' || e.type === 'channel_vacated') return this.push(app, { name: e.type, channel: name });
    if (!name.startsWith('presence-') || e.client === undefined) return;
    const key = `${e.client}\n${e.channel}`;
    if (e.type === 'presence_join') {
      const info = e.info as { user_id?: unknown } | undefined;
      if (info?.user_id === undefined) return;
      const userId = typeof info.user_id === 'string' || typeof info.user_id === 'number' ? String(info.user_id) : undefined;
      if (userId === undefined) return;
      this.#members.set(key, userId);
      this.#member(app, e.channel, name, userId, e.client, true);
    } else if (e.type === 'presence_leave') {
      const userId = this.#members.get(key);
      if (userId === undefined) return; // a crashed node's member: its node knew the user, not us
      this.#members.delete(key);
      this.#member(app, e.channel, name, userId, e.client, false);
    }
  }

  /** The user's first connection in the channel anywhere adds the member, its last one anywhere removes it. */
  #member(app: PusherApp, channel: string, name: string, userId: string, client: string, joined: boolean): void {
    const group = `${MEMBER_GROUP}${channel}\n${userId}`;
    const state = this.node.lifecycle.state;
    const run = async () => {
      if (joined) {
        const r = await state.join(group, client, this.node.lifecycle.ctx.id, '');
        if (r.first) this.push(app, { name: 'member_added', channel: name, user_id: userId });
      } else {
        const r = await state.leave(group, client);
        if (r.removed && r.last) this.push(app, { name: 'member_removed', channel: name, user_id: userId });
      }
    };
    const prev = this.#chains.get(group) ?? Promise.resolve();
    const next = prev.then(run).catch((err: unknown) => this.node.logger.warn({ err }, 'pusher webhooks: member state failed'));
    this.#chains.set(group, next);
    void next.then(() => {
      if (this.#chains.get(group) === next) this.#chains.delete(group);
    });
  }

  stats(): WebhookStats[] {
    return this.queues.map((q) => q.stats());
  }

  async close(timeoutMs?: number): Promise<void> {
    this.#detach();
    await Promise.all(this.#chains.values());
    await Promise.all(this.queues.map((q) => q.close(timeoutMs)));
  }
}
