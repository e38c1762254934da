// The page: tRPC client + TanStack Query; one Switchboard connection shared by every tab; the todo
// list refetches when the server says `['todos']` changed (and after a resync).
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider, useMutation, useQuery } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { RealtimeProvider, useConnectionState, useRealtime } from '@switchboard/react';
import { Channels } from '@switchboard/client';
import { useQuerySync } from '@switchboard/tanstack-query/react';
import type { AppRouter } from '../router.js';

const trpc = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: '/trpc' })] });
const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });

async function getToken(): Promise<string> {
  const res = await fetch('/realtime/token');
  return ((await res.json()) as { token: string }).token;
}

function Todos() {
  const list = useQuery({ queryKey: ['todos'], queryFn: () => trpc.list.query() });
  // The mutation does not invalidate anything itself: the server's publication does, in every tab.
  const add = useMutation({ mutationFn: (text: string) => trpc.add.mutate({ text }) });
  useQuerySync(Channels.global(), { covers: [['todos']] });
  const [text, setText] = useState('');
  const state = useConnectionState();
  const role = useRealtime().role;
  return (
    <>
      <p>
        connection: <span id="state">{state}</span> (<span id="role">{role}</span>)
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (text) add.mutate(text);
          setText('');
        }}
      >
        <input id="text" value={text} onChange={(e) => setText(e.target.value)} />
        <button id="add" type="submit">Add</button>
      </form>
      <ul id="list">
        {list.data?.map((t) => (
          <li key={t.id}>{t.text}</li>
        ))}
      </ul>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RealtimeProvider url={`ws://${location.host}/connection/websocket`} getToken={getToken} shareConnection>
        <Todos />
      </RealtimeProvider>
    </QueryClientProvider>
  </StrictMode>,
);
