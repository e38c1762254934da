import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import PusherServer from 'pusher';
import { createSwitchboard, pusher, type PusherMount, type Switchboard, type SwitchboardOptions } from '../src/index.js';
import type { PusherAppOptions } from '../src/index.js';

// pusher-js's node build is CommonJS (it brings its own WebSocket client).
const require = createRequire(import.meta.url);
export const PusherJs = require('pusher-js') as typeof import('pusher-js').default;
export type PusherClient = InstanceType<typeof PusherJs>;

export const APP: PusherAppOptions = { id: '4242', key: 'app-key', secret: 'app-secret', namespace: 'pusher', enableClientMessages: true, activityTimeout: 30 };

export interface PusherTestServer {
  sb: Switchboard;
  mount: PusherMount;
  port: number;
  /** The official server library, pointed at this server. */
  api: PusherServer;
  /** Users the auth endpoint signs presence as, by the `user` header of the request. */
  close(): Promise<void>;
}

/**
 * A node with the Pusher protocol mounted at /app/{key}, the HTTP API at /apps/{id}/, and an app
 * backend's auth endpoints (`/pusher/auth`, `/pusher/user-auth`) signing with the official `pusher` library.
 * The auth endpoint refuses channels named `private-forbidden*` (403) and takes the presence user from `X-User`
 * (and a sign-in's watchlist from `X-Watchlist`, comma-separated).
 */
export async function startPusher(options: SwitchboardOptions = {}, app: PusherAppOptions = APP): Promise<PusherTestServer> {
  const sb = createSwitchboard({ namespaces: { pusher: { allowSubscribeForClient: true, allowPublishForSubscriber: true } }, ...options });
  const mount = pusher(sb, { apps: [app] });
  const holder: { api?: PusherServer } = {};
  const http: Server = createServer((req, res) => {
    void (async () => {
      if (await mount.handleHttp(req, res)) return;
      if (req.method === 'POST' && (req.url === '/pusher/auth' || req.url === '/pusher/user-auth')) {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        const socketId = form.get('socket_id')!;
        const user = String(req.headers['x-user'] ?? 'anon');
        let body: unknown;
        const watchlist = req.headers['x-watchlist'];
        if (req.url === '/pusher/user-auth') body = holder.api!.authenticateUser(socketId, { id: user, user_info: { name: user }, ...(typeof watchlist === 'string' ? { watchlist: watchlist.split(',') } : {}) });
        else {
          const channel = form.get('channel_name')!;
          if (channel.startsWith('private-forbidden')) {
            res.writeHead(403).end('forbidden');
            return;
          }
          body = channel.startsWith('presence-') ? holder.api!.authorizeChannel(socketId, channel, { user_id: user, user_info: { name: user } }) : holder.api!.authorizeChannel(socketId, channel);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        return;
      }
      res.writeHead(404).end();
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  mount.attach(http);
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const api = (holder.api = new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: false }));
  return {
    sb,
    mount,
    port,
    api,
    async close() {
      await sb.shutdown({ timeoutMs: 0 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

export function pusherClient(srv: PusherTestServer, options: { user?: string; key?: string; watchlist?: string[] } = {}): PusherClient {
  const headers: Record<string, string> = { 'X-User': options.user ?? 'anon', ...(options.watchlist ? { 'X-Watchlist': options.watchlist.join(',') } : {}) };
  return new PusherJs(options.key ?? APP.key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: { endpoint: `http://127.0.0.1:${srv.port}/pusher/auth`, transport: 'ajax', headers },
    userAuthentication: { endpoint: `http://127.0.0.1:${srv.port}/pusher/user-auth`, transport: 'ajax', headers },
  });
}

/** Resolves on the first call of the returned callback's event, rejects after `ms`. */
export function next<T = unknown>(bind: (cb: (v: T) => void) => void, ms = 5000, what = 'event'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    bind((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

export function connectedOf(c: PusherClient): Promise<void> {
  if (c.connection.state === 'connected') return Promise.resolve();
  return next((cb) => c.connection.bind('connected', () => cb(undefined)), 5000, 'connected');
}
