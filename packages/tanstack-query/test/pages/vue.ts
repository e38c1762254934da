// Vue + TanStack Query: the same todo list, kept fresh by the Vue useQuerySync.
import { createApp, defineComponent, h, ref } from 'vue';
import { QueryClient, VueQueryPlugin, useQuery } from '@tanstack/vue-query';
import { createRealtimePlugin, useConnectionState } from '@switchboard/vue';
import { useQuerySync } from '@switchboard/tanstack-query/vue';
import { channel, fetchTodos, getToken, wsUrl } from './common.js';

const Todos = defineComponent({
  setup() {
    const resyncs = ref(0);
    const todos = useQuery({ queryKey: ['todos'], queryFn: fetchTodos });
    useQuerySync(channel, { onResync: () => resyncs.value++ });
    const state = useConnectionState();
    return () => [
      h('p', { id: 'state' }, state.value),
      h('p', { id: 'todos' }, todos.data.value?.items.join(',') ?? ''),
      h('p', { id: 'resyncs' }, String(resyncs.value)),
    ];
  },
});

const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
createApp(Todos)
  .use(VueQueryPlugin, { queryClient })
  .use(createRealtimePlugin({ url: wsUrl, getToken, minReconnectDelay: 100, maxReconnectDelay: 500 }))
  .mount('#app');
