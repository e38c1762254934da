// Type tests: compiled with `tsc --noEmit` by types.test.ts. Every line without a directive must
// compile; every `@ts-expect-error` line must NOT compile (tsc fails on an unused directive).
import { createRealtime, createChannels, Channels, RealtimeManager, type QueryInvalidation, type TrpcSchema, type ConnectionState } from '@switchboard/client';
import { createApiClient, signConnectionToken, ApiError } from '@switchboard/client/server';
import { createRealtimeHooks, useSubscription as useReactSubscription } from '@switchboard/react';
import { useLiveUpdate } from '@switchboard/vue';

interface Schema {
  'chat:lobby': { text: string; from: string };
  'trpc:global': QueryInvalidation;
  [channel: `trpc:user:${string}`]: QueryInvalidation;
  [channel: `trpc:org:${string}`]: { orgEvent: 'renamed' | 'deleted' };
}

// ── channel builders return literal types ──
const u42: 'trpc:user:42' = Channels.user(42);
const uAbc: 'trpc:user:abc' = Channels.user('abc');
const org: 'trpc:org:acme' = Channels.org('acme');
const glob: 'trpc:global' = Channels.global();
const app: 'app:user:1' = createChannels('app').user(1);
// @ts-expect-error the literal type carries the id
const wrong: 'trpc:user:43' = Channels.user(42);
// @ts-expect-error global takes no id
Channels.global('x');
void [u42, uAbc, org, glob, app, wrong];

// ── typed subscribe ──
const rt = createRealtime<Schema>({ url: 'ws://127.0.0.1/connection/websocket', getToken: async () => 'jwt' });
rt.subscribe('chat:lobby', (m) => {
  const text: string = m.text;
  const from: string = m.from;
  void [text, from];
});
rt.subscribe(Channels.user(42), (m) => {
  const key: readonly unknown[] = m.queryKey;
  const t: 'query-invalidation' = m.type;
  void [key, t];
});
rt.subscribe('trpc:user:any-id', (m) => m.queryKey);
rt.subscribe(Channels.org('acme'), (m) => {
  const e: 'renamed' | 'deleted' = m.orgEvent;
  void e;
});
rt.subscribe('chat:lobby', (_m, ctx) => {
  const ch: string = ctx.channel;
  const off: number | undefined = ctx.offset;
  void [ch, off];
});
const off: () => void = rt.subscribe('trpc:global', () => {}, { onResync: (e) => e.reason === 'unrecovered' });
off();
// @ts-expect-error not a channel of the schema
rt.subscribe('chat:other', () => {});
// @ts-expect-error not a channel of the schema (wrong prefix)
rt.subscribe('trpc:team:1', () => {});
// @ts-expect-error no such field on chat messages
rt.subscribe('chat:lobby', (m) => m.queryKey);
// @ts-expect-error the handler declares the wrong message type
rt.subscribe('chat:lobby', (m: { text: number }) => m);
// @ts-expect-error org channels do not carry query invalidations
rt.subscribe(Channels.org(1), (m) => m.queryKey);
// @ts-expect-error a resync reason is one of two strings
rt.subscribe('trpc:global', () => {}, { onResync: (e) => e.reason === 'gone' });
void rt.publish('chat:lobby', { text: 'hi', from: 'me' });
// @ts-expect-error publish checks the payload too
void rt.publish('chat:lobby', { text: 1 });

// ── the state store ──
const s: ConnectionState = rt.state.getSnapshot();
// @ts-expect-error three states only
const s2: 'reconnecting' = rt.state.getSnapshot();
void [s, s2];

// ── untyped use: any channel, unknown messages ──
const loose = createRealtime({ url: 'ws://x' });
loose.subscribe('anything:at-all', (m) => {
  // @ts-expect-error messages are unknown until narrowed
  void m.foo;
});

// ── the default trpc schema and the singleton ──
RealtimeManager.initialize<TrpcSchema>({ wsUrl: 'ws://x', getToken: async () => 'jwt' }).subscribe(Channels.global(), (m) => m.queryKey);
// @ts-expect-error the trpc schema has no chat channels
RealtimeManager.getInstance<TrpcSchema>().subscribe('chat:lobby', () => {});

// ── server entry ──
const api = createApiClient<Schema>({ url: 'http://127.0.0.1/api', apiKey: 'k' });
void api.publish(Channels.user('7'), { type: 'query-invalidation', queryKey: ['user', 7] });
// @ts-expect-error wrong payload for a user channel
void api.publish(Channels.user('7'), { type: 'other', queryKey: [] });
void api.broadcast(['trpc:user:1', 'trpc:user:2'], { type: 'query-invalidation', queryKey: [] });
void api.history('chat:lobby', { limit: 10 }).then((h) => {
  const t: string = h.publications[0]!.data.text;
  const o: number = h.offset;
  void [t, o];
});
void api.presenceStats('chat:lobby').then((p) => p.numClients + p.numUsers);
void api.info().then((i) => i.nodes.map((n) => n.numClients));
void signConnectionToken({ sub: '42', expiresIn: '1h', info: { name: 'Ann' }, channels: ['trpc:global'] }, 'secret');
// @ts-expect-error sub is required
void signConnectionToken({ expiresIn: 60 }, 'secret');
const e = new ApiError('unauthorized', 401, 'x', 401, 'publish');
const kind: 'unauthorized' | 'api' | 'http' | 'network' = e.kind;
void kind;

// ── react hooks bound to the schema ──
const hooks = createRealtimeHooks<Schema>();
function Component(): null {
  hooks.useSubscription('chat:lobby', (m) => m.text.toUpperCase());
  hooks.useSubscription(null, () => {});
  // @ts-expect-error typed hooks check channels
  hooks.useSubscription('chat:nope', () => {});
  // @ts-expect-error typed hooks check messages
  hooks.useSubscription('chat:lobby', (m) => m.queryKey);
  useReactSubscription('free:channel', (m: unknown) => m);
  return null;
}
void Component;

// ── vue composable bound to the schema ──
const live = useLiveUpdate<Schema>('ws://x');
live.on('chat:lobby', (m) => m.from);
// @ts-expect-error vue `on` checks channels too
live.on('chat:nope', () => {});
const connected: boolean = live.connected.value;
void connected;
