/**
 * @switchboard/react: React bindings over @switchboard/client, on useSyncExternalStore.
 *
 *   <RealtimeProvider url={wsUrl} getToken={getToken}>...</RealtimeProvider>
 *   useSubscription(Channels.user(id), () => queryClient.invalidateQueries(...));
 *   const state = useConnectionState(); // 'connecting' | 'connected' | 'disconnected'
 *
 * Handlers are kept in a ref (re-renders never resubscribe), and subscriptions survive Strict
 * Mode's double effects without a server round trip (the client defers the last unsubscribe a tick).
 */
import {
  createContext,
  createElement,
  useContext,
  useEffect,
  useLayoutEffect,
  useRef,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import {
  Realtime,
  RealtimeError,
  type AnyRealtime,
  type AnySchema,
  type ChannelOf,
  type ConnectionState,
  type MessageContext,
  type MessageHandler,
  type MessageOf,
  type RealtimeOptions,
  type ResyncEvent,
} from '@switchboard/client';

const RealtimeContext = createContext<AnyRealtime | null>(null);

const useIsomorphicLayoutEffect = typeof window === 'undefined' ? useEffect : useLayoutEffect;

export type RealtimeProviderProps =
  | { client: AnyRealtime; children?: ReactNode }
  | (RealtimeOptions & { client?: undefined; children?: ReactNode });

/** What identifies the connection an owned instance makes: a change recreates the instance. */
function connectionKey(o: RealtimeOptions): string {
  return JSON.stringify([o.url, o.shareConnection ?? false, o.name ?? null]);
}

/**
 * Gives its subtree a Realtime instance: the `client` you pass (you own it), or one it creates from
 * the options (it connects on the first subscription and closes when the provider unmounts).
 *
 * A changed `url` (or `shareConnection`, `name`) makes a new instance: the subscriptions of the
 * subtree move to it (their effects depend on the instance) and the old one closes a tick later.
 * Other options are read when the instance is made, except `getToken`, which is always the latest.
 * Strict Mode's double effects and fast refresh re-run effects: the close is deferred a macrotask
 * and cancelled when the same instance is used again, so neither reaches the server.
 */
export function RealtimeProvider(props: RealtimeProviderProps): ReactNode {
  const latest = useRef(props);
  latest.current = props;
  const holder = useRef<{ key: string; realtime: AnyRealtime } | undefined>(undefined);
  let owned: AnyRealtime | undefined;
  if (!props.client) {
    const { children: _c, client: _k, ...options } = props;
    const key = connectionKey(options);
    // Made during render: an instance is inert until first used, so one React discards costs nothing.
    if (!holder.current || holder.current.key !== key || holder.current.realtime.closed) {
      const opts: RealtimeOptions = { ...(options) };
      if (opts.getToken) opts.getToken = () => (latest.current as RealtimeOptions).getToken?.();
      holder.current = { key, realtime: new Realtime(opts) };
    }
    owned = holder.current.realtime;
  }
  const realtime = props.client ?? owned!;
  const closing = useRef(new Map<AnyRealtime, ReturnType<typeof setTimeout>>());
  useEffect(() => {
    if (!owned) return;
    const timers = closing.current;
    const pending = timers.get(owned);
    if (pending !== undefined) {
      clearTimeout(pending);
      timers.delete(owned);
    }
    return () => {
      timers.set(
        owned,
        setTimeout(() => {
          timers.delete(owned);
          owned.close();
        }, 0),
      );
    };
  }, [owned]);
  return createElement(RealtimeContext.Provider, { value: realtime }, props.children);
}

/** The nearest provider's instance. */
export function useRealtime<S = AnySchema>(): Realtime<S> {
  const rt = useContext(RealtimeContext);
  if (!rt) throw new RealtimeError('usage', 'useRealtime must be used inside <RealtimeProvider>');
  return rt as Realtime<S>;
}

/** `connecting | connected | disconnected`, re-rendering on change. */
export function useConnectionState(realtime?: AnyRealtime): ConnectionState {
  const ctx = useContext(RealtimeContext);
  const rt = realtime ?? ctx;
  if (!rt) throw new RealtimeError('usage', 'useConnectionState must be used inside <RealtimeProvider> or given an instance');
  return useSyncExternalStore(rt.state.subscribe, rt.state.getSnapshot, rt.state.getSnapshot);
}

export interface UseSubscriptionOptions {
  /** Called when the channel may have missed messages: refetch / invalidate queries here. */
  onResync?: (event: ResyncEvent) => void;
  onError?: (error: RealtimeError) => void;
  /** The instance to use (default: the provider's). */
  realtime?: AnyRealtime;
}

/**
 * Calls `handler` with each message on `channel` while the component is mounted. A null or empty
 * channel subscribes to nothing. The latest `handler` is always the one called.
 */
export function useSubscription<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: C | null | undefined | false,
  handler: MessageHandler<MessageOf<S, C>>,
  options: UseSubscriptionOptions = {},
): void {
  const ctx = useContext(RealtimeContext);
  const rt = (options.realtime ?? ctx) as Realtime<S> | null;
  if (!rt) throw new RealtimeError('usage', 'useSubscription must be used inside <RealtimeProvider> or given { realtime }');
  const latest = useRef({ handler, options });
  useIsomorphicLayoutEffect(() => {
    latest.current = { handler, options };
  });
  useEffect(() => {
    if (!channel) return;
    return rt.subscribe(channel, (data: MessageOf<S, C>, mctx: MessageContext) => latest.current.handler(data, mctx), {
      onResync: (e) => latest.current.options.onResync?.(e),
      onError: (e) => latest.current.options.onError?.(e),
    });
  }, [rt, channel]);
}

/**
 * Hooks bound to a channel schema, so handlers are typed without repeating generics:
 *   const { useSubscription } = createRealtimeHooks<MySchema>();
 *   useSubscription('chat:lobby', (m) => m.text); // m: MySchema['chat:lobby']
 */
export function createRealtimeHooks<S>(): {
  useRealtime: () => Realtime<S>;
  useSubscription: <C extends ChannelOf<S>>(channel: C | null | undefined | false, handler: MessageHandler<MessageOf<S, C>>, options?: UseSubscriptionOptions) => void;
  useConnectionState: () => ConnectionState;
} {
  return {
    useRealtime: () => useRealtime<S>(),
    useSubscription: (channel, handler, options) => useSubscription<S, typeof channel & ChannelOf<S>>(channel, handler, options),
    useConnectionState: () => useConnectionState(),
  };
}

export type { ConnectionState, Realtime, RealtimeOptions, MessageHandler, MessageContext, ResyncEvent } from '@switchboard/client';
