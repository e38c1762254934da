/**
 * The application-facing client: one connection per instance, built on the official `centrifuge`
 * SDK (reconnect with backoff, recovery, token refresh all come from it). What this adds:
 * lazy connect on the first subscription, reference-counted subscriptions (many handlers, one
 * server subscription), typed channels and handlers, an observable connection state, typed
 * errors instead of silent retries, and a "resync" event whenever a subscription may have missed
 * messages (recovery failed, or the channel keeps no history).
 */
import {
  Centrifuge,
  UnauthorizedError as CentrifugeUnauthorizedError,
  type Options as CentrifugeOptions,
  type PublicationContext,
  type SubscribedContext,
  type Subscription,
  type ClientInfo,
} from 'centrifuge';
import { WebSocketImpl } from '#websocket';
import { RealtimeError, UnauthorizedError, isUnauthorizedCode } from './errors.js';
import { Emitter, ValueStore, type Store } from './store.js';
import type { AnySchema, ChannelOf, MessageOf } from './channels.js';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export type TokenGetter = () => Promise<string | null | undefined> | string | null | undefined;

export interface RealtimeOptions {
  /** WebSocket endpoint, e.g. `wss://example.com/connection/websocket`. */
  url: string;
  /**
   * Returns a connection JWT. Called before connecting and again when the token is about to expire
   * (the server's connect reply says when). Throw `UnauthorizedError` or return null to refuse:
   * the client stops and reports an `unauthorized` error. Any other failure is reported as a
   * `token` error and retried with backoff, at most `maxTokenFailures` times in a row.
   */
  getToken?: TokenGetter;
  /** A fixed token (used for the first connect; `getToken` takes over when it expires). */
  token?: string;
  /** Subscription tokens for channels that need one (`$private` channels). */
  getSubscriptionToken?: (channel: string) => Promise<string>;
  /** Consecutive getToken failures before the client gives up (default 5). */
  maxTokenFailures?: number;
  /** Reconnect backoff bounds in ms (centrifuge defaults: 500 and 20000). */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** Command and connect timeout in ms (default 5000). */
  timeout?: number;
  /** Client name sent in the connect command. */
  name?: string;
  /** A WebSocket class; by default the global one in browsers and `ws` in Node. */
  websocket?: unknown;
  debug?: boolean;
  /** Any other centrifuge option (escape hatch). */
  centrifuge?: Partial<CentrifugeOptions>;
}

/** What a handler receives besides the message itself. */
export interface MessageContext {
  channel: string;
  /** Position in the channel's history, when the channel keeps one. */
  offset?: number;
  /** The publisher, for client-side publications. */
  info?: ClientInfo;
  tags?: Record<string, string>;
}

export type MessageHandler<T> = (data: T, ctx: MessageContext) => void;

export interface ResyncEvent {
  channel: string;
  /**
   * `unrecovered`: the server could not replay everything missed (history trimmed or expired,
   * epoch changed). `not-recoverable`: the channel keeps no history, so a reconnect may have lost
   * messages. Either way: refetch the state this channel invalidates.
   */
  reason: 'unrecovered' | 'not-recoverable';
}

export interface SubscribedEvent {
  channel: string;
  /** True when this was a resubscription that replayed every missed message. */
  recovered: boolean;
  wasRecovering: boolean;
}

export interface RealtimeEvents extends Record<string, unknown> {
  state: ConnectionState;
  connected: { client: string };
  disconnected: { code: number; reason: string };
  error: RealtimeError;
  resync: ResyncEvent;
  subscribed: SubscribedEvent;
  /**
   * A publication on a server-side subscription (channels the server subscribed this connection
   * to, e.g. from the token's `channels` claim). Client-side subscriptions go to their handlers.
   */
  serverPublication: { channel: string; data: unknown; ctx: MessageContext };
}

