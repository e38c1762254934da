// What both pages share: who the user is, where the server is, how to get a token, and a tiny
// query helper (fetch + refetch), standing in for tRPC / TanStack Query in the seed product.
import type { RealtimeOptions } from '@switchboard/client';

const params = new URLSearchParams(location.search);
export const user = params.get('user') ?? '42';
export const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/connection/websocket`;

/** The backend mints a connection token for the logged-in user. */
export async function getToken(): Promise<string> {
  const res = await fetch(`/realtime/token?user=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export const realtimeOptions: Omit<RealtimeOptions, 'url'> = {
  getToken,
  // Quick reconnects for the demo (centrifuge's defaults are 500 ms .. 20 s).
  minReconnectDelay: 200,
  maxReconnectDelay: 2000,
};

export interface Item {
  id: number;
  text: string;
  at: string;
}

export async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}
