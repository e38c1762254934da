// Vue 3 with render functions (no SFC compiler needed in the build).
import { createApp, defineComponent, h, ref, shallowRef } from 'vue';
import { useLiveUpdate } from '@switchboard/vue';
import { Channels, type TrpcSchema } from '@switchboard/client';
import { fetchJson, realtimeOptions, user, wsUrl, type Item } from './common.js';

/** fetch + refetch, as a query library would. */
function useQuery<T>(url: string) {
  const data = shallowRef<T>();
  const fetches = ref(0);
  const refetch = () => {
    fetchJson<T>(url)
      .then((d) => {
        data.value = d;
        fetches.value++;
      })
      .catch((err: unknown) => console.error(err));
  };
  refetch();
  return { data, fetches, refetch };
}

const Status = defineComponent({
  setup() {
    // Every component asks for the same url: they share one connection.
    const { state, connected } = useLiveUpdate(wsUrl, realtimeOptions);
    return () => h('p', ['connection: ', h('span', { id: 'state', 'data-state': state.value, 'data-connected': String(connected.value) }, state.value)]);
  },
});

const Notifications = defineComponent({
  setup() {
    const { on } = useLiveUpdate<TrpcSchema>(wsUrl, realtimeOptions);
    const { data, fetches, refetch } = useQuery<{ notifications: Item[] }>(`/data/user/${user}`);
    const last = ref('');
    // Ends by itself when this component unmounts.
    on(
      Channels.user(user),
      (msg) => {
        last.value = JSON.stringify(msg);
        refetch();
      },
      { onResync: refetch },
    );
    return () =>
      h('section', [
        h('h2', `Notifications for user ${user}`),
        h('ul', { id: 'notifications', 'data-fetches': fetches.value }, (data.value?.notifications ?? []).map((n) => h('li', { key: n.id }, n.text))),
        h('pre', { id: 'last-user' }, last.value),
      ]);
  },
});

const Feed = defineComponent({
  setup() {
    const { on } = useLiveUpdate<TrpcSchema>(wsUrl, realtimeOptions);
    const { data, fetches, refetch } = useQuery<{ feed: Item[] }>('/data/global');
    const last = ref('');
    on(
      Channels.global(),
      (msg) => {
        last.value = JSON.stringify(msg);
        refetch();
      },
      { onResync: refetch },
    );
    return () =>
      h('section', [
        h('h2', 'Global feed'),
        h('ul', { id: 'feed', 'data-fetches': fetches.value }, (data.value?.feed ?? []).map((n) => h('li', { key: n.id }, n.text))),
        h('pre', { id: 'last-global' }, last.value),
      ]);
  },
});

const App = defineComponent({
  setup() {
    const show = ref(true);
    return () => [
      h(Status),
      h('button', { id: 'toggle', onClick: () => (show.value = !show.value) }, `${show.value ? 'Hide' : 'Show'} notifications`),
      show.value ? h(Notifications) : null,
      h(Feed),
    ];
  },
});

createApp(App).mount('#app');
