/**
 * @switchboard/vue: Vue 3 composables over @switchboard/client.
 *
 *   const { connected, on } = useLiveUpdate('wss://example.com/connection/websocket', { getToken });
 *   on('trpc:user:42', (msg) => refetch());
 *
 * Every subscription made in a component (or effect scope) ends when the scope is disposed, and
 * every component that asks for the same url shares one connection.
 */
import {
  computed,
  getCurrentScope,
  inject,
  onScopeDispose,
  provide,
  shallowRef,
  toValue,
  watch,
  type App,
  type ComputedRef,
  type InjectionKey,
  type MaybeRefOrGetter,
  type Ref,
} from 'vue';
import {
  Realtime,
  RealtimeError,
  type AnyRealtime,
  type AnySchema,
  type ChannelOf,
  type ConnectionState,
  type MessageHandler,
  type MessageOf,
  type RealtimeOptions,
  type SubscribeOptions,
} from '@switchboard/client';

export const RealtimeKey: InjectionKey<AnyRealtime> = Symbol('switchboard.realtime');

/** Makes `realtime` the instance `useSubscription` and `useConnectionState` use in this component's subtree. */
export function provideRealtime(realtime: AnyRealtime): void {
  provide(RealtimeKey, realtime);
}

/** `app.use(createRealtimePlugin({ url, getToken }))`: one instance for the whole app. */
export function createRealtimePlugin(source: AnyRealtime | RealtimeOptions): { install(app: App): void; realtime: AnyRealtime } {
  const realtime = source instanceof Realtime ? source : new Realtime(source);
  return {
    realtime,
    install(app: App) {
      app.provide(RealtimeKey, realtime);
    },
  };
}

interface Shared {
  realtime: AnyRealtime;
  users: number;
  closeTimer: ReturnType<typeof setTimeout> | undefined;
}

const shared = new Map<string, Shared>();

/**
 * The instance shared by every `useLiveUpdate(url)` caller: created by the first one (its options
 * win), closed a tick after the last scope using it is disposed.
 */
function acquire(url: string, options: Omit<RealtimeOptions, 'url'>): Shared {
  let s = shared.get(url);
  if (!s || s.realtime.closed) {
    s = { realtime: new Realtime({ ...options, url }), users: 0, closeTimer: undefined };
    shared.set(url, s);
  }
  if (s.closeTimer !== undefined) {
    clearTimeout(s.closeTimer);
    s.closeTimer = undefined;
  }
  s.users++;
  return s;
}

function release(url: string, s: Shared): void {
  if (--s.users > 0 || s.closeTimer !== undefined) return;
  s.closeTimer = setTimeout(() => {
    s.closeTimer = undefined;
    if (s.users > 0) return;
    s.realtime.close();
    if (shared.get(url) === s) shared.delete(url);
  }, 0);
}

/** The connection state as a read-only ref, following `realtime` until the scope is disposed. */
export function useConnectionState(realtime?: AnyRealtime): Readonly<Ref<ConnectionState>> {
  const rt = realtime ?? injectRealtime();
  const state = shallowRef<ConnectionState>(rt.state.getSnapshot());
  const off = rt.state.subscribe(() => {
    state.value = rt.state.getSnapshot();
  });
  if (getCurrentScope()) onScopeDispose(off);
  return state;
}

function injectRealtime(): AnyRealtime {
  const rt = inject(RealtimeKey, null);
  if (!rt) throw new RealtimeError('usage', 'no Realtime instance: install createRealtimePlugin(...), call provideRealtime(...), or pass { realtime }');
  return rt;
}

export interface LiveUpdate<S> {
  /** True while connected. */
  connected: ComputedRef<boolean>;
  /** `connecting | connected | disconnected`. */
  state: Readonly<Ref<ConnectionState>>;
  /** The last error the client reported (unauthorized, token, subscribe...), or null. */
  error: Readonly<Ref<RealtimeError | null>>;
  /** Subscribes for the lifetime of the current scope; also returns an unsubscribe function. */
  // a property, not a method: it is destructured (`const { on } = useLiveUpdate(...)`)
  on: <C extends ChannelOf<S>>(channel: C, handler: MessageHandler<MessageOf<S, C>>, opts?: SubscribeOptions) => () => void;
  realtime: Realtime<S>;
}

