import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { RealtimeProvider, createRealtimeHooks, useConnectionState } from '@switchboard/react';
import { Channels, type TrpcSchema } from '@switchboard/client';
import { fetchJson, realtimeOptions, user, wsUrl, type Item } from './common.js';

const { useSubscription } = createRealtimeHooks<TrpcSchema>();

/** fetch + refetch: what a query library gives you; `refetch` is what an invalidation calls. */
function useQuery<T>(url: string): { data: T | undefined; refetch: () => void; fetches: number } {
  const [data, setData] = useState<T>();
  const [fetches, setFetches] = useState(0);
  const refetch = useCallback(() => {
    fetchJson<T>(url)
      .then((d) => {
        setData(d);
        setFetches((n) => n + 1);
      })
      .catch((err: unknown) => console.error(err));
  }, [url]);
  useEffect(refetch, [refetch]);
  return { data, refetch, fetches };
}

function Status() {
  const state = useConnectionState();
  return (
    <p>
      connection: <span id="state" data-state={state}>{state}</span>
    </p>
  );
}

function Notifications() {
  const { data, refetch, fetches } = useQuery<{ notifications: Item[] }>(`/data/user/${user}`);
  const [last, setLast] = useState('');
  useSubscription(
    Channels.user(user),
    (msg) => {
      setLast(JSON.stringify(msg));
      refetch(); // the query is invalidated: fetch it again
    },
    { onResync: refetch }, // missed messages (restart, trimmed history): refetch too
  );
  return (
    <section>
      <h2>Notifications for user {user}</h2>
      <ul id="notifications" data-fetches={fetches}>
        {data?.notifications.map((n) => (
          <li key={n.id}>{n.text}</li>
        ))}
      </ul>
      <pre id="last-user">{last}</pre>
    </section>
  );
}

function Feed() {
  const { data, refetch, fetches } = useQuery<{ feed: Item[] }>('/data/global');
  const [last, setLast] = useState('');
  useSubscription(
    Channels.global(),
    (msg) => {
      setLast(JSON.stringify(msg));
      refetch();
    },
    { onResync: refetch },
  );
  return (
    <section>
      <h2>Global feed</h2>
      <ul id="feed" data-fetches={fetches}>
        {data?.feed.map((n) => (
          <li key={n.id}>{n.text}</li>
        ))}
      </ul>
      <pre id="last-global">{last}</pre>
    </section>
  );
}

function App() {
  const [show, setShow] = useState(true);
  return (
    <>
      <Status />
      <button id="toggle" onClick={() => setShow((s) => !s)}>
        {show ? 'Hide' : 'Show'} notifications
      </button>
      {show && <Notifications />}
      <Feed />
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RealtimeProvider url={wsUrl} {...realtimeOptions}>
      <App />
    </RealtimeProvider>
  </StrictMode>,
);
