import type { LifecycleEvent } from '../../cluster/lifecycle.js';
import type { Reaped, StateStore } from '../../cluster/state.js';
import type { Logger } from '../../logger.js';
import { deadLetterJournalName, type WebhookFormat, WebhookQueue, type WebhookRetry, type WebhookStats } from '../../webhooks/index.js';
import type { PusherApp, PusherApps, PusherAppsChange } from './apps.js';
import { hmacHex } from './signature.js';

/**
 * Webhooks as Pusher sends them (docs/protocols/pusher.md): `POST {"time_ms", "events": [...]}`
 * signed with `X-Pusher-Key` / `X-Pusher-Signature` (HMAC-SHA256 hex of the body with the app
 * secret), delivered by the core's webhook queue (batched, retried with backoff, dead-lettered).
 * Channel existence and members are decided once in the cluster through the engine's state store:
 * a group per channel (its subscribers, every protocol's) and one per user in a presence channel
 * (that user's connections there); the first entry of a group sends `channel_occupied` /
 * `member_added`, the last one going `channel_vacated` / `member_removed`. Leaves are debounced as
 * Pusher does: an entry stays in its group for the app's `webhookLeaveDelayMs` (3 s) after its
 * subscriber left, so a page reload or a reconnect within the window, on any node, sends nothing.
 * The entries of a node that dies are reaped by a survivor (after the node's lease lapses), which
 * sends what their last leave would have. Client events and cache misses are sent by the node where
 * they happen.
 */

export type PusherWebhookEvent =
  | { readonly name: 'channel_occupied' | 'channel_vacated' | 'cache_miss'; readonly channel: string }
  | { readonly name: 'member_added' | 'member_removed'; readonly channel: string; readonly user_id: string }
  | { readonly name: 'client_event'; readonly channel: string; readonly event: string; readonly data: string; readonly socket_id: string; readonly user_id?: string }
  | { readonly name: 'subscription_count'; readonly channel: string; readonly subscription_count: number };

export type PusherWebhookEventName = PusherWebhookEvent['name'];
export const PUSHER_WEBHOOK_EVENTS: readonly PusherWebhookEventName[] = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count'];

export interface PusherWebhookOptions {
  readonly url: string;
  /** Which events (default all). Soketi's `event_types`. */
  readonly events?: readonly PusherWebhookEventName[];
  /** Events per request (default 100): Pusher's batch webhooks. */
  readonly maxBatch?: number;
  readonly lingerMs?: number;
  readonly timeoutMs?: number;
  readonly retry?: WebhookRetry;
  /**
   * Journal the queue in the engine's state store where it has one (Redis, PostgreSQL, NATS with
   * JetStream, SQLite; default true), one log per (app, URL) and node: a node that dies with events
   * undelivered has them delivered by a survivor. false: memory only.
   */
  readonly durable?: boolean;
  /**
   * How often to look for dead nodes' journals (default a quarter of `cluster.nodeTtlMs`). A
   * survivor also claims them right before queueing what a dead node's reaped entries send.
   */
  readonly claimIntervalMs?: number;
}

/** The journal of an app's webhook: one log per (app id, URL), apart from the core webhooks' (keyed by their name or URL). */
export function pusherJournalName(app: Pick<PusherApp, 'id'>, url: string): string {
  return `pusher:${app.id}:${url}`;
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
    /** The node lease's lifetime: a journal is claimed every quarter of it (default 10 s). */
    readonly nodeTtlMs?: number;
    listen(fn: (e: LifecycleEvent) => void, opts: { channels?: (channel: string) => boolean; users?: boolean }): () => void;
    listenReaped(prefix: string, fn: (e: Reaped) => void): () => void;
  };
  readonly logger: Logger;
  /** A node shutting down leaves its debounced leaves to the reaper (its state store is about to close). */
  readonly isShuttingDown?: boolean;
}

