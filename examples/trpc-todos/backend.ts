// One Node http server: tRPC at /trpc, a token endpoint, the Switchboard WebSocket endpoint and its
// HTTP API at /api, and the Vite build. The router publishes through the API client over HTTP, so
// the same code works against a standalone Switchboard.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { createApiHandler, createSwitchboard, type Switchboard } from '@switchboard/server';
import { createApiClient, signConnectionToken, type TrpcSchema } from '@switchboard/client/server';
import { createRouter } from './router.js';

export interface Backend {
  sb: Switchboard;
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };

export async function startBackend(options: { port?: number; staticDir?: string; secret?: string; apiKey?: string } = {}): Promise<Backend> {
  const secret = options.secret ?? process.env.SWITCHBOARD_TOKEN_SECRET ?? 'dev-secret-change-me-0123456789abcdef';
  const apiKey = options.apiKey ?? process.env.SWITCHBOARD_API_KEY ?? 'dev-api-key-change-me';
  const sb = createSwitchboard({
    token: { hmacSecret: secret },
    namespaces: { trpc: { allowSubscribeForClient: true, historySize: 50, historyTtlMs: 300_000, forceRecovery: true } },
  });
  const api = createApiHandler(sb, { key: apiKey });
  // Set once the port is known: the router publishes through the API client at this server's /api.
  const handlers: { trpc?: ReturnType<typeof createHTTPHandler> } = {};
  const server = createServer((req, res) => {
    void (async () => {
      if (await api(req, res)) return;
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname.startsWith('/trpc/') && handlers.trpc) return handlers.trpc(req, res);
      if (url.pathname === '/realtime/token') {
        // In a real app the user comes from the session.
        const token = await signConnectionToken({ sub: 'demo-user', expiresIn: '1h' }, secret);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ token }));
        return;
      }
      if (options.staticDir && req.method === 'GET') {
        const file = normalize(join(options.staticDir, url.pathname === '/' ? 'index.html' : url.pathname));
        if (file.startsWith(normalize(options.staticDir))) {
          const body = await readFile(file).catch(() => undefined);
          if (body) {
            res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
            return;
          }
        }
      }
      res.writeHead(404).end('not found');
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  sb.attach(server, { path: '/connection/websocket' });
  await new Promise<void>((r) => server.listen(options.port ?? 0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const realtime = createApiClient<TrpcSchema>({ url: `${base}/api`, apiKey });
  handlers.trpc = createHTTPHandler({ router: createRouter(realtime), basePath: '/trpc/' });
  return {
    sb,
    url: base,
    async close() {
      await sb.shutdown({ timeoutMs: 1000 });
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
