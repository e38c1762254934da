// RealtimeProvider under Strict Mode whose `url` prop changes when #switch is clicked: the
// subscription below it must move to the new server.
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { RealtimeProvider, useConnectionState, useSubscription } from '@switchboard/react';

const params = new URLSearchParams(location.search);
const first = `ws://${location.host}/connection/websocket`;
const second = params.get('other')!;

async function getToken(): Promise<string> {
  const res = await fetch('/token?user=react-page');
  return ((await res.json()) as { token: string }).token;
}

function Messages() {
  const [got, setGot] = useState<string[]>([]);
  useSubscription('chat:room', (m: unknown) => setGot((g) => [...g, (m as { text: string }).text]));
  const state = useConnectionState();
  return (
    <>
      <p id="state">{state}</p>
      <p id="messages">{got.join(',')}</p>
    </>
  );
}

function App() {
  const [url, setUrl] = useState(first);
  return (
    <RealtimeProvider url={url} getToken={getToken} minReconnectDelay={100} maxReconnectDelay={500}>
      <button id="switch" onClick={() => setUrl(second)}>switch server</button>
      <p id="url">{url}</p>
      <Messages />
    </RealtimeProvider>
  );
}

createRoot(document.getElementById('app')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