/** `pusher-member:{channel}\n{user id}`: the user's connections in a presence channel. */
const MEMBER_GROUP = 'pusher-member:';
/** `pusher-channel:{channel}`: the channel's subscribers. */
const CHANNEL_GROUP = 'pusher-channel:';
/** A dead node's entries are reaped lowest rank first: members before their channel (member_removed, then channel_vacated). */
const MEMBER_RANK = 0;
const CHANNEL_RANK = 1;

interface Target {
  readonly app: PusherApp;
  /** The Pusher channel name. */
  readonly name: string;
}

/** The webhook queues of every app of a mount, fed by the lifecycle and by the sessions. */
export class PusherWebhooks {
  readonly #queues = new Map<string, WebhookQueue<PusherWebhookEvent>[]>();
  /** Presence subscriptions this node holds: client + channel → the member's user id (leaves carry no channel data). */
  readonly #members = new Map<string, string>();
  readonly #chains = new Map<string, Promise<void>>();
  /** Debounced leaves: group + member → the timer that removes the entry. */
  readonly #lingering = new Map<string, NodeJS.Timeout>();
  readonly #detach: (() => void)[] = [];
  /** Reaped entries' events, queued in order each after a claim of the dead nodes' journals. */
  #reaping: Promise<unknown> = Promise.resolve();
  /** What each app's queues were built from (webhooks, key, secret): a reload that changes it rebuilds them. */
  readonly #signedBy = new Map<string, string>();
  #closed = false;

  constructor(
    readonly apps: PusherApps,
    readonly node: PusherWebhookNode,
  ) {
    for (const app of apps.all()) this.#build(app);
    this.#listen();
  }

