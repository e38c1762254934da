// Served by Vite's dev server with @vitejs/plugin-vue in hmr.test.ts, which copies this folder and
// then edits Feed.vue while the page runs.
import { createApp, h } from 'vue';
import { createRealtimePlugin } from '@switchboard/vue';
import Feed from './Feed.vue';

const ws = new URLSearchParams(location.search).get('ws')!;

async function getToken(): Promise<string> {
  const res = await fetch('/token?user=hmr-page'); // proxied by the dev server to the test's server
  return ((await res.json()) as { token: string }).token;
}

createApp({ render: () => h(Feed) })
  .use(createRealtimePlugin({ url: ws, getToken, minReconnectDelay: 100, maxReconnectDelay: 500 }))
  .mount('#app');
