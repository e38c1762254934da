// Type tests for contract-derived types (compiled by types.test.ts with tsc --noEmit): subscribe
// handlers get the schema's output type, publish and the API client take its input type, channels
// follow the contract's patterns. No casts anywhere; `@ts-expect-error` lines must fail to compile.
import { z } from 'zod';
import * as v from 'valibot';
import { createRealtime, defineContract, type ContractOutput } from '@switchboard/client';
import { createApiClient } from '@switchboard/client/server';
import { createRealtimeHooks } from '@switchboard/react';
import { useLiveUpdate } from '@switchboard/vue';

const contract = defineContract({
  'chat:lobby': z.object({ text: z.string(), pinned: z.boolean() }),
  'chat:*': z.object({ text: z.string() }),
  'trpc:user:*': v.object({ type: v.literal('query-invalidation'), queryKey: v.array(v.unknown()) }),
  'count:*': z.object({ n: z.string().transform((s) => Number(s)) }),
});

const rt = createRealtime({ url: 'ws://x', contract });
rt.subscribe('chat:lobby', (m) => {
  const t: string = m.text;
  const p: boolean = m.pinned;
  void [t, p];
});
rt.subscribe('chat:room-7', (m) => m.text.toUpperCase());
rt.subscribe('trpc:user:42', (m) => {
  const k: unknown[] = m.queryKey;
  const ty: 'query-invalidation' = m.type;
  void [k, ty];
});
// handlers get the output type: the transform turned a string into a number
rt.subscribe('count:a', (m) => {
  const n: number = m.n;
  void n;
});
// @ts-expect-error a channel no key of the contract covers
rt.subscribe('other:x', () => {});
// @ts-expect-error chat messages carry no queryKey
rt.subscribe('chat:room', (m) => m.queryKey);
// @ts-expect-error the output of count is a number, not a string
rt.subscribe('count:a', (m) => m.n.toUpperCase());

// publish takes the input type
void rt.publish('chat:room', { text: 'hi' });
void rt.publish('count:a', { n: '41' });
// @ts-expect-error publish checks the payload against the schema's input type
void rt.publish('chat:room', { text: 5 });
// @ts-expect-error the input of count is a string
void rt.publish('count:a', { n: 41 });
// @ts-expect-error not a channel of the contract
void rt.publish('nope:x', {});

// the API client follows the same contract
const api = createApiClient({ url: 'http://x/api', apiKey: 'k', contract });
void api.publish('trpc:user:7', { type: 'query-invalidation', queryKey: ['a'] });
// @ts-expect-error wrong literal
void api.publish('trpc:user:7', { type: 'invalidate', queryKey: [] });
// @ts-expect-error a channel outside the contract
void api.publish('free:1', {});
void api.broadcast(['chat:a', 'chat:b'], { text: 'x' });
void api.history('chat:lobby').then((h) => h.publications.map((p) => p.data.pinned));

// bindings take the contract's schema
type Schema = ContractOutput<typeof contract>;
const hooks = createRealtimeHooks<Schema>();
export function Component(): null {
  hooks.useSubscription('chat:x', (m) => m.text);
  // @ts-expect-error typed hooks check the channel against the contract
  hooks.useSubscription('zzz', () => {});
  return null;
}
const live = useLiveUpdate<Schema>('ws://x');
live.on('count:b', (m) => m.n.toFixed());
// @ts-expect-error vue `on` checks the message type too
live.on('count:b', (m) => m.n.toUpperCase());
