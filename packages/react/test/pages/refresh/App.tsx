// The module the fast refresh test rewrites: a RealtimeProvider and a useSubscription below it.
// It exports only components, so it is a fast refresh boundary.
import { useEffect } from 'react';
import { RealtimeProvider, useConnectionState, useRealtime, useSubscription } from '@switchboard/react';
import { push, useReceived } from './store.js';

const params = new URLSearchParams(location.search);
const url = params.get('ws')!;
const token = params.get('token')!;
const getToken = () => Promise.resolve(token);

export function Messages() {
  useSubscription('chat:room', (m: unknown) => push((m as { text: string }).text));
  const received = useReceived();
  const state = useConnectionState();
  const rt = useRealtime();
  useEffect(() => {
    window.mounts++;
    window.probe = (channel) => void rt.subscribe(channel, () => {});
  }, [rt]);
  return (
    <>
      <p id="label">version one</p>
      <p id="state">{state}</p>
      <p id="messages">{received.join(',')}</p>
    </>
  );
}

export default function App() {
  return (
    <RealtimeProvider url={url} getToken={getToken} minReconnectDelay={100} maxReconnectDelay={500}>
      <Messages />
    </RealtimeProvider>
  );
}
