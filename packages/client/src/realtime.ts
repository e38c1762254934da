/**
 * The application-facing client, built on the official `centrifuge` SDK (reconnect with backoff,
 * recovery, token refresh all come from it). What this adds: lazy connect on the first
 * subscription, reference-counted subscriptions (many handlers, one server subscription), typed
 * channels and handlers (from a schema type or a runtime-checked contract), an observable
 * connection state, typed errors instead of silent retries, a "resync" event whenever a
 * subscription may have missed messages, and (opt-in) one connection shared by every tab.
 */
import type { Centrifuge, ClientInfo, Options as CentrifugeOptions } from 'centrifuge';
import { check, formatIssues, type CheckResult, type Contract, type ContractInput, type ContractOutput } from '@switchboard/contract';
import { RealtimeError } from './errors.js';
import { Emitter, ValueStore, type Store } from './store.js';
import { DirectLink, errMessage } from './direct-link.js';
import { SharedLink, canShareConnection } from './tabs/shared-link.js';
import type { ConnectionRole, ConnectionState, Link, LinkPublication, LinkSink, LinkSubscribed, StreamPosition } from './link.js';
import type { AnySchema, ChannelOf, MessageOf } from './channels.js';

export type { ConnectionRole, ConnectionState, StreamPosition } from './link.js';

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
  /**
   * One connection for every tab of this origin (browsers with Web Locks and BroadcastChannel; a
   * tab without them, and Node, keeps its own connection). `true` groups tabs by `url`; a string
   * adds a group key (use the user id when tabs of one origin may belong to different users: the
   * leader tab's `getToken` authenticates everyone's subscriptions).
   */
  shareConnection?: boolean | string;
  /**
   * A channel contract (`defineContract` from `@switchboard/contract`): messages on a channel it
   * covers are validated before any handler sees them (a failure is a `validation` error, never a
   * handler call), and `publish` validates before sending.
   */
  contract?: Contract;
  /**
   * Acknowledged delivery (namespaces with `acknowledge`): this client's own consumer id, sent in
   * every subscribe (`data.ackClient`), so what it has not acknowledged is tracked for it, not for
   * all of the user's clients, and follows it across reconnects (to any node sharing the server's
   * ack store). Keep it stable per device or installation (persist it). 1-64 characters of
   * `A-Z a-z 0-9 . _ : -`. Without it, acks are per user. Tabs sharing a connection share it.
   */
  ackClient?: string;
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
  /** Shared connections: this tab became the leader (it now holds the connection). */
  leader: { tab: string };
}

export interface SubscribeOptions {
  /** Called when this channel needs a resync (see `ResyncEvent`). */
  onResync?: (event: ResyncEvent) => void;
  /** Called with this channel's subscription and validation errors (they also go to the instance's `error` event). */
  onError?: (error: RealtimeError) => void;
}

interface Listener {
  handler: MessageHandler<never>;
  opts: SubscribeOptions | undefined;
}

interface Entry {
  channel: string;
  listeners: Set<Listener>;
  /** A subscribed event came since the entry was opened (later ones are resubscriptions). */
  subscribedOnce: boolean;
  teardown: ReturnType<typeof setTimeout> | undefined;
  /** The last position processed: publications at or before it are duplicates. */
  pos: StreamPosition | undefined;
  /** Pending asynchronous validations, so messages stay in order. */
  queue: Promise<void> | undefined;
}

