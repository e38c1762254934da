/**
 * Vue: `useQuerySync(channel, options)` in a component under `VueQueryPlugin`. The instance is the
 * provided one (`createRealtimePlugin` / `provideRealtime`) or `options.realtime`; `channel` may be
 * a ref or getter (null: none); the subscription ends with the component.
 */
import { inject, toValue, watch, type MaybeRefOrGetter } from 'vue';
import { useQueryClient } from '@tanstack/vue-query';
import { RealtimeKey } from '@switchboard/vue';
import { RealtimeError, type AnySchema, type ChannelOf, type MessageOf, type RealtimeOf } from '@switchboard/client';
import { syncQueries, type QuerySyncOptions } from './index.js';

export function useQuerySync<S = AnySchema, C extends ChannelOf<S> = ChannelOf<S>>(
  channel: MaybeRefOrGetter<C | null | undefined>,
  options: QuerySyncOptions<MessageOf<S, C>> & { realtime?: RealtimeOf<S> } = {},
): void {
  const { realtime: given, ...syncOptions } = options;
  const realtime = (given ?? inject(RealtimeKey, null)) as RealtimeOf<S> | null;
  if (!realtime) throw new RealtimeError('usage', 'useQuerySync: no Realtime instance (install createRealtimePlugin, provideRealtime, or pass { realtime })');
  const queryClient = useQueryClient();
  watch(
    () => toValue(channel),
    (ch, _old, onCleanup) => {
      if (!ch) return;
      onCleanup(syncQueries(realtime, queryClient, ch, syncOptions));
    },
    { immediate: true },
  );
}

export { syncQueries, defaultQueryActions, applyQueryActions, invalidateCovered } from './index.js';
export type { QueryAction, QuerySyncOptions, QueryKey } from './index.js';
