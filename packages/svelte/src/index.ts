/**
 * @switchboard/svelte: Svelte stores over @switchboard/client (the store contract, so they work in
 * Svelte 4 and 5, with `$store` syntax):
 *
 *   setRealtime(createRealtime({ url, getToken }));           // in a root component
 *   const state = connectionState();                           // $state: 'connecting' | 'connected' | 'disconnected'
 *   const last = latestMessage<Schema, 'chat:lobby'>('chat:lobby'); // $last: the latest message (undefined before one)
 *
 * A message store subscribes to its channel while it has subscribers (a component using `$last`)
 * and unsubscribes when the last one goes, like any Svelte readable store.
 */
import { getContext, setContext } from 'svelte';
import { RealtimeError, type AnySchema, type ChannelOf, type ConnectionState, type MessageContext, type MessageOf, type AnyRealtime, type RealtimeOf, type SubscribeOptions } from '@switchboard/client';

/** Svelte's readable store contract. */
export interface Readable<T> {
  subscribe(run: (value: T) => void): () => void;
}

const KEY = Symbol.for('switchboard.realtime');

/** Makes `realtime` the instance of this component's subtree (call during component init). */
export function setRealtime<S>(realtime: RealtimeOf<S>): RealtimeOf<S> {
  setContext(KEY, realtime);
  return realtime;
}

/** The instance set by an ancestor with `setRealtime` (call during component init). */
export function getRealtime<S = AnySchema>(): RealtimeOf<S> {
  const rt = getContext<RealtimeOf<S> | undefined>(KEY);
  if (!rt) throw new RealtimeError('usage', 'no Realtime instance: call setRealtime(realtime) in an ancestor component, or pass the instance');
  return rt;
}

/** A store holding `value`, started when it gets its first subscriber and stopped after its last. */
function readable<T>(initial: T, start: (set: (v: T) => void) => () => void): Readable<T> {
  let value = initial;
  const runs = new Set<(v: T) => void>();
  let stop: (() => void) | undefined;
  const set = (v: T): void => {
    if (Object.is(v, value) && typeof v !== 'object') return;
    value = v;
    for (const run of [...runs]) run(v);
  };
  return {
    subscribe(run) {
      runs.add(run);
      if (runs.size === 1) stop = start(set);
      run(value);
      return () => {
        if (!runs.delete(run) || runs.size > 0) return;
        stop?.();
        stop = undefined;
      };
    },
  };
}

/** The connection state as a store. */
export function connectionState(realtime: AnyRealtime = getRealtime()): Readable<ConnectionState> {
  return readable(realtime.getState(), (set) => {
    set(realtime.getState());
    return realtime.state.subscribe(() => set(realtime.getState()));
  });
}

export interface LatestMessageOptions extends SubscribeOptions {
  realtime?: AnyRealtime;
}

/** The latest message on `channel` (undefined until one arrives), subscribed while the store is used. */
export function latestMessage<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(channel: C, options: LatestMessageOptions = {}): Readable<MessageOf<S, C> | undefined> {
  const { realtime = getRealtime<S>(), ...subOpts } = options;
  return readable<MessageOf<S, C> | undefined>(undefined, (set) => (realtime as RealtimeOf<S>).subscribe(channel, (m) => set(m), subOpts));
}

/** Every message on `channel` with its context, oldest first (at most `limit`, default 100). */
export function messages<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: C,
  options: LatestMessageOptions & { limit?: number } = {},
): Readable<{ data: MessageOf<S, C>; ctx: MessageContext }[]> {
  const { realtime = getRealtime<S>(), limit = 100, ...subOpts } = options;
  return readable<{ data: MessageOf<S, C>; ctx: MessageContext }[]>([], (set) => {
    let list: { data: MessageOf<S, C>; ctx: MessageContext }[] = [];
    return (realtime as RealtimeOf<S>).subscribe(channel, (data, ctx) => set((list = [...list, { data, ctx }].slice(-limit))), subOpts);
  });
}
