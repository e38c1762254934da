/**
 * @switchboard/solid: Solid signals over @switchboard/client.
 *
 *   <RealtimeProvider realtime={createRealtime({ url, getToken })}>...</RealtimeProvider>
 *   const state = createConnectionState();                  // state(): 'connecting' | 'connected' | 'disconnected'
 *   const last = createLatestMessage<Schema, 'chat:lobby'>('chat:lobby'); // last(): the latest message
 *   createSubscription(() => channel(), (msg) => ...);      // follows a reactive channel; null = none
 *
 * Everything made in a component (or root) ends with it (onCleanup).
 */
import { createComponent, createContext, createEffect, createSignal, on, onCleanup, useContext, type Accessor, type JSX } from 'solid-js';
import { RealtimeError, type AnySchema, type ChannelOf, type ConnectionState, type MessageHandler, type MessageOf, type AnyRealtime, type RealtimeOf, type SubscribeOptions } from '@switchboard/client';

const RealtimeContext = createContext<AnyRealtime>();

/** Gives its subtree `realtime`. */
export function RealtimeProvider(props: { realtime: AnyRealtime; children?: JSX.Element }): JSX.Element {
  return createComponent(RealtimeContext.Provider, {
    get value() {
      return props.realtime;
    },
    get children() {
      return props.children;
    },
  });
}

/** The instance of the nearest `RealtimeProvider`. */
export function useRealtime<S = AnySchema>(): RealtimeOf<S> {
  const rt = useContext(RealtimeContext);
  if (!rt) throw new RealtimeError('usage', 'no Realtime instance: wrap the component in <RealtimeProvider realtime={...}> or pass the instance');
  return rt as RealtimeOf<S>;
}

/** The connection state as a signal. */
export function createConnectionState(realtime: AnyRealtime = useRealtime()): Accessor<ConnectionState> {
  const [state, setState] = createSignal<ConnectionState>(realtime.getState());
  onCleanup(realtime.state.subscribe(() => setState(realtime.getState())));
  return state;
}

export interface SolidSubscribeOptions extends SubscribeOptions {
  realtime?: AnyRealtime;
}

type ChannelInput<C> = C | null | undefined | Accessor<C | null | undefined>;

/** Calls `handler` with each message on `channel` (a value or an accessor; null: none) until cleanup. */
export function createSubscription<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: ChannelInput<C>,
  handler: MessageHandler<MessageOf<S, C>>,
  options: SolidSubscribeOptions = {},
): void {
  const { realtime = useRealtime<S>(), ...subOpts } = options;
  const read = typeof channel === 'function' ? (channel) : () => channel;
  createEffect(
    on(read, (ch) => {
      if (!ch) return;
      onCleanup((realtime as RealtimeOf<S>).subscribe(ch, handler, subOpts));
    }),
  );
}

/** The latest message on `channel` as a signal (undefined until one arrives). */
export function createLatestMessage<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(channel: ChannelInput<C>, options: SolidSubscribeOptions = {}): Accessor<MessageOf<S, C> | undefined> {
  const [last, setLast] = createSignal<MessageOf<S, C> | undefined>(undefined, { equals: false });
  createSubscription<S, C>(channel, (m) => setLast(() => m), options);
  return last;
}
