// Served by Vite's dev server with @vitejs/plugin-react (Fast Refresh) in fast-refresh.test.ts, which
// copies this folder and then edits Feed.tsx while the page runs.
import { createRoot } from 'react-dom/client';
import { RealtimeProvider } from '@switchboard/react';
import { Feed } from './Feed.js'; // Feed.tsx (Vite resolves .js to the TypeScript file)

const ws = new URLSearchParams(location.search).get('ws')!;

async function getToken(): Promise<string> {
  const res = await fetch('/token?user=refresh-page'); // proxied by the dev server to the test's server
  return ((await res.json()) as { token: string }).token;
}

createRoot(document.getElementById('app')!).render(
  <RealtimeProvider url={ws} getToken={getToken} minReconnectDelay={100} maxReconnectDelay={500}>
    <Feed />
  </RealtimeProvider>,
);