export interface SubscribeOptions {
  /** Called when this channel needs a resync (see `ResyncEvent`). */
  onResync?: (event: ResyncEvent) => void;
  /** Called with this channel's subscription errors (they also go to the instance's `error` event). */
  onError?: (error: RealtimeError) => void;
}

interface Listener {
  handler: MessageHandler<never>;
  opts: SubscribeOptions | undefined;
}

interface Entry {
  channel: string;
  sub: Subscription;
  listeners: Set<Listener>;
  subscribedOnce: boolean;
  teardown: ReturnType<typeof setTimeout> | undefined;
}

export class Realtime<S = AnySchema> {
  /** The underlying centrifuge client (presence, history, RPC, publish are available on it). */
  readonly centrifuge: Centrifuge;
  /** The connection state as an observable value (`useSyncExternalStore(state.subscribe, state.getSnapshot)`). */
  readonly state: Store<ConnectionState>;
  readonly #state = new ValueStore<ConnectionState>('disconnected');
  readonly #events = new Emitter<RealtimeEvents>();
  readonly #entries = new Map<string, Entry>();
  readonly #options: RealtimeOptions;
  #tokenFailures = 0;
  #tokenRefusalReported = false;
  readonly #serverSubs = new Set<string>();
  #closed = false;

  constructor(options: RealtimeOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') throw new RealtimeError('usage', 'createRealtime: `url` is required');
    this.#options = options;
    this.state = this.#state;
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

  /** Current connection state. */
  getState(): ConnectionState {
    return this.#state.getSnapshot();
  }

  /** Listen to an instance event; returns the function that stops listening. */
  on<K extends keyof RealtimeEvents>(event: K, fn: (value: RealtimeEvents[K]) => void): () => void {
    return this.#events.on(event, fn);
  }

  /**
   * Calls `handler` with every message published to `channel`; returns the unsubscribe function.
   * Handlers of one channel share one server subscription; it ends when the last one unsubscribes.
   * Connects on the first call if not connected.
   */
  subscribe<C extends ChannelOf<S>>(channel: C, handler: MessageHandler<MessageOf<S, C>>, opts?: SubscribeOptions): () => void {
    if (this.#closed) throw new RealtimeError('usage', 'subscribe on a closed Realtime instance', { channel });
    if (typeof channel !== 'string' || channel === '') throw new RealtimeError('usage', 'subscribe: channel must be a non-empty string');
    if (typeof handler !== 'function') throw new RealtimeError('usage', 'subscribe: handler must be a function', { channel });
    let entry = this.#entries.get(channel);
    if (!entry) entry = this.#open(channel);
    else if (entry.teardown !== undefined) {
      clearTimeout(entry.teardown);
      entry.teardown = undefined;
    }
    const listener: Listener = { handler: handler as MessageHandler<never>, opts };
    entry.listeners.add(listener);
    // A subscription the server refused for good stays unsubscribed; a new subscriber tries again.
    if (entry.sub.state === 'unsubscribed') entry.sub.subscribe();
    this.connect();
    const e = entry;
    return () => {
      if (!e.listeners.delete(listener) || e.listeners.size > 0) return;
      // Deferred one macrotask so an unsubscribe immediately followed by a subscribe (React
      // Strict Mode's double effects, a component swapped for another) keeps the server subscription.
      if (e.teardown === undefined) e.teardown = setTimeout(() => this.#close(e), 0);
    };
  }

  /** Channels with at least one local handler. */
  channels(): string[] {
    return [...this.#entries.values()].filter((e) => e.listeners.size > 0).map((e) => e.channel);
  }

  /** Number of handlers on `channel` (they share one server subscription). */
  listenerCount(channel: string): number {
    return this.#entries.get(channel)?.listeners.size ?? 0;
  }

  /** Publishes from the client (needs a channel that allows client publications). */
  async publish<C extends ChannelOf<S>>(channel: C, data: MessageOf<S, C>): Promise<void> {
    this.connect();
    try {
      await this.centrifuge.publish(channel, data);
    } catch (err) {
      throw toError('subscribe', err, channel);
    }
  }

  /** Calls a server RPC method. */
  async rpc<R = unknown>(method: string, data: unknown = {}): Promise<R> {
    this.connect();
    try {
      return (await this.centrifuge.rpc(method, data)).data as R;
    } catch (err) {
      throw toError('connection', err);
    }
  }

  /** Resolves once connected (connecting if needed); rejects with the error that stopped it. */
  ready(timeoutMs?: number): Promise<void> {
    this.connect();
    return this.centrifuge.ready(timeoutMs).catch((err: unknown) => {
      throw toError('connection', err);
    });
  }

  /** Connects now instead of waiting for the first subscription. */
  connect(): void {
    if (this.#closed) throw new RealtimeError('usage', 'connect on a closed Realtime instance');
    if (this.centrifuge.state === 'disconnected') {
      this.#tokenFailures = 0;
      this.centrifuge.connect();
    }
  }

  /** Disconnects; subscriptions are kept and resume (with recovery) on the next connect. */
  disconnect(): void {
    this.centrifuge.disconnect();
  }

  /** Ends every subscription and the connection for good. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of [...this.#entries.values()]) {
      e.listeners.clear();
      this.#close(e);
    }
    this.centrifuge.disconnect();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #error(err: RealtimeError, entry?: Entry): void {
    if (entry) for (const l of [...entry.listeners]) l.opts?.onError?.(err);
    this.#events.emit('error', err);
  }

  async #fetchToken(): Promise<string> {
    const getToken = this.#options.getToken!;
    let token: string | null | undefined;
    try {
      token = await getToken();
    } catch (err) {
      if (err instanceof UnauthorizedError || err instanceof CentrifugeUnauthorizedError) {
        this.#tokenRefusalReported = true;
        this.#error(new RealtimeError('unauthorized', `getToken refused: ${(err as Error).message}`, { code: 1, cause: err }));
        throw new CentrifugeUnauthorizedError(String((err as Error).message));
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
    c.on('state', (ctx) => {
      this.#state.set(ctx.newState as ConnectionState);
      this.#events.emit('state', ctx.newState as ConnectionState);
    });
    c.on('connected', (ctx) => {
      this.#events.emit('connected', { client: ctx.client });
    });
    c.on('disconnected', (ctx) => {
      this.#events.emit('disconnected', { code: ctx.code, reason: ctx.reason });
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
      this.#events.emit('subscribed', { channel: ctx.channel, recovered: ctx.recovered, wasRecovering: ctx.wasRecovering });
      if (again && !(ctx.wasRecovering && ctx.recovered)) this.#events.emit('resync', { channel: ctx.channel, reason: ctx.wasRecovering ? 'unrecovered' : 'not-recoverable' });
    });
    c.on('unsubscribed', (ctx) => {
      this.#serverSubs.delete(ctx.channel);
    });
    c.on('publication', (ctx) => {
      const mctx: MessageContext = { channel: ctx.channel };
      if (ctx.offset !== undefined) mctx.offset = ctx.offset;
      if (ctx.info !== undefined) mctx.info = ctx.info;
      if (ctx.tags !== undefined) mctx.tags = ctx.tags;
      this.#events.emit('serverPublication', { channel: ctx.channel, data: ctx.data, ctx: mctx }, (err) =>
        this.#error(new RealtimeError('handler', `serverPublication listener threw: ${errMessage(err)}`, { channel: ctx.channel, cause: err })),
      );
    });
    c.on('error', (ctx) => {
      // Token fetch failures are reported by #fetchToken with more detail.
      if (ctx.type === 'connectToken' || ctx.type === 'refreshToken') return;
      const code = ctx.error?.code;
      this.#error(new RealtimeError('connection', `${ctx.type}: ${ctx.error?.message ?? 'error'}`, code === undefined ? {} : { code }));
    });
  }

  #open(channel: string): Entry {
    const existing = this.centrifuge.getSubscription(channel);
    if (existing) this.centrifuge.removeSubscription(existing);
    const getSubToken = this.#options.getSubscriptionToken;
    const sub = this.centrifuge.newSubscription(channel, getSubToken ? { getToken: (ctx) => getSubToken(ctx.channel) } : {});
    const entry: Entry = { channel, sub, listeners: new Set(), subscribedOnce: false, teardown: undefined };
    sub.on('publication', (ctx: PublicationContext) => this.#dispatch(entry, ctx));
    sub.on('subscribed', (ctx: SubscribedContext) => this.#subscribed(entry, ctx));
    sub.on('unsubscribed', (ctx) => {
      if (ctx.code === 0) return; // we unsubscribed
      this.#error(new RealtimeError('subscribe', `unsubscribed from ${channel}: ${ctx.reason}`, { code: ctx.code, channel }), entry);
    });
    sub.on('error', (ctx) => {
      const code = ctx.error?.code;
      this.#error(new RealtimeError('subscribe', `${ctx.type} on ${channel}: ${ctx.error?.message ?? 'error'}`, code === undefined ? { channel } : { code, channel }), entry);
    });
    this.#entries.set(channel, entry);
    sub.subscribe();
    return entry;
  }

  #close(entry: Entry): void {
    entry.teardown = undefined;
    if (entry.listeners.size > 0 || this.#entries.get(entry.channel) !== entry) return;
    this.#entries.delete(entry.channel);
    this.centrifuge.removeSubscription(entry.sub); // unsubscribes, then forgets it
    entry.sub.removeAllListeners();
  }

  #dispatch(entry: Entry, ctx: PublicationContext): void {
    const mctx: MessageContext = { channel: ctx.channel };
    if (ctx.offset !== undefined) mctx.offset = ctx.offset;
    if (ctx.info !== undefined) mctx.info = ctx.info;
    if (ctx.tags !== undefined) mctx.tags = ctx.tags;
    // centrifuge disconnects for good when an event handler throws: catch and report instead.
    for (const l of entry.listeners) {
      try {
        l.handler(ctx.data as never, mctx);
      } catch (err) {
        this.#error(new RealtimeError('handler', `handler for ${entry.channel} threw: ${errMessage(err)}`, { channel: entry.channel, cause: err }));
      }
    }
  }

  #subscribed(entry: Entry, ctx: SubscribedContext): void {
    const again = entry.subscribedOnce;
    entry.subscribedOnce = true;
    this.#events.emit('subscribed', { channel: entry.channel, recovered: ctx.recovered, wasRecovering: ctx.wasRecovering });
    if (!again || (ctx.wasRecovering && ctx.recovered)) return;
    const ev: ResyncEvent = { channel: entry.channel, reason: ctx.wasRecovering ? 'unrecovered' : 'not-recoverable' };
    for (const l of [...entry.listeners]) {
      try {
        l.opts?.onResync?.(ev);
      } catch (err) {
        this.#error(new RealtimeError('handler', `onResync for ${entry.channel} threw: ${errMessage(err)}`, { channel: entry.channel, cause: err }));
      }
    }
    this.#events.emit('resync', ev, (err) => this.#error(new RealtimeError('handler', `resync listener threw: ${errMessage(err)}`, { channel: entry.channel, cause: err })));
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toError(kind: 'connection' | 'subscribe', err: unknown, channel?: string): RealtimeError {
  if (err instanceof RealtimeError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const opts: { code?: number; channel?: string; cause?: unknown } = { cause: err };
  if (typeof e?.code === 'number') opts.code = e.code;
  if (channel !== undefined) opts.channel = channel;
  return new RealtimeError(kind, typeof e?.message === 'string' ? e.message : String(err), opts);
}

/** A client with its own connection (connects on the first subscription). */
export function createRealtime<S = AnySchema>(options: RealtimeOptions): Realtime<S> {
  return new Realtime<S>(options);
}
