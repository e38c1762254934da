// The example backend, in the seed product's style: the app's API mints connection tokens for the
// browser and, when data changes, publishes a query invalidation through the Switchboard HTTP API
// client (as a backend would against a standalone server). Here the Switchboard node runs in the
// same process (WebSocket at /connection/websocket, HTTP API at /api) to keep the example one file.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSwitchboard, createApiHandler, type Switchboard } from '@switchboard/server';
import { createApiClient, signConnectionToken, Channels, type TrpcSchema } from '@switchboard/client/server';

export interface BackendOptions {
  port?: number;
  host?: string;
  /** The Vite build output to serve (react.html, vue.html, assets/). */
  staticDir?: string;
  /** HMAC secret for connection tokens. */
  secret?: string;
  apiKey?: string;
}

export interface Backend {
  sb: Switchboard;
  port: number;
  url: string;
  close(): Promise<void>;
}

interface Notification {
  id: number;
  text: string;
  at: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const USER_CHANNEL = /^trpc:user:(.+)$/;
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function startBackend(options: BackendOptions = {}): Promise<Backend> {
  const secret = options.secret ?? process.env.SWITCHBOARD_TOKEN_SECRET ?? 'dev-secret-change-me-0123456789abcdef';
  const apiKey = options.apiKey ?? process.env.SWITCHBOARD_API_KEY ?? 'dev-api-key-change-me';

  const sb = createSwitchboard({
    token: { hmacSecret: secret },
    namespaces: {
      // trpc:global, trpc:org:<id>, trpc:user:<id>: query invalidations, with a short history so a
      // page that reconnects gets what it missed (or a resync when it cannot).
      trpc: { allowSubscribeForClient: true, presence: true, historySize: 50, historyTtlMs: 5 * 60_000, forceRecovery: true },
    },
  });
  // A user's channel is theirs alone.
  sb.onSubscribe((ctx) => {
    const m = USER_CHANNEL.exec(ctx.channel);
    if (m && m[1] !== ctx.client.user) ctx.decline(403, 'not your channel');
  });
  const api = createApiHandler(sb, { key: apiKey });

  // The "database": per-user notifications and a global feed, each with a version.
  const notifications = new Map<string, Notification[]>();
  const feed: Notification[] = [];
  let nextId = 1;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  sb.attach(server, { path: '/connection/websocket' });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  // The backend talks to Switchboard through its HTTP API, exactly as it would to a separate server.
  const realtime = createApiClient<TrpcSchema>({ url: `${base}/api`, apiKey });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await api(req, res)) return;
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    // In a real app the user comes from the session; the demo takes it from the query.
    if (req.method === 'GET' && path === '/realtime/token') {
      const user = url.searchParams.get('user') ?? '';
      if (!USER_ID.test(user)) return json(res, 400, { error: 'user must match [A-Za-z0-9_-]{1,64}' });
      const token = await signConnectionToken({ sub: user, expiresIn: '1h', info: { name: `user ${user}` } }, secret);
      return json(res, 200, { token });
    }
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && (m = /^\/data\/user\/([^/]+)$/.exec(path))) {
      return json(res, 200, { notifications: notifications.get(m[1]!) ?? [] });
    }
    if (req.method === 'GET' && path === '/data/global') return json(res, 200, { feed });
    if (req.method === 'POST' && (m = /^\/notify\/user\/([^/]+)$/.exec(path))) {
      const user = m[1]!;
      if (!USER_ID.test(user)) return json(res, 400, { error: 'bad user id' });
      const text = await readText(req, res);
      if (text === undefined) return;
      const list = notifications.get(user) ?? [];
      list.push({ id: nextId++, text, at: new Date().toISOString() });
      notifications.set(user, list.slice(-50));
      const r = await realtime.publish(Channels.user(user), { type: 'query-invalidation', queryKey: ['user', user, 'notifications'] });
      return json(res, 200, { ok: true, offset: r.offset ?? null });
    }
    if (req.method === 'POST' && path === '/notify/global') {
      const text = await readText(req, res);
      if (text === undefined) return;
      feed.push({ id: nextId++, text, at: new Date().toISOString() });
      if (feed.length > 50) feed.shift();
      const r = await realtime.publish(Channels.global(), { type: 'query-invalidation', queryKey: ['global', 'feed'] });
      return json(res, 200, { ok: true, offset: r.offset ?? null });
    }
    if (req.method === 'GET' && options.staticDir) {
      const file = path === '/' ? '/react.html' : path;
      const full = normalize(join(options.staticDir, file));
      if (!full.startsWith(normalize(options.staticDir))) return json(res, 400, { error: 'bad path' });
      try {
        const body = await readFile(full);
        res.writeHead(200, { 'content-type': TYPES[extname(full)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(body);
        return;
      } catch {
        // fall through to 404
      }
    }
    json(res, 404, { error: 'not found' });
  }

  return {
    sb,
    port,
    url: base,
    async close() {
      await sb.shutdown({ timeoutMs: 2000 }); // pages are told to reconnect (3001)
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readText(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) {
      json(res, 413, { error: 'body too large' });
      return undefined;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    json(res, 400, { error: 'body must be JSON: {"text": "..."}' });
    return undefined;
  }
  const text = (parsed as { text?: unknown } | null)?.text;
  if (typeof text !== 'string' || text === '' || text.length > 500) {
    json(res, 400, { error: '"text" must be a non-empty string of at most 500 characters' });
    return undefined;
  }
  return text;
}
