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

/** As in the hub seed: `const { connected, on } = useLiveUpdate(url)`. */
export function useLiveUpdate<S = AnySchema>(url: string, options: LiveUpdateOptions = {}): LiveUpdate<S> {
  const { realtime: given, ...rest } = options;
  const s = given ? undefined : acquire(url, rest);
  const realtime = (given ?? s!.realtime) as Realtime<S>;
  const state = useConnectionState(realtime);
  const connected = computed(() => state.value === 'connected');
  const error = shallowRef<RealtimeError | null>(null);
  const offError = realtime.on('error', (e) => {
    error.value = e;
  });
  const offConnected = realtime.on('connected', () => {
    error.value = null;
  });
  const offs = new Set<() => void>();
  const scoped = getCurrentScope() !== undefined;
  if (scoped) {
    onScopeDispose(() => {
      for (const off of offs) off();
      offs.clear();
      offError();
      offConnected();
      if (s) release(url, s);
    });
  }
  return {
    connected,
    state,
    error,
    realtime,
    on(channel, handler, opts) {
      const off = realtime.subscribe(channel, handler, opts);
      offs.add(off);
      return () => {
        if (offs.delete(off)) off();
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
