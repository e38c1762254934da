// Entry of the Vue HMR page (served by a Vite dev server): one instance for the app from the
// plugin, and App.vue, whose child Live.vue is the component the test rewrites.
import { createApp } from 'vue';
import { createRealtimePlugin } from '@switchboard/vue';
import App from './App.vue';
import { getToken, url } from './store.js';

createApp(App)
  .use(createRealtimePlugin({ url, getToken, minReconnectDelay: 100, maxReconnectDelay: 500 }))
  .mount('#app');
