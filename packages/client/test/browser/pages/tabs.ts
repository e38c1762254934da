// A page for the shared-connection test: one Realtime with `shareConnection`, driven from the test
// through `window.sb`. Every message a handler receives is recorded, per channel, in order.
import { createRealtime, type ResyncEvent } from '@switchboard/client';

const params = new URLSearchParams(location.search);
const tab = params.get('tab') ?? '?';
let tokenCalls = 0;

const rt = createRealtime({
  url: `ws://${location.host}/connection/websocket`,
  shareConnection: true,
  minReconnectDelay: 100,
  maxReconnectDelay: 500,
  getToken: async () => {
    tokenCalls++;
    const res = await fetch(`/token?user=u1&tab=${tab}`);
    return ((await res.json()) as { token: string }).token;
  },
});

const received: Record<string, unknown[]> = {};
const resyncs: ResyncEvent[] = [];
const errors: string[] = [];
const offs = new Map<string, () => void>();
rt.on('error', (e) => errors.push(`${e.kind}: ${e.message}`));
// When this tab took over the connection, and when its channels were subscribed again (wall clock).
const timeline: { event: string; at: number }[] = [];
rt.on('leader', () => timeline.push({ event: 'leader', at: Date.now() }));
rt.on('subscribed', (e) => timeline.push({ event: `subscribed ${e.channel}`, at: Date.now() }));

const api = {
  tab,
  role: () => rt.role,
  state: () => rt.getState(),
  tokenCalls: () => tokenCalls,
  received: (ch: string) => received[ch] ?? [],
  resyncs: () => resyncs,
  errors: () => errors,
  timeline: () => timeline,
  subscribe(ch: string): void {
    received[ch] ??= [];
    offs.set(ch, rt.subscribe(ch, (m) => received[ch]!.push(m), { onResync: (e) => resyncs.push(e) }));
  },
  unsubscribe(ch: string): void {
    offs.get(ch)?.();
    offs.delete(ch);
  },
  publish: (ch: string, data: unknown) => rt.publish(ch, data),
  rpc: (method: string, data: unknown) => rt.rpc(method, data),
};
(window as unknown as { sb: typeof api }).sb = api;
document.title = `tab ${tab}`;
