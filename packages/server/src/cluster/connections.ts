import type { Connection } from '../connection.js';

/** Which connections a query wants; every given field must match. */
export interface ConnectionFilter {
  readonly user?: string;
  /** Subscribed to this channel. */
  readonly channel?: string;
  /** `websocket`, ... (Transport.kind). */
  readonly transport?: string;
  /** `centrifuge`, `pond`, `plain`, `pusher`, `phoenix`. */
  readonly protocol?: string;
  /** Top-level fields of the connection's server-side `meta`, compared as JSON values. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

export interface ConnectionQuery {
  readonly filter?: ConnectionFilter;
  /** At most this many in one page (default 100, at most 1000). */
  readonly limit?: number;
  /** The `nextCursor` of the previous page: connections are ordered by client id. */
  readonly cursor?: string;
}

export interface ConnectionEntry {
  readonly client: string;
  readonly user: string;
  readonly node: string;
  readonly protocol: string;
  readonly transport: string;
  readonly channels: readonly string[];
  /** Seconds since the connection opened. */
  readonly age: number;
  readonly connectedAt: number;
  readonly info?: unknown;
  readonly meta?: unknown;
  readonly clientName?: string;
  readonly clientVersion?: string;
}

export interface ConnectionPage {
  readonly connections: ConnectionEntry[];
  /** Give it as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

export const MAX_CONNECTIONS_PAGE = 1000;
export const DEFAULT_CONNECTIONS_PAGE = 100;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_CONNECTIONS_PAGE;
  return Math.max(1, Math.min(MAX_CONNECTIONS_PAGE, Math.floor(limit)));
}

/** Does `conn` match? */
export function matches(conn: Connection, f: ConnectionFilter): boolean {
  if (conn.state !== 'connected') return false;
  if (f.user !== undefined && conn.user !== f.user) return false;
  if (f.protocol !== undefined && conn.protocol !== f.protocol) return false;
  if (f.transport !== undefined && conn.transport.kind !== f.transport) return false;
  if (f.channel !== undefined && !conn.subscriptions.has(f.channel)) return false;
  if (f.meta !== undefined) {
    const meta = conn.meta;
    if (typeof meta !== 'object' || meta === null) return false;
    for (const [k, v] of Object.entries(f.meta)) if (JSON.stringify((meta as Record<string, unknown>)[k]) !== JSON.stringify(v)) return false;
  }
  return true;
}

/** This node's matching connections (of `conns`: all, or the user's when the filter names one) after `cursor`, in client id order, at most `limit` (+1 to tell whether more follow). */
export function localPage(conns: Iterable<Connection>, node: string, q: ConnectionQuery): ConnectionEntry[] {
  const limit = pageLimit(q.limit);
  const f = q.filter ?? {};
  const found: Connection[] = [];
  for (const c of conns) if (matches(c, f) && (q.cursor === undefined || c.id > q.cursor)) found.push(c);
  found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const now = Date.now();
  return found.slice(0, limit + 1).map((c) => entryOf(c, node, now));
}

function entryOf(c: Connection, node: string, now: number): ConnectionEntry {
  let info: unknown;
  if (c.info !== undefined) {
    try {
      info = JSON.parse(c.info);
    } catch {
      info = c.info;
    }
  }
  return {
    client: c.id,
    user: c.user,
    node,
    protocol: c.protocol,
    transport: c.transport.kind,
    channels: [...c.subscriptions.keys()],
    age: Math.floor((now - c.openedAt) / 1000),
    connectedAt: c.openedAt,
    ...(info !== undefined ? { info } : {}),
    ...(c.meta !== undefined ? { meta: c.meta } : {}),
    ...(c.clientName ? { clientName: c.clientName } : {}),
    ...(c.clientVersion ? { clientVersion: c.clientVersion } : {}),
  };
}

/** Merge the nodes' pages into one. */
export function mergePages(pages: readonly ConnectionEntry[][], q: ConnectionQuery): ConnectionPage {
  const limit = pageLimit(q.limit);
  const all = pages.flat().sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
  if (all.length <= limit) return { connections: all };
  const connections = all.slice(0, limit);
  return { connections, nextCursor: connections[connections.length - 1]!.client };
}