export interface LiveUpdateOptions extends Omit<RealtimeOptions, 'url'> {
  /** Use this instance instead of the one shared per url. */
  realtime?: AnyRealtime;
}

interface Registration<S> {
  /** Subscribes on an instance (the current one, or the next after a url change). */
  start: (realtime: Realtime<S>) => () => void;
  off: () => void;
}

/**
 * As in the hub seed: `const { connected, on } = useLiveUpdate(url)`. `url` may be a ref or getter:
 * when it changes, the scope moves to the instance for the new url (every `on` subscription moves
 * with it, `state` follows it) and lets go of the old one (closed a tick later if nobody else uses it).
 */
export function useLiveUpdate<S = AnySchema>(url: MaybeRefOrGetter<string>, options: LiveUpdateOptions = {}): LiveUpdate<S> {
  const { realtime: given, ...rest } = options;
  const state = shallowRef<ConnectionState>('disconnected');
  const error = shallowRef<RealtimeError | null>(null);
  const regs = new Set<Registration<S>>();
  let current!: { url: string; shared: Shared | undefined; realtime: Realtime<S>; offs: (() => void)[] };
  const attach = (u: string): void => {
    const sh = given ? undefined : acquire(u, rest);
    const realtime = (given ?? sh!.realtime) as Realtime<S>;
    state.value = realtime.state.getSnapshot();
    const offs = [
      realtime.state.subscribe(() => {
        state.value = realtime.state.getSnapshot();
      }),
      realtime.on('error', (e) => {
        error.value = e;
      }),
      realtime.on('connected', () => {
        error.value = null;
      }),
    ];
    for (const r of regs) r.off = r.start(realtime);
    current = { url: u, shared: sh, realtime, offs };
  };
  const detach = (): void => {
    for (const r of regs) r.off();
    for (const off of current.offs) off();
    if (current.shared) release(current.url, current.shared);
  };
  attach(toValue(url));
  const scoped = getCurrentScope() !== undefined;
  if (scoped) {
    if (!given) {
      watch(
        () => toValue(url),
        (u) => {
          if (u === current.url) return;
          detach();
          attach(u);
        },
      );
    }
    onScopeDispose(() => {
      detach();
      regs.clear();
    });
  }
  return {
    connected: computed(() => state.value === 'connected'),
    state,
    error,
    get realtime() {
      return current.realtime;
    },
    on(channel, handler, opts) {
      const start = (rt: Realtime<S>): (() => void) => rt.subscribe(channel, handler, opts);
      const r: Registration<S> = { start, off: start(current.realtime) };
      regs.add(r);
      return () => {
        if (regs.delete(r)) r.off();
      };
    },
  };
}

export interface UseSubscriptionOptions extends SubscribeOptions {
  /** The instance to use (default: the provided one). */
  realtime?: AnyRealtime;
}

/**
 * Subscribes `handler` to `channel` for the lifetime of the current scope. `channel` may be a ref or
 * a getter: the subscription follows it (null/undefined/'' means "not subscribed").
 */
export function useSubscription<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: MaybeRefOrGetter<C | null | undefined>,
  handler: MessageHandler<MessageOf<S, C>>,
  options: UseSubscriptionOptions = {},
): void {
  const { realtime, ...subOpts } = options;
  const rt = (realtime ?? injectRealtime()) as Realtime<S>;
  watch(
    () => toValue(channel),
    (ch, _old, onCleanup) => {
      if (!ch) return;
      onCleanup(rt.subscribe(ch, handler, subOpts));
    },
    { immediate: true },
  );
}

export type { ConnectionState, Realtime, RealtimeOptions, MessageHandler, MessageContext, ResyncEvent, SubscribeOptions } from '@switchboard/client';
