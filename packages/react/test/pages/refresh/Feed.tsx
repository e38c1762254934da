// The component fast-refresh.test.ts rewrites (the label and the handler's prefix, the two version
// marks below), which Fast Refresh swaps in place, keeping its state.
import { useState } from 'react';
import { useConnectionState, useSubscription } from '@switchboard/react';

export function Feed() {
  const [got, setGot] = useState<string[]>([]);
  useSubscription('chat:room', (m: unknown) => setGot((g) => [...g, `v1:${(m as { text: string }).text}`]));
  const state = useConnectionState();
  return (
    <>
      <p id="label">v1</p>
      <p id="state">{state}</p>
      <p id="messages">{got.join(',')}</p>
    </>
  );
}
