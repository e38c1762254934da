/**
 * A link with a centrifuge connection of its own: used by a `Realtime` instance directly, and by
 * the leader tab of a shared connection. Token fetching (with its failure budget), server-side
 * subscriptions and the translation of centrifuge's events into `RealtimeError` values live here.
 */
import {
  Centrifuge,
  State,
  SubscriptionState,
  UnauthorizedError as CentrifugeUnauthorizedError,
  type Options as CentrifugeOptions,
  type PublicationContext,
  type Subscription,
  type SubscriptionOptions,
} from 'centrifuge';
import { WebSocketImpl } from '#websocket';
import { RealtimeError, UnauthorizedError, isUnauthorizedCode } from './errors.js';
import type { ConnectionState, Link, LinkPublication, LinkSink, StreamPosition } from './link.js';
import type { RealtimeOptions } from './realtime.js';

export class DirectLink implements Link {
  readonly role = 'own';
  readonly centrifuge: Centrifuge;
  readonly #options: RealtimeOptions;
  readonly #sink: LinkSink;
  readonly #subs = new Map<string, Subscription>();
  readonly #serverSubs = new Set<string>();
  #tokenFailures = 0;
  #tokenRefusalReported = false;

  constructor(options: RealtimeOptions, sink: LinkSink) {
    this.#options = options;
    this.#sink = sink;
    const co: Partial<CentrifugeOptions> = { ...options.centrifuge };
    const ws = options.websocket ?? WebSocketImpl;
    if (ws !== undefined && co.websocket === undefined) co.websocket = ws;
    if (options.token !== undefined) co.token = options.token;
    if (options.getToken) co.getToken = () => this.#fetchToken();
    if (options.minReconnectDelay !== undefined) co.minReconnectDelay = options.minReconnectDelay;
    if (options.maxReconnectDelay !== undefined) co.maxReconnectDelay = options.maxReconnectDelay;
    if (options.timeout !== undefined) co.timeout = options.timeout;
    if (options.name !== undefined) co.name = options.name;
    if (options.debug !== undefined) co.debug = options.debug;
    this.centrifuge = new Centrifuge(options.url, co);
    this.#wire();
  }

  isSubscribed(channel: string): boolean {
    return this.#subs.get(channel)?.state === SubscriptionState.Subscribed;
  }