/**
 * A Realtime whatever its channel schema, for code that holds any of them (framework bindings, the
 * manager). Realtime is invariant in its schema, so `unknown` would not accept a typed one.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyRealtime = Realtime<any, any>;

/** A Realtime that receives schema `S`, whatever it publishes (bindings that only subscribe). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see AnyRealtime
export type RealtimeOf<S> = Realtime<S, any>;

export class Realtime<S = AnySchema, P = S> {
  /** The connection state as an observable value (`useSyncExternalStore(state.subscribe, state.getSnapshot)`). */
  readonly state: Store<ConnectionState>;
  readonly #state = new ValueStore<ConnectionState>('disconnected');
  readonly #events = new Emitter<RealtimeEvents>();
  readonly #entries = new Map<string, Entry>();
  readonly #contract: Contract | undefined;
  readonly #link: Link;
  #closed = false;
  /** Acks waiting for the end of the turn, per channel. */
  readonly #acks = new Map<string, { offsets: number[]; done: [() => void, (e: unknown) => void][] }>();

  constructor(options: RealtimeOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') throw new RealtimeError('usage', 'createRealtime: `url` is required');
    if (options.ackClient !== undefined && (typeof options.ackClient !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(options.ackClient))) {
      throw new RealtimeError('usage', 'createRealtime: `ackClient` is 1-64 characters of A-Z a-z 0-9 . _ : -');
    }
    this.state = this.#state;
    this.#contract = options.contract;
    const sink = this.#sink();
    this.#link = options.shareConnection && canShareConnection() ? new SharedLink(options, sink) : new DirectLink(options, sink);
  }

  /**
   * The underlying centrifuge client (presence, history, RPC, publish are available on it). With a
   * shared connection only the leader tab has one: elsewhere this throws a `usage` error.
   */
  get centrifuge(): Centrifuge {
    const c = this.#link.centrifuge;
    if (!c) throw new RealtimeError('usage', 'this tab shares another tab\'s connection: use publish/rpc, or the leader tab\'s centrifuge');
    return c;
  }

  /** `own` (a connection of its own), or `leader`/`follower` with `shareConnection`. */
  get role(): ConnectionRole {
    return this.#link.role;
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
    if (!entry) {
      entry = { channel, listeners: new Set(), subscribedOnce: false, teardown: undefined, pos: undefined, queue: undefined };
      this.#entries.set(channel, entry);
    } else if (entry.teardown !== undefined) {
      clearTimeout(entry.teardown);
      entry.teardown = undefined;
    }
    const listener: Listener = { handler: handler, opts };
    entry.listeners.add(listener);
    // Idempotent: subscribes once, and tries again a subscription the server refused for good.
    this.#link.open(channel);
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

  /** Publishes from the client (needs a channel that allows client publications); checked against the contract first. */
  async publish<C extends ChannelOf<P>>(channel: C, data: MessageOf<P, C>): Promise<void> {
    if (this.#closed) throw new RealtimeError('usage', 'publish on a closed Realtime instance', { channel });
    if (this.#contract) {
      const r = await check(this.#contract, channel, data);
      if (!r.ok) throw validationError(channel, r, 'refused to publish');
    }
    await this.#link.publish(channel, data);
  }

  /** Calls a server RPC method. */
  async rpc<R = unknown>(method: string, data: unknown = {}): Promise<R> {
    if (this.#closed) throw new RealtimeError('usage', 'rpc on a closed Realtime instance');
    return (await this.#link.rpc(method, data)) as R;
  }

  /**
   * Acknowledges publications of `channel` by offset (`ctx.offset` of the handler), on a namespace
   * with acknowledged delivery (`acknowledge`): unacknowledged ones are sent again after the
   * namespace's timeout and when the connection comes back. Acks for one channel made in the same
   * turn go to the server in one call. Rejects with the server's error (107: an offset that is not
   * pending for this consumer, or the channel has no acknowledged delivery). Acks are per user, or
   * per client with the `ackClient` option.
   */
  ack(channel: string, offsets: number | readonly number[]): Promise<void> {
    if (this.#closed) return Promise.reject(new RealtimeError('usage', 'ack on a closed Realtime instance', { channel }));
    let batch = this.#acks.get(channel);
    if (batch === undefined) {
      const b = { offsets: [] as number[], done: [] as [() => void, (e: unknown) => void][] };
      this.#acks.set(channel, (batch = b));
      queueMicrotask(() => {
        this.#acks.delete(channel);
        this.#link.rpc('$ack', { channel, offsets: b.offsets }).then(
          () => b.done.forEach(([ok]) => ok()),
          (err: unknown) => b.done.forEach(([, fail]) => fail(err)),
        );
      });
    }
    if (typeof offsets === 'number') batch.offsets.push(offsets);
    else batch.offsets.push(...offsets);
    return new Promise((resolve, reject) => batch.done.push([resolve, reject]));
  }

  /** Resolves once connected (connecting if needed); rejects with the error that stopped it. */
  ready(timeoutMs?: number): Promise<void> {
    if (this.#closed) return Promise.reject(new RealtimeError('usage', 'ready on a closed Realtime instance'));
    return this.#link.ready(timeoutMs);
  }

  /** Connects now instead of waiting for the first subscription. */
  connect(): void {
    if (this.#closed) throw new RealtimeError('usage', 'connect on a closed Realtime instance');
    this.#link.connect();
  }

  /** Disconnects; subscriptions are kept and resume (with recovery) on the next connect. */
  disconnect(): void {
    this.#link.disconnect();
  }

  /** Ends every subscription and the connection for good (a shared connection passes to another tab). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of [...this.#entries.values()]) {
      e.listeners.clear();
      if (e.teardown !== undefined) clearTimeout(e.teardown);
    }
    this.#entries.clear();
    this.#link.shutdown();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #error(err: RealtimeError, entry?: Entry): void {
    if (entry) for (const l of [...entry.listeners]) l.opts?.onError?.(err);
    this.#events.emit('error', err);
  }

  #close(entry: Entry): void {
    entry.teardown = undefined;
    if (entry.listeners.size > 0 || this.#entries.get(entry.channel) !== entry) return;
    this.#entries.delete(entry.channel);
    this.#link.close(entry.channel);
  }

  #sink(): LinkSink {
    return {
      event: (name, value) => {
        if (name === 'state') this.#state.set(value as ConnectionState);
        if (name === 'serverPublication') {
          const p = value as LinkPublication;
          this.#events.emit('serverPublication', { channel: p.channel, data: p.data, ctx: messageContext(p) }, (err) =>
            this.#error(new RealtimeError('handler', `serverPublication listener threw: ${errMessage(err)}`, { channel: p.channel, cause: err })),
          );
          return;
        }
        this.#events.emit(name, value as never, (err) => this.#error(new RealtimeError('handler', `${name} listener threw: ${errMessage(err)}`, { cause: err })));
      },
      publication: (p) => this.#publication(p),
      subscribed: (s) => this.#subscribed(s),
      channelError: (channel, err) => {
        const entry = this.#entries.get(channel);
        if (entry) this.#error(err, entry);
      },
      position: (channel) => this.#entries.get(channel)?.pos,
      subscribedBefore: (channel) => this.#entries.get(channel)?.subscribedOnce === true,
      channels: () => this.channels(),
    };
  }

  #publication(p: LinkPublication): void {
    const entry = this.#entries.get(p.channel);
    // Only channels subscribed here, and (with a shared connection) only once their subscription
    // is established: what came before is covered by the position the subscription started from.
    if (!entry || entry.listeners.size === 0 || !entry.subscribedOnce) return;
    if (p.offset !== undefined && p.offset > 0) {
      // Delivered once: a replay after a reconnect or a hand-over between tabs repeats what was seen.
      if (entry.pos && p.offset <= entry.pos.offset) return;
      entry.pos = { offset: p.offset, epoch: entry.pos?.epoch ?? '' };
    }
    if (!this.#contract) return this.#dispatch(entry, p, p.data);
    const r = check(this.#contract, p.channel, p.data);
    if (!(r instanceof Promise) && entry.queue === undefined) return this.#validated(entry, p, r);
    const queue: Promise<void> = (entry.queue ?? Promise.resolve())
      .then(() => r)
      .then((res) => this.#validated(entry, p, res))
      .finally(() => {
        if (entry.queue === queue) entry.queue = undefined;
      });
    entry.queue = queue;
  }

  #validated(entry: Entry, p: LinkPublication, r: CheckResult): void {
    if (r.ok) this.#dispatch(entry, p, r.value);
    else this.#error(validationError(p.channel, r, 'dropped a message that'), entry);
  }

  #dispatch(entry: Entry, p: LinkPublication, data: unknown): void {
    const mctx = messageContext(p);
    // centrifuge disconnects for good when an event handler throws: catch and report instead.
    for (const l of [...entry.listeners]) {
      try {
        l.handler(data as never, mctx);
      } catch (err) {
        this.#error(new RealtimeError('handler', `handler for ${entry.channel} threw: ${errMessage(err)}`, { channel: entry.channel, cause: err }));
      }
    }
  }

  #subscribed(s: LinkSubscribed): void {
    const entry = this.#entries.get(s.channel);
    if (!entry || entry.listeners.size === 0) return;
    const again = entry.subscribedOnce;
    entry.subscribedOnce = true;
    const recovered = s.wasRecovering && s.recovered;
    // Keep our own position through a recovery (the replay is de-duplicated against it); take the
    // server's when starting out, when the stream changed (epoch) or when recovery failed.
    if (s.position && (!again || !recovered || !entry.pos || entry.pos.epoch !== s.position.epoch)) entry.pos = { ...s.position };
    this.#events.emit('subscribed', { channel: s.channel, recovered: s.recovered, wasRecovering: s.wasRecovering });
    if (!again || recovered) return;
    const ev: ResyncEvent = { channel: entry.channel, reason: s.wasRecovering ? 'unrecovered' : 'not-recoverable' };
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

function messageContext(p: LinkPublication): MessageContext {
  const mctx: MessageContext = { channel: p.channel };
  if (p.offset !== undefined) mctx.offset = p.offset;
  if (p.info !== undefined) mctx.info = p.info;
  if (p.tags !== undefined) mctx.tags = p.tags;
  return mctx;
}

function validationError(channel: string, r: Extract<CheckResult, { ok: false }>, what: string): RealtimeError {
  return new RealtimeError('validation', `${what} does not match the contract for ${r.key} on ${channel}: ${formatIssues(r.issues)}`, { channel, issues: r.issues });
}

/** A client with its own connection, or one shared by every tab (`shareConnection`). Connects on the first subscription. */
export function createRealtime<const C extends Contract>(options: RealtimeOptions & { contract: C }): Realtime<ContractOutput<C>, ContractInput<C>>;
export function createRealtime<S = AnySchema>(options: RealtimeOptions): Realtime<S>;
export function createRealtime(options: RealtimeOptions): AnyRealtime {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- the overloads above give the schema
  return new Realtime(options);
}
