/**
 * React: `useQuerySync(channel, options)` inside `<RealtimeProvider>` and `<QueryClientProvider>`.
 * The latest options are always used; the subscription follows `channel` (null: none).
 */
import { useEffect, useRef } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useRealtime } from '@switchboard/react';
import type { AnySchema, ChannelOf, MessageOf, RealtimeOf } from '@switchboard/client';
import { defaultQueryActions, syncQueries, type QuerySyncOptions } from './index.js';

export function useQuerySync<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: C | null | undefined | false,
  options: QuerySyncOptions<MessageOf<S, C>> & { realtime?: RealtimeOf<S> } = {},
): void {
  const fromContext = useRealtime<S>();
  const realtime = options.realtime ?? fromContext;
  const queryClient = useQueryClient();
  const latest = useRef(options);
  latest.current = options;
  useEffect(() => {
    if (!channel) return;
    return syncQueries(realtime, queryClient, channel, {
      map: (m, ctx) => (latest.current.map ?? defaultQueryActions)(m, ctx),
      covers: latest.current.covers ?? [[]],
      onResync: (e) => latest.current.onResync?.(e),
      onError: (e) => latest.current.onError?.(e),
    });
  }, [realtime, queryClient, channel]);
}

export { syncQueries, defaultQueryActions, applyQueryActions, invalidateCovered } from './index.js';
export type { QueryAction, QuerySyncOptions, QueryKey } from './index.js';
