// React + TanStack Query: a todo list query kept fresh by useQuerySync (invalidate, set, resync).
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { RealtimeProvider, useConnectionState } from '@switchboard/react';
import { useQuerySync } from '@switchboard/tanstack-query/react';
import { channel, fetchTodos, getToken, wsUrl } from './common.js';

const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });

function Todos() {
  const [resyncs, setResyncs] = useState(0);
  const todos = useQuery({ queryKey: ['todos'], queryFn: fetchTodos });
  useQuerySync(channel, { onResync: () => setResyncs((n) => n + 1) });
  const state = useConnectionState();
  return (
    <>
      <p id="state">{state}</p>
      <p id="todos">{todos.data?.items.join(',') ?? ''}</p>
      <p id="resyncs">{resyncs}</p>
    </>
  );
}

createRoot(document.getElementById('app')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RealtimeProvider url={wsUrl} getToken={getToken} minReconnectDelay={100} maxReconnectDelay={500}>
        <Todos />
      </RealtimeProvider>
    </QueryClientProvider>
  </StrictMode>,
);