  /** The app's queues, from its webhooks and its key and secret (they sign). */
  #build(app: PusherApp): void {
    const node = this.node;
    const hooks = app.webhooks.map((w) => {
      // Durable where the engine journals: one log per app and URL (see pusherJournalName).
      const journal = w.durable !== false ? node.lifecycle.state.webhookJournal?.(pusherJournalName(app, w.url), node.lifecycle.ctx.id) : undefined;
      const deadJournal = journal ? node.lifecycle.state.webhookJournal?.(deadLetterJournalName(pusherJournalName(app, w.url)), node.lifecycle.ctx.id) : undefined;
      return new WebhookQueue<PusherWebhookEvent>({
        ...w,
        format: pusherWebhookFormat(app, w.events),
        logger: node.logger,
        ...(deadJournal ? { deadJournal } : {}),
        ...(journal ? { journal, claimIntervalMs: w.claimIntervalMs ?? Math.max(100, Math.floor((node.lifecycle.nodeTtlMs ?? 10_000) / 4)) } : {}),
      });
    });
    if (hooks.length > 0) this.#queues.set(app.id, hooks);
    this.#signedBy.set(app.id, signerOf(app));
  }

  /** Follow the lifecycle once some app has webhooks (without any, the node tracks nothing for them). */
  #listen(): void {
    if (this.#queues.size === 0 || this.#detach.length > 0 || this.#closed) return;
    const node = this.node;
    this.#detach.push(
      node.lifecycle.listen((e) => this.#lifecycle(e), { channels: (ch) => this.#target(ch) !== undefined, users: false }),
      node.lifecycle.listenReaped(MEMBER_GROUP, (e) => this.#reaped(e)),
      node.lifecycle.listenReaped(CHANNEL_GROUP, (e) => this.#reaped(e)),
    );
  }

  /**
   * The app list was reloaded: the queues of apps gone are closed (what they hold still goes out);
   * an app added, or whose webhooks, key or secret changed, gets new queues. Events of a debounced
   * leave of an app gone are dropped.
   */
  update(change: PusherAppsChange): void {
    const stop = (id: string) => {
      const queues = this.#queues.get(id) ?? [];
      this.#queues.delete(id);
      this.#signedBy.delete(id);
      for (const q of queues) q.close().catch((err: unknown) => this.node.logger.warn({ err, app: id }, 'pusher webhooks: closing a queue failed'));
    };
    for (const app of change.removed) stop(app.id);
    for (const app of change.changed) {
      if (this.#signedBy.get(app.id) === signerOf(app)) continue; // limits only: the queues stay
      stop(app.id);
      this.#build(app);
    }
    for (const app of change.added) this.#build(app);
    this.#listen();
  }

  /** The app (with webhooks) and Pusher name of a Switchboard channel; user and hidden channels have none. */
  #target(channel: string): Target | undefined {
    const name = this.apps.pusherName(channel);
    if (name === undefined || name.startsWith('#')) return undefined;
    const app = this.apps.byNamespace(name === channel ? '' : channel.slice(0, channel.indexOf(':')));
    return app && this.#queues.has(app.id) ? { app, name } : undefined;
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

  /**
   * This node's subscribers come and go. Events of a dead node's clients (`lost`, told by the node
   * that reaped them) are skipped: that node reaps this class's entries of the dead node as well
   * and reports them through `#reaped`.
   */
  #lifecycle(e: LifecycleEvent): void {
    if (e.channel === undefined || e.client === undefined || e.lost === true) return;
    const target = this.#target(e.channel);
    if (!target) return;
    const { app, name } = target;
    const client = e.client;
    if (e.type === 'subscribe' || e.type === 'unsubscribe') {
      const group = CHANNEL_GROUP + e.channel;
      const count = this.#counted(app, name) ? () => this.#count(app, name, group) : undefined;
      if (e.type === 'subscribe') this.#join(group, client, CHANNEL_RANK, () => this.push(app, { name: 'channel_occupied', channel: name }), count);
      else this.#leave(app, group, client, () => this.push(app, { name: 'channel_vacated', channel: name }), count);
      return;
    }
    if (!name.startsWith('presence-')) return;
    const key = `${client}\n${e.channel}`;
    if (e.type === 'presence_join') {
      const userId = userIdOf(e.info);
      if (userId === undefined) return;
      this.#members.set(key, userId);
      this.#join(`${MEMBER_GROUP}${e.channel}\n${userId}`, client, MEMBER_RANK, () => this.push(app, { name: 'member_added', channel: name, user_id: userId }));
    } else if (e.type === 'presence_leave') {
      const userId = this.#members.get(key);
      if (userId === undefined) return;
      this.#members.delete(key);
      this.#leave(app, `${MEMBER_GROUP}${e.channel}\n${userId}`, client, () => this.push(app, { name: 'member_removed', channel: name, user_id: userId }));
    }
  }

  /** `subscription_count` webhooks: apps that enable subscription counts, every channel kind but presence (as Pusher). */
  #counted(app: PusherApp, name: string): boolean {
    return app.enableSubscriptionCount && !name.startsWith('presence-');
  }

  /** The channel's subscribers anywhere, read after a change to its group (inside the group's chain). */
  async #count(app: PusherApp, name: string, group: string): Promise<void> {
    const [n] = await this.node.lifecycle.state.counts([group]);
    this.push(app, { name: 'subscription_count', channel: name, subscription_count: n ?? 0 });
  }

  /** Join the group; `first()` when the group was empty anywhere. A leave still lingering for the same entry is called off instead. */
  #join(group: string, member: string, rank: number, first: () => void, changed?: () => Promise<void>): void {
    const key = `${group}\n${member}`;
    const lingering = this.#lingering.get(key);
    if (lingering !== undefined) {
      clearTimeout(lingering);
      this.#lingering.delete(key);
      return; // still in the group: nothing happened as far as the cluster is concerned
    }
    this.#serial(group, async () => {
      const r = await this.node.lifecycle.state.join(group, member, this.node.lifecycle.ctx.id, '', rank);
      if (r.first) first();
      if (r.added) await changed?.();
    });
  }

  /** Leave the group after the app's debounce; `last()` when the group is then empty anywhere. */
  #leave(app: PusherApp, group: string, member: string, last: () => void, changed?: () => Promise<void>): void {
    const run = () =>
      this.#serial(group, async () => {
        const r = await this.node.lifecycle.state.leave(group, member);
        if (r.removed && r.last) last();
        if (r.removed) await changed?.();
      });
    if (app.webhookLeaveDelayMs <= 0) return run();
    const key = `${group}\n${member}`;
    if (this.#lingering.has(key)) return;
    const timer = setTimeout(() => {
      this.#lingering.delete(key);
      if (!this.#closed && this.node.isShuttingDown !== true) run();
    }, app.webhookLeaveDelayMs);
    timer.unref();
    this.#lingering.set(key, timer);
  }

  /**
   * A dead node's entry, reaped by this node: what its last leave would have sent. The app's queues
   * first claim the dead node's journal (its lease is gone by now), so that its own undelivered
   * events (the member_added, channel_occupied before this leave) are queued before what the leave
   * sends; the reaped entries' events keep their order through one chain.
   */
  #reaped(e: Reaped): void {
    let target: Target | undefined;
    let send: (() => void) | undefined;
    if (e.group.startsWith(CHANNEL_GROUP)) {
      const t = (target = this.#target(e.group.slice(CHANNEL_GROUP.length)));
      if (!t) return;
      send = () => {
        if (e.last) this.push(t.app, { name: 'channel_vacated', channel: t.name });
        if (this.#counted(t.app, t.name)) this.#serial(e.group, () => this.#count(t.app, t.name, e.group));
      };
    } else if (e.group.startsWith(MEMBER_GROUP) && e.last) {
      const rest = e.group.slice(MEMBER_GROUP.length);
      const cut = rest.indexOf('\n'); // channel names never hold a newline; user ids may
      if (cut < 0) return;
      const t = (target = this.#target(rest.slice(0, cut)));
      if (!t) return;
      send = () => this.push(t.app, { name: 'member_removed', channel: t.name, user_id: rest.slice(cut + 1) });
    }
    if (!target || !send) return;
    const queues = this.#queues.get(target.app.id) ?? [];
    this.#reaping = this.#reaping
      .then(() => Promise.all(queues.map((q) => q.claim())))
      .then(send)
      .catch((err: unknown) => this.node.logger.warn({ err, group: e.group }, 'pusher webhooks: a reaped leave failed'));
  }

  /** Run state operations of one group in order (a join and the leave after it). */
  #serial(group: string, fn: () => Promise<void>): void {
    const prev = this.#chains.get(group) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => this.node.logger.warn({ err, group }, 'pusher webhooks: cluster state failed'));
    this.#chains.set(group, next);
    void next.then(() => {
      if (this.#chains.get(group) === next) this.#chains.delete(group);
    });
  }

  stats(): WebhookStats[] {
    return this.queues.map((q) => q.stats());
  }

  /** One app's webhooks. */
  statsOf(app: PusherApp): WebhookStats[] {
    return (this.#queues.get(app.id) ?? []).map((q) => q.stats());
  }

  /**
   * Stop listening and deliver what is queued. Leaves still in their debounce window (and, once the
   * node is shutting down, those whose window ends meanwhile) are not made: the state store may
   * already be closed. Their entries stay with this node's lease, and a surviving node reaps them
   * and sends the vacated/member_removed once the lease lapses (`cluster.nodeTtlMs`), unless their
   * subscribers came back elsewhere meanwhile (a rolling restart then sends nothing).
   */
  async close(timeoutMs?: number): Promise<void> {
    this.#closed = true;
    for (const d of this.#detach) d();
    for (const t of this.#lingering.values()) clearTimeout(t);
    this.#lingering.clear();
    await this.#reaping;
    await Promise.all(this.#chains.values());
    await Promise.all(this.queues.map((q) => q.close(timeoutMs)));
  }
}

function signerOf(app: PusherApp): string {
  return JSON.stringify([app.key, app.secret, app.webhooks]);
}

function userIdOf(info: unknown): string | undefined {
  const id = (info as { user_id?: unknown } | undefined)?.user_id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
}
