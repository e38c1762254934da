/**
 * @switchboard/tanstack-query: TanStack Query caches kept fresh by publications.
 *
 *   const off = syncQueries(realtime, queryClient, Channels.user(42));
 *
 * By default a message with an array `queryKey` invalidates that key (the seed product's
 * `{ type: 'query-invalidation', queryKey }`), and `{ type: 'query-update', queryKey, data }` writes
 * `data` into the cache without a refetch. `map` replaces that mapping. A resync (messages may have
 * been missed: history trimmed, a channel without history reconnected) invalidates every query the
 * channel covers (`covers`, by default every query).
 */
import type { AnySchema, ChannelOf, MessageContext, MessageOf, RealtimeOf, RealtimeError, ResyncEvent } from '@switchboard/client';

/** A TanStack Query key. */
export type QueryKey = readonly unknown[];

/**
 * The part of TanStack Query's `QueryClient` used here (structural, so any v5 build fits: the
 * React, Vue, Svelte and Solid adapters each bring their own copy of query-core).
 */
export interface QueryClient {
  invalidateQueries(filters: { queryKey: QueryKey; exact?: boolean }): Promise<void>;
  setQueryData(queryKey: QueryKey, data: unknown): unknown;
  removeQueries(filters: { queryKey: QueryKey; exact?: boolean }): void;
}

export type QueryAction =
  /** `queryClient.invalidateQueries({ queryKey, exact })`: active queries refetch. */
  | { type: 'invalidate'; queryKey: QueryKey; exact?: boolean }
  /** `queryClient.setQueryData(queryKey, data)`: the cache is updated in place, no refetch. */
  | { type: 'set'; queryKey: QueryKey; data: unknown }
  /** `queryClient.removeQueries({ queryKey })`. */
  | { type: 'remove'; queryKey: QueryKey; exact?: boolean };

export interface QuerySyncOptions<M = unknown> {
  /** message → cache actions (null/undefined: nothing). Default: `defaultQueryActions`. */
  map?: (message: M, ctx: MessageContext) => QueryAction | readonly QueryAction[] | null | undefined | void;
  /** Query key prefixes a resync invalidates (default `[[]]`: every query). */
  covers?: readonly QueryKey[];
  /** Called after a resync's invalidations were issued. */
  onResync?: (event: ResyncEvent) => void;
  /** Subscription and validation errors of the channel. */
  onError?: (error: RealtimeError) => void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** `{ queryKey: [...] }` → invalidate it; `{ type: 'query-update', queryKey, data }` → set it; anything else → nothing. */
export function defaultQueryActions(message: unknown): QueryAction | null {
  if (!isRecord(message) || !Array.isArray(message['queryKey'])) return null;
  const queryKey = message['queryKey'] as QueryKey;
  if (message['type'] === 'query-update' && 'data' in message) return { type: 'set', queryKey, data: message['data'] };
  return { type: 'invalidate', queryKey };
}

/** Applies actions to a query client (exported for custom wiring). */
export function applyQueryActions(queryClient: QueryClient, actions: QueryAction | readonly QueryAction[] | null | undefined | void): void {
  if (!actions) return;
  for (const a of (Array.isArray(actions) ? actions : [actions]) as QueryAction[]) {
    if (a.type === 'invalidate') void queryClient.invalidateQueries(a.exact === undefined ? { queryKey: a.queryKey } : { queryKey: a.queryKey, exact: a.exact });
    else if (a.type === 'set') queryClient.setQueryData(a.queryKey, a.data);
    else if (a.type === 'remove') queryClient.removeQueries(a.exact === undefined ? { queryKey: a.queryKey } : { queryKey: a.queryKey, exact: a.exact });
  }
}

/** Invalidates what a resync covers. */
export function invalidateCovered(queryClient: QueryClient, covers: readonly QueryKey[] = [[]]): void {
  for (const queryKey of covers) void queryClient.invalidateQueries({ queryKey });
}

/** Subscribes `channel` and applies each message to `queryClient`; returns the unsubscribe function. */
export function syncQueries<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  realtime: RealtimeOf<S>,
  queryClient: QueryClient,
  channel: C,
  options: QuerySyncOptions<MessageOf<S, C>> = {},
): () => void {
  const map = options.map ?? (defaultQueryActions);
  return realtime.subscribe(channel, (message, ctx) => applyQueryActions(queryClient, map(message, ctx)), {
    onResync: (event) => {
      invalidateCovered(queryClient, options.covers);
      options.onResync?.(event);
    },
    ...(options.onError ? { onError: options.onError } : {}),
  });
}