  open(channel: string, since?: StreamPosition): void {
    const current = this.#subs.get(channel);
    if (current) {
      // A subscription the server refused for good stays unsubscribed; a new subscriber tries again.
      if (current.state === SubscriptionState.Unsubscribed) current.subscribe();
      return;
    }
    const existing = this.centrifuge.getSubscription(channel);
    if (existing) this.centrifuge.removeSubscription(existing);
    const getSubToken = this.#options.getSubscriptionToken;
    const so: Partial<SubscriptionOptions> = {};
    if (getSubToken) so.getToken = (ctx) => getSubToken(ctx.channel);
    // Recover from where this client (or, after a hand-over, the furthest-behind tab) left off.
    if (since) so.since = since;
    // acknowledged delivery: this client's consumer (the server ignores it where acks are off)
    if (this.#options.ackClient !== undefined) so.data = { ackClient: this.#options.ackClient };
    const sub = this.centrifuge.newSubscription(channel, so);
    sub.on('publication', (ctx: PublicationContext) => this.#sink.publication(toPublication(ctx)));
    sub.on('subscribed', (ctx) => {
      const s = { channel, recovered: ctx.recovered, wasRecovering: ctx.wasRecovering };
      this.#sink.subscribed(ctx.streamPosition ? { ...s, position: { offset: ctx.streamPosition.offset, epoch: ctx.streamPosition.epoch } } : s);
    });
    sub.on('unsubscribed', (ctx) => {
      if (ctx.code === 0) return; // we unsubscribed
      this.#sink.channelError(channel, new RealtimeError('subscribe', `unsubscribed from ${channel}: ${ctx.reason}`, { code: ctx.code, channel }));
    });
    sub.on('error', (ctx) => {
      const code = ctx.error?.code;
      const msg = `${ctx.type} on ${channel}: ${ctx.error?.message ?? 'error'}`;
      this.#sink.channelError(channel, new RealtimeError('subscribe', msg, code === undefined ? { channel } : { code, channel }));
    });
    this.#subs.set(channel, sub);
    sub.subscribe();
  }

  close(channel: string): void {
    const sub = this.#subs.get(channel);
    if (!sub) return;
    this.#subs.delete(channel);
    this.centrifuge.removeSubscription(sub); // unsubscribes, then forgets it
    sub.removeAllListeners();
  }

  async publish(channel: string, data: unknown): Promise<void> {
    this.connect();
    try {
      await this.centrifuge.publish(channel, data);
    } catch (err) {
      throw toError('subscribe', err, channel);
    }
  }

  async rpc(method: string, data: unknown): Promise<unknown> {
    this.connect();
    try {
      return (await this.centrifuge.rpc(method, data)).data;
    } catch (err) {
      throw toError('connection', err);
    }
  }

  ready(timeoutMs?: number): Promise<void> {
    this.connect();
    return this.centrifuge.ready(timeoutMs).catch((err: unknown) => {
      throw toError('connection', err);
    });
  }

  connect(): void {
    if (this.centrifuge.state === State.Disconnected) {
      this.#tokenFailures = 0;
      this.centrifuge.connect();
    }
  }

  disconnect(): void {
    this.centrifuge.disconnect();
  }

  shutdown(): void {
    for (const ch of [...this.#subs.keys()]) this.close(ch);
    this.centrifuge.disconnect();
  }

  #error(err: RealtimeError): void {
    this.#sink.event('error', err);
  }

  async #fetchToken(): Promise<string> {
    const getToken = this.#options.getToken!;
    let token: string | null | undefined;
    try {
      token = await getToken();
    } catch (err) {
      if (err instanceof UnauthorizedError || err instanceof CentrifugeUnauthorizedError) {
        this.#tokenRefusalReported = true;
        this.#error(new RealtimeError('unauthorized', `getToken refused: ${(err).message}`, { code: 1, cause: err }));
        throw new CentrifugeUnauthorizedError(String((err).message));
      }
      this.#tokenFailures++;
      const max = this.#options.maxTokenFailures ?? 5;
      const giveUp = this.#tokenFailures >= max;
      this.#error(
        new RealtimeError('token', `getToken failed (${this.#tokenFailures}/${max}${giveUp ? ', giving up' : ', will retry'}): ${errMessage(err)}`, { cause: err }),
      );
      // Giving up turns into centrifuge's terminal "unauthorized" disconnect: no endless retry loop.
      if (giveUp) {
        this.#tokenRefusalReported = true;
        throw new CentrifugeUnauthorizedError('token unavailable');
      }
      throw err;
    }
    if (token === null || token === undefined) {
      this.#tokenRefusalReported = true;
      this.#error(new RealtimeError('unauthorized', 'getToken returned no token', { code: 1 }));
      throw new CentrifugeUnauthorizedError('no token');
    }
    if (typeof token !== 'string') {
      this.#tokenRefusalReported = true;
      this.#error(new RealtimeError('usage', `getToken must return a string, got ${typeof token}`, { code: 1 }));
      throw new CentrifugeUnauthorizedError('getToken must return a string');
    }
    this.#tokenFailures = 0;
    return token;
  }

  #wire(): void {
    const c = this.centrifuge;
    const sink = this.#sink;
    c.on('state', (ctx) => sink.event('state', ctx.newState as ConnectionState));
    c.on('connected', (ctx) => sink.event('connected', { client: ctx.client }));
    c.on('disconnected', (ctx) => {
      sink.event('disconnected', { code: ctx.code, reason: ctx.reason });
      if (ctx.code === 0) return; // disconnect() was called
      // A refusal from getToken reaches here as centrifuge's code 1; #fetchToken already reported it.
      if (ctx.code === 1 && this.#tokenRefusalReported) {
        this.#tokenRefusalReported = false;
        return;
      }
      if (isUnauthorizedCode(ctx.code)) this.#error(new RealtimeError('unauthorized', `connection refused: ${ctx.reason}`, { code: ctx.code }));
      else this.#error(new RealtimeError('disconnected', `disconnected: ${ctx.reason}`, { code: ctx.code }));
    });
    c.on('subscribed', (ctx) => {
      // Server-side subscriptions: resync when a resubscription (after a reconnect) lost messages.
      const again = this.#serverSubs.has(ctx.channel);
      this.#serverSubs.add(ctx.channel);
      sink.event('subscribed', { channel: ctx.channel, recovered: ctx.recovered, wasRecovering: ctx.wasRecovering });
      if (again && !(ctx.wasRecovering && ctx.recovered)) sink.event('resync', { channel: ctx.channel, reason: ctx.wasRecovering ? 'unrecovered' : 'not-recoverable' });
    });
    c.on('unsubscribed', (ctx) => {
      this.#serverSubs.delete(ctx.channel);
    });
    c.on('publication', (ctx) => sink.event('serverPublication', toPublication(ctx)));
    c.on('error', (ctx) => {
      // Token fetch failures are reported by #fetchToken with more detail.
      if (ctx.type === 'connectToken' || ctx.type === 'refreshToken') return;
      const code = ctx.error?.code;
      this.#error(new RealtimeError('connection', `${ctx.type}: ${ctx.error?.message ?? 'error'}`, code === undefined ? {} : { code }));
    });
  }
}

function toPublication(ctx: { channel: string; data: unknown; offset?: number; info?: LinkPublication['info']; tags?: Record<string, string> }): LinkPublication {
  const p: LinkPublication = { channel: ctx.channel, data: ctx.data };
  if (ctx.offset !== undefined) p.offset = ctx.offset;
  if (ctx.info !== undefined) p.info = ctx.info;
  if (ctx.tags !== undefined) p.tags = ctx.tags;
  return p;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function toError(kind: 'connection' | 'subscribe', err: unknown, channel?: string): RealtimeError {
  if (err instanceof RealtimeError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const opts: { code?: number; channel?: string; cause?: unknown } = { cause: err };
  if (typeof e?.code === 'number') opts.code = e.code;
  if (channel !== undefined) opts.channel = channel;
  return new RealtimeError(kind, typeof e?.message === 'string' ? e.message : String(err), opts);
}
