/**
 * The servers under test, each started inside the server child process. Every system exposes the
 * same three things to the harness: the port it listens on, `publish(channel, data)` from app code,
 * and `close()`. Channel names are logical (`fan1000`, `u42`); each system maps them to its own syntax
 * with the same `channelName` function its client adapter uses (clients.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { jwtVerify } from 'jose';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { PUSHER_APP, SECRET } from './common.js';

export interface RunningSystem {
  readonly port: number;
  publish(channel: string, data: object): void | Promise<unknown>;
  close(): Promise<void>;
}

const KEY = new TextEncoder().encode(SECRET);
export const API_KEY = 'bench-api-key';

/** ws's frame builder (exported by the package, untyped in @types/ws). */
const frameOf = (wsModule as unknown as { Sender: { frame: (data: Buffer, o: object) => Buffer[] } }).Sender.frame;

/** Every system verifies the same HS256 JWT, so the connection storm costs the same work everywhere. */
async function verifyToken(token: string | null | undefined): Promise<string> {
  if (!token) throw new Error('no token');
  const { payload } = await jwtVerify(token, KEY, { algorithms: ['HS256'] });
  return String(payload.sub ?? '');
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

function refuse(socket: Duplex, status: number): void {
  socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Raw `ws` hub: rooms of sockets; the client sends `{"sub":[...]}` and gets `{"ok":true}`. */
async function rawWs(kind: 'loop' | 'ceiling' | 'batched'): Promise<RunningSystem> {
  const http = createServer((_q, s) => s.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  interface Peer {
    ws: WebSocket;
    sock: Duplex;
    pending: Buffer[] | null;
  }
  const rooms = new Map<string, Set<Peer>>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    verifyToken(token).then(
      () =>
        wss.handleUpgrade(req, socket, head, (ws) => {
          // The ceiling writes frames straight to the TCP socket (ws keeps it as `_socket`).
          const peer: Peer = { ws, sock: (ws as unknown as { _socket: Duplex })._socket, pending: null };
          const mine: string[] = [];
          ws.on('message', (data) => {
            let msg: { sub?: string[] };
            try {
              msg = JSON.parse((data as Buffer).toString()) as typeof msg;
            } catch {
              return ws.close(1007, 'bad json');
            }
            for (const ch of msg.sub ?? []) {
              let r = rooms.get(ch);
              if (!r) rooms.set(ch, (r = new Set()));
              r.add(peer);
              mine.push(ch);
            }
            ws.send('{"ok":true}');
          });
          ws.on('error', () => ws.terminate());
          ws.on('close', () => {
            for (const ch of mine) {
              const r = rooms.get(ch);
              r?.delete(peer);
              if (r?.size === 0) rooms.delete(ch);
            }
          });
        }),
      () => refuse(socket, 401),
    );
  });
  const port = await listen(http);

  if (kind === 'loop') {
    return {
      port,
      publish(channel, data) {
        const r = rooms.get(channel);
        if (!r) return;
        const text = JSON.stringify(data);
        for (const p of r) if (p.ws.readyState === 1) p.ws.send(text);
      },
      close: async () => {
        for (const c of wss.clients) c.terminate();
        await closeHttp(http);
      },
    };
  }

  if (kind === 'batched') return batchedCeiling(port, rooms, () => {
    for (const c of wss.clients) c.terminate();
    return closeHttp(http);
  });

  // The ceiling: the frame is built once per publication and every socket gets the same bytes;
  // each socket's frames of one tick leave in one corked write.
  let dirty: Peer[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const list = dirty;
    dirty = [];
    for (const p of list) {
      const q = p.pending!;
      p.pending = null;
      if (p.sock.destroyed) continue;
      if (q.length === 1) p.sock.write(q[0]!);
      else {
        p.sock.cork();
        for (const b of q) p.sock.write(b);
        p.sock.uncork();
      }
    }
  };
  return {
    port,
    publish(channel, data) {
      const r = rooms.get(channel);
      if (!r) return;
      const body = Buffer.from(JSON.stringify(data));
      const frame = Buffer.concat(frameOf(body, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
      for (const p of r) {
        if (p.pending === null) {
          p.pending = [frame];
          dirty.push(p);
        } else p.pending.push(frame);
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await closeHttp(http);
    },
  };
}

/**
 * The like-for-like ceiling for batched protocols: a tick's publications of one channel joined
 * (newline-separated, as the native and pond protocols batch) into ONE frame, built once per
 * channel per tick and written once to every socket of the channel.
 */
function batchedCeiling(port: number, rooms: Map<string, Set<{ sock: Duplex }>>, close: () => Promise<void>): RunningSystem {
  const queued = new Map<string, string[]>();
  const flush = () => {
    for (const [channel, texts] of queued) {
      const r = rooms.get(channel);
      if (!r) continue;
      const frame = Buffer.concat(frameOf(Buffer.from(texts.join('\n')), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
      for (const p of r) if (!p.sock.destroyed) p.sock.write(frame);
    }
    queued.clear();
  };
  return {
    port,
    publish(channel, data) {
      if (!rooms.has(channel)) return;
      const q = queued.get(channel);
      if (q) q.push(JSON.stringify(data));
      else {
        if (queued.size === 0) setImmediate(flush);
        queued.set(channel, [JSON.stringify(data)]);
      }
    },
    close,
  };
}

/** Socket.IO 4 with rooms, WebSocket transport only (no polling upgrade dance). */
async function socketIo(): Promise<RunningSystem> {
  const { Server } = await import('socket.io');
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, pingInterval: 25_000, pingTimeout: 20_000 });
  io.use((socket, next) => {
    verifyToken((socket.handshake.auth as { token?: string }).token).then(
      () => next(),
      () => next(new Error('unauthorized')),
    );
  });
  io.on('connection', (socket) => {
    socket.on('join', (rooms: unknown) => {
      if (!Array.isArray(rooms)) return socket.disconnect(true);
      void socket.join(rooms.map(String));
      socket.emit('ok');
    });
  });
  const port = await listen(http);
  return {
    port,
    publish(channel, data) {
      io.to(channel).emit('m', data);
    },
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((r) => {
        void io.close(() => r());
      });
      await closeHttp(http).catch(() => undefined);
    },
  };
}

/** PondSocket's server as published (0.1.70): an endpoint, a channel route `/c/:id`, broadcast per channel. */
async function pondSocket(): Promise<RunningSystem> {
  const mod = (await import('@eleven-am/pondsocket')) as unknown as { PondSocket?: new (s?: Server) => Pond; default?: new (s?: Server) => Pond };
  interface Pond {
    createEndpoint(path: string, h: (req: { query?: Record<string, string> }, res: { send(e: string, p: object): void; reject(m?: string, c?: number): void }) => void): {
      createChannel(path: string, h: (req: unknown, res: { accept(a?: object): void }) => void): { broadcast(event: string, payload: object, channel?: string): void };
    };
  }
  const Ctor = mod.PondSocket ?? mod.default!;
  const http = createServer();
  const pond = new Ctor(http);
  const endpoint = pond.createEndpoint('/pond', (req, res) => {
    // The 0.1.70 server reads a client's frames only once the connection is accepted, and says
    // nothing on accept: the app tells the client with a message, as a PondSocket app would.
    verifyToken(req.query?.['token']).then(
      () => res.send('ready', {}),
      () => res.reject('unauthorized', 401),
    );
  });
  const lobby = endpoint.createChannel('/c/:id', (_req, res) => res.accept());
  const port = await listen(http);
  return {
    port,
    publish(channel, data) {
      lobby.broadcast('m', data, `/c/${channel}`);
    },
    close: async () => closeHttp(http),
  };
}

/** A Switchboard node, in-memory engine unless a broker factory is given. */
async function switchboard(options: { broker?: 'redis' | 'redis-cluster' | 'nats' | 'postgres' } = {}): Promise<RunningSystem & { sb: unknown }> {
  // BENCH_SB_SERVER: another checkout's entry point (`--other`), for before/after runs side by side.
  const other = process.env['BENCH_SB_SERVER'];
  const server = (other ? await import(pathToFileURL(other).href) : await import('@switchboard/server')) as typeof import('@switchboard/server');
  const { createSwitchboard } = server;
  let broker: object = {};
  if (options.broker === 'redis' || options.broker === 'redis-cluster') {
    // Both nodes of a run share the prefix the orchestrator chose (BENCH_REDIS_PREFIX), and on
    // Redis Cluster the cluster it started (BENCH_REDIS_CLUSTER: seed addresses).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
    const redis = (await import(/* optional: lands with the Redis issue */ '@switchboard/redis' as string)) as {
      createRedisEngine(o: { addresses?: string[]; clusterAddresses?: string; prefix: string }): { broker: unknown; history: unknown; presence: unknown };
    };
    const where = options.broker === 'redis-cluster' ? { clusterAddresses: process.env['BENCH_REDIS_CLUSTER'] ?? '' } : { addresses: [process.env['BENCH_REDIS'] ?? '127.0.0.1:6379'] };
    const e = redis.createRedisEngine({ ...where, prefix: process.env['BENCH_REDIS_PREFIX'] ?? 'bench' });
    broker = { broker: e.broker, history: e.history, presence: e.presence };
  }
  if (options.broker === 'nats') {
    // core NATS between the nodes, history and presence in JetStream; the run's own prefix
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
    const nats = (await import('@switchboard/nats' as string)) as {
      createNatsEngine(o: { servers: string; prefix: string }): { broker: unknown; history?: unknown; presence?: unknown };
    };
    const e = nats.createNatsEngine({ servers: process.env['BENCH_NATS'] ?? 'nats://127.0.0.1:4222', prefix: process.env['BENCH_REDIS_PREFIX'] ?? 'bench' });
    broker = { broker: e.broker, history: e.history, presence: e.presence };
  }
  if (options.broker === 'postgres') {
    // Both nodes of a run share the schema the orchestrator chose (BENCH_PG_SCHEMA).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving this optional import
    const pg = (await import('@switchboard/postgres' as string)) as {
      createPostgresEngine(o: { dsn: string; schema: string; poolSize: number }): { broker: unknown; history: unknown; presence: unknown };
    };
    const e = pg.createPostgresEngine({ dsn: process.env['BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test', schema: process.env['BENCH_PG_SCHEMA'] ?? 'bench', poolSize: 8 });
    broker = { broker: e.broker, history: e.history, presence: e.presence };
  }
  const sb = createSwitchboard({
    token: { hmacSecret: SECRET },
    channels: { allowSubscribeForClient: true },
    // The raw hubs buffer without bound; give the queue room so a ladder step that overloads
    // the load generator is measured as lateness, not as slow-consumer disconnects.
    limits: { maxQueueBytes: 64 * 1024 * 1024, maxChannelsPerConnection: 256 },
    ...broker,
  });
  // The server HTTP API (publish from another process), where this checkout has it.
  const createApi = ((other ? await import(pathToFileURL(other).href) : await import('@switchboard/server')) as Record<string, unknown>)['createApiHandler'] as
    | ((sb: unknown, o: { key: string }) => (q: IncomingMessage, s: import('node:http').ServerResponse) => Promise<boolean>)
    | undefined;
  const api = createApi?.(sb, { key: API_KEY });
  const http = createServer((q, s) => {
    if (!api) return void s.writeHead(404).end();
    api(q, s).then(
      (handled) => void (handled || s.writeHead(404).end()),
      () => void s.writeHead(500).end(),
    );
  });
  sb.attach(http, { path: '/connection/websocket' });
  for (const p of ['plain', 'pond'] as const) if (sb.protocol(p)) sb.attach(http, { path: `/${p}`, protocol: p });
  // Phoenix, where this checkout has it. The bench's clients send no heartbeats (their cost is one
  // tiny frame per client per 30 s): the 60 s no-frame close is off so a long ladder keeps them.
  const mod = (other ? await import(pathToFileURL(other).href) : await import('@switchboard/server')) as { phoenixProtocol?: (o: { idleTimeoutMs: number }) => unknown };
  if (sb.protocol('phoenix') && mod.phoenixProtocol) {
    sb.registerProtocol(mod.phoenixProtocol({ idleTimeoutMs: 0 }) as Parameters<typeof sb.registerProtocol>[0]);
    sb.attach(http, { path: '/socket/websocket', protocol: 'phoenix' });
  }
  // Pusher protocol 7 at /app/{key}, its app's channels the top-level ones (namespace ''), where this checkout has it.
  if ('pusher' in server) server.pusher(sb, { apps: [PUSHER_APP] }).attach(http);
  // HTTP-streaming and SSE (the SDK's fallbacks), where this checkout has them.
  if ('handleRequest' in sb) for (const transport of ['http_stream', 'sse', 'emulation'] as const) sb.attach(http, { transport });
  await sb.start();
  const port = await listen(http);
  return {
    sb,
    port,
    publish(channel, data) {
      return sb.publish(channel, data);
    },
    close: async () => {
      await sb.shutdown({ timeoutMs: 1000 });
      await closeHttp(http);
    },
  };
}

/**
 * Not a server: publishes through another process's Switchboard HTTP API (`POST /api/publish`,
 * keep-alive connections), so the publication crosses HTTP as it would from an app backend.
 */
async function httpPublisher(target: number): Promise<RunningSystem> {
  const { Agent, request } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let failures = 0;
  return {
    port: 0,
    publish(channel, data) {
      const body = JSON.stringify({ channel, data });
      return new Promise<void>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port: target, path: '/api/publish', method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, 'content-length': Buffer.byteLength(body) } },
          (res) => {
            if (res.statusCode !== 200) failures++;
            res.resume();
            res.on('end', () => resolve());
          },
        );
        req.on('error', () => {
          failures++;
          resolve();
        });
        req.end(body);
      });
    },
    close: async () => {
      agent.destroy();
      if (failures) console.error(`http publisher: ${failures} publish requests failed`);
    },
  };
}

export type SystemName = 'ws-loop' | 'ws-ceiling' | 'ws-batched' | 'socketio' | 'pondsocket' | 'sb' | 'sb-redis' | 'sb-redis-cluster' | 'sb-nats' | 'sb-postgres' | 'http-publisher';

export async function startSystem(name: SystemName, target = 0): Promise<RunningSystem> {
  switch (name) {
    case 'http-publisher':
      return httpPublisher(target);
    case 'ws-loop':
      return rawWs('loop');
    case 'ws-ceiling':
      return rawWs('ceiling');
    case 'ws-batched':
      return rawWs('batched');
    case 'socketio':
      return socketIo();
    case 'pondsocket':
      return pondSocket();
    case 'sb':
      return switchboard();
    case 'sb-redis':
      return switchboard({ broker: 'redis' });
    case 'sb-redis-cluster':
      return switchboard({ broker: 'redis-cluster' });
    case 'sb-nats':
      return switchboard({ broker: 'nats' });
    case 'sb-postgres':
      return switchboard({ broker: 'postgres' });
  }
}
