// Shared by the React and Vue pages: where the server is, how to get a token, the todo list query.
export const wsUrl = `ws://${location.host}/connection/websocket`;
export const user = new URLSearchParams(location.search).get('user') ?? 'u1';

export async function getToken(): Promise<string> {
  const res = await fetch(`/token?user=${user}`);
  return ((await res.json()) as { token: string }).token;
}

export interface Todos {
  items: string[];
}

export async function fetchTodos(): Promise<Todos> {
  const res = await fetch(`/data/todos?page=${user}`);
  if (!res.ok) throw new Error(`todos: ${res.status}`);
  return (await res.json()) as Todos;
}

/** The channel (no history on the server: a reconnect means a resync). */
export const channel = 'plain:todos';
export const resyncs = { count: 0 };
