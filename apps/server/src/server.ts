/**
 * The standalone server: one HTTP server carrying the WebSocket endpoints, the server API, health,
 * metrics, the admin page and the demo chat. Built only on @switchboard/server's public API.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { createApiHandler, createGrpcApi, createSwitchboard, type GrpcApiServer, installProxies, phoenixLongPoll, pusher, type Switchboard, VERSION } from '@switchboard/server';
import type { Contract } from '@switchboard/contract';
import { SignJWT } from 'jose';
import type { Logger } from 'pino';
import { createAdminHandler } from './admin.js';
import { ConfigError, pusherAppsOf, type ServerConfig, settings, type ServerSettings } from './config.js';
import { startConsumers } from './consumers.js';
import { engines } from './engines.js';
import { createMetrics } from './metrics.js';
import { redactUrl, sendJson } from './util.js';

export interface RunningServer {
  sb: Switchboard;
  http: Server;
  settings: ServerSettings;
  address: AddressInfo;
  /** Graceful drain: refuse new connections, tell clients to reconnect, wait up to the shutdown timeout. */
  close(): Promise<void>;
  /**
   * Re-read `pusher.apps_file` (SIGHUP) and put its apps in place beside the inline ones; logged. An
   * invalid file is refused (logged, false) and the running apps stay as they were.
   */
  reloadPusherApps(): boolean;
}

const PUBLIC = new URL('../public/', import.meta.url);
const require = createRequire(import.meta.url);

function readPublic(name: string): string {
  return readFileSync(new URL(name, PUBLIC), 'utf8');
}

/** A listen failure with what to do about it (the port is in use, or needs privileges). */
function listenError(err: NodeJS.ErrnoException, port: number): Error {
  const choose = 'choose another with --port N (or http_server.port in the config, or SWITCHBOARD_HTTP_SERVER_PORT)';
  if (err.code === 'EADDRINUSE') return new Error(`${err.message}: port ${port} is used by another process; stop it, or ${choose}`, { cause: err });
  if (err.code === 'EACCES') return new Error(`${err.message}: port ${port} needs privileges; ${choose}, e.g. 8000`, { cause: err });
  return err;
}

export async function startServer(config: ServerConfig, log: Logger, overrides: { port?: number; address?: string; contract?: Contract } = {}): Promise<RunningServer> {
  const s = settings(config);
  if (overrides.port !== undefined) s.port = overrides.port;
  if (overrides.address !== undefined) s.address = overrides.address;
  const factory = engines.get(s.engine.type);
  if (!factory) {
    throw new ConfigError([{ key: 'engine.type', message: `the "${s.engine.type}" engine is not available in this build; use "memory"` }]);
  }
  const engine = await factory(s.engine, log);

  // The demo signs its visitors' connection tokens; without a configured HMAC secret (development
  // mode) it uses one made up for this process only.
  const token = { ...s.switchboard.token };
  let demoSecret = s.hmacSecret;
  if (s.demo.enabled && !demoSecret && !token.rsaPublicKey && !token.ecdsaPublicKey && !token.jwksUrl) {
    demoSecret = randomBytes(32).toString('base64url');
    token.hmacSecret = demoSecret;
  }
  const sb = createSwitchboard({ ...s.switchboard, token, ...engine.options, logger: log, ...(overrides.contract ? { contract: overrides.contract } : {}) });
  const proxies = s.proxy ? installProxies(sb, s.proxy) : undefined;
  for (const w of s.webhooks) sb.webhooks(w);
  const appsFile = s.pusher.appsFile;
  const pusherMount = s.pusher.apps.length > 0 || appsFile !== undefined ? pusher(sb, { apps: s.pusher.apps, reloadable: appsFile !== undefined }) : undefined;
  if (appsFile !== undefined) log.info({ file: appsFile, apps: s.pusher.apps.map((a) => a.id) }, 'pusher apps: loaded; the file is read again on SIGHUP');
  const metrics = s.prometheus ? createMetrics(sb, pusherMount ? () => pusherMount.stats() : undefined) : undefined;
  // Connect and disconnect are logged by the core at debug; subscriptions too, here.
  if (log.isLevelEnabled('debug')) {
    sb.on('subscribe', (client, channel) => log.debug({ client: client.id, user: client.user, channel }, 'subscribe'));
    sb.on('unsubscribe', (client, channel) => log.debug({ client: client.id, user: client.user, channel }, 'unsubscribe'));
  }

  if (s.switchboard.insecure) {
    log.warn('client.insecure is ON: every connection, subscription and publication is allowed without tokens. Development only, never in production!');
  }
  if (!s.switchboard.insecure && !(s.switchboard.allowedOrigins && s.switchboard.allowedOrigins.length > 0)) {
    log.warn('client.allowed_origins is not set: browser pages from any origin may open connections (set it, e.g. ["https://app.example.com"])');
  }
  if (s.grpcApi.enabled && !s.grpcApi.key) log.warn('grpc_api.key is not set: the GRPC API needs no key. Set it (clients send "authorization: apikey <KEY>") outside development!');
  if (s.api.insecure) log.warn('http_api.insecure is ON: the server API needs no key. Development only!');
  if (s.admin.enabled && s.admin.insecure) log.warn('admin.insecure is ON: the admin page needs no password. Development only!');
  if (s.demo.enabled && !s.switchboard.insecure) log.warn('demo.enabled is ON: anyone can get a connection token from /demo/token. Turn it off in production.');

  const api = createApiHandler(sb, {
    key: s.api.key,
    insecure: s.api.insecure,
    prefix: s.api.prefix,
    observe: metrics ? (method, code) => metrics.apiCalls.inc({ method, code: String(code) }) : undefined,
  });
  const admin = s.admin.enabled ? createAdminHandler(sb, s.admin, log, pusherMount) : undefined;
  // Phoenix's LongPoll fallback beside its WebSocket endpoint: <mount>/longpoll for <mount>/websocket.
  const longPoll = s.phoenix.enabled && sb.protocol('phoenix') && s.phoenix.path.endsWith('/websocket') ? phoenixLongPoll(sb, { path: s.phoenix.path.replace(/\/websocket$/, '/longpoll') }) : undefined;

  const demoTransports = [
    { transport: 'websocket', path: '/connection/websocket' },
    ...(s.transports.http_stream.enabled ? [{ transport: 'http_stream', path: s.transports.http_stream.path }] : []),
    ...(s.transports.sse.enabled ? [{ transport: 'sse', path: s.transports.sse.path }] : []),
  ];
  const demoPage = s.demo.enabled
    ? readPublic('index.html')
        .replaceAll('__CHANNEL__', JSON.stringify(s.demo.channel))
        .replaceAll('__TRANSPORTS__', JSON.stringify(demoTransports))
        .replaceAll('__EMULATION__', JSON.stringify(s.transports.emulation.path))
    : undefined;
  const centrifugeBundle = s.demo.enabled || s.admin.enabled ? require.resolve('centrifuge').replace(/index\.js$/, 'index.mjs') : undefined;

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<string> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (await api(req, res)) return 'api';
    if (pusherMount && (await pusherMount.handleHttp(req, res))) return 'pusher-api';
    if (longPoll && (await longPoll(req, res))) return 'phoenix-longpoll';
    if (admin && (path === '/admin' || path.startsWith('/admin/')) && (await admin(req, res))) return 'admin';
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/health' && s.health && get) {
      // liveness: 200 while the process serves; an engine with a database says whether it answers
      sendJson(res, 200, engine.ready && s.engine.type === 'postgres' ? { status: 'ok', database: (await engine.ready()) ? 'up' : 'down' } : { status: 'ok' });
      return 'health';
    }
    if (path === '/ready' && s.health && get) {
      const ready = !sb.isShuttingDown && (engine.ready ? await engine.ready() : true);
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : sb.isShuttingDown ? 'shutting down' : 'engine not ready' });
      return 'ready';
    }
    if (path === '/metrics' && metrics && get) {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      return 'metrics';
    }
    if (path === '/vendor/centrifuge.mjs' && centrifugeBundle && get) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' }).end(readFileSync(centrifugeBundle));
      return 'vendor';
    }
    if (demoPage !== undefined && get && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(demoPage);
      return 'demo';
    }
    if (demoSecret !== undefined && s.demo.enabled && path === '/demo/token' && get) {
      const name = (url.searchParams.get('name') ?? '').trim().slice(0, 40);
      if (name === '') {
        sendJson(res, 400, { error: { code: 107, message: 'name required' } });
        return 'demo-token';
      }
      const user = `demo-${randomBytes(6).toString('hex')}`;
      const jwt = await new SignJWT({ sub: user, info: { name } })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('24h')
        .sign(new TextEncoder().encode(demoSecret));
      sendJson(res, 200, { token: jwt, user });
      return 'demo-token';
    }
    if (path === '/version' && get) {
      sendJson(res, 200, { version: VERSION, name: sb.name });
      return 'version';
    }
    sendJson(res, 404, { error: { code: 404, message: `not found: ${req.method} ${path}` } });
    return 'not-found';
  };

  // Half-open clients: a request (or an upgrade) whose headers do not arrive within 10 s gets 408
  // and is closed; the timeouts are checked every second (Node checks every 30 s by default).
  const http = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, (req, res) => {
    route(req, res).then(
      (name) => metrics?.httpRequests.inc({ route: name, status: String(res.statusCode) }),
      (err: unknown) => {
        // A request target that does not parse (`GET http://[x/ HTTP/1.1`) is the client's fault: 400.
        // Either way the log gets the URL with its credentials redacted (`?api_key=`, `?token=`…).
        const malformed = (err as { code?: unknown } | null)?.code === 'ERR_INVALID_URL';
        if (malformed) log.warn({ url: redactUrl(req.url) }, 'malformed request URL');
        else log.error({ err, url: redactUrl(req.url) }, 'http handler failed');
        if (!res.headersSent) sendJson(res, malformed ? 400 : 500, malformed ? { error: { code: 400, message: 'malformed request URL' } } : { error: { code: 100, message: 'internal server error' } });
        else res.destroy();
      },
    );
  });
  http.keepAliveTimeout = 5_000;

  sb.attach(http, { path: '/connection/websocket' });
  if (s.plain.enabled && sb.protocol('plain')) sb.attach(http, { path: s.plain.path, protocol: 'plain' });
  if (s.pondsocket.enabled && sb.protocol('pond')) sb.attach(http, { path: s.pondsocket.path, protocol: 'pond' });
  if (pusherMount) pusherMount.attach(http, s.pusher.path);
  const isPusherPath = (path: string) => pusherMount !== undefined && path.startsWith(`${s.pusher.path}/`) && !path.slice(s.pusher.path.length + 1).includes('/');
  if (s.phoenix.enabled && sb.protocol('phoenix')) sb.attach(http, { path: s.phoenix.path, protocol: 'phoenix' });
  const tr = s.transports;
  if (tr.http_stream.enabled) sb.attach(http, { transport: 'http_stream', path: tr.http_stream.path });
  if (tr.sse.enabled) sb.attach(http, { transport: 'sse', path: tr.sse.path });
  if (tr.http_stream.enabled || tr.sse.enabled) sb.attach(http, { transport: 'emulation', path: tr.emulation.path });
  if (tr.uni_sse.enabled) sb.attach(http, { transport: 'uni_sse', path: tr.uni_sse.path });
  if (tr.uni_http_stream.enabled) sb.attach(http, { transport: 'uni_http_stream', path: tr.uni_http_stream.path });
  if (tr.uni_websocket.enabled) sb.attach(http, { transport: 'uni_websocket', path: tr.uni_websocket.path });
  // Upgrades to any other path are refused instead of hanging.
  const endpoints = new Set(['/connection/websocket', ...(tr.uni_websocket.enabled ? [tr.uni_websocket.path] : []), ...(sb.protocol('plain') && s.plain.enabled ? [s.plain.path] : []), ...(sb.protocol('pond') && s.pondsocket.enabled ? [s.pondsocket.path] : []), ...(sb.protocol('phoenix') && s.phoenix.enabled ? [s.phoenix.path] : [])]);
  http.on('upgrade', (req, socket) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!endpoints.has(path) && !isPusherPath(path)) socket.end(`HTTP/1.1 404 ${STATUS_CODES[404]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  try {
    await sb.start();
  } catch (err) {
    await sb.shutdown({ timeoutMs: 0 }).catch(() => {});
    const hint = engine.hint ? ` (${engine.hint})` : '';
    throw new Error(`the ${s.engine.type} engine did not start: ${(err as Error).message}${hint}`, { cause: err });
  }
  let consumers: { close: () => Promise<void> };
  try {
    await engine.started?.(sb);
    consumers = await startConsumers(s.consumers, sb, log, metrics ? (consumer, method) => metrics.consumerCommands.inc({ consumer, method }) : undefined);
  } catch (err) {
    await sb.shutdown({ timeoutMs: 0 }).catch(() => {});
    throw err;
  }
  let grpcApi: GrpcApiServer | undefined;
  if (s.grpcApi.enabled) {
    grpcApi = createGrpcApi(sb, { key: s.grpcApi.key, errorMode: s.grpcApi.error_mode === 'transport' ? 'transport' : '', ...(s.grpcApi.max_receive_message_size > 0 ? { maxReceiveMessageSize: s.grpcApi.max_receive_message_size } : {}) });
    try {
      const port = await grpcApi.listen(s.grpcApi.port, s.grpcApi.address || s.address);
      log.info({ port, address: s.grpcApi.address || s.address }, 'GRPC API listening');
    } catch (err) {
      await consumers.close();
      await sb.shutdown({ timeoutMs: 0 }).catch(() => {});
      throw new Error(`grpc_api: cannot listen on port ${s.grpcApi.port}: ${(err as Error).message}; set grpc_api.port`, { cause: err });
    }
  }
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => reject(listenError(err, s.port)));
    http.listen(s.port, s.address, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  log.info(
    {
      url: `http://${address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}/`,
      address: address.address,
      port: address.port,
      engine: s.engine.type,
      endpoints: [...endpoints],
      demo: s.demo.enabled,
      admin: s.admin.enabled,
      version: VERSION,
    },
    'switchboard listening',
  );

  let closing: Promise<void> | undefined;
  const reloadPusherApps = (): boolean => {
    if (appsFile === undefined || !pusherMount) {
      log.info('SIGHUP: nothing to reload (pusher.apps_file is not set)');
      return false;
    }
    let change;
    try {
      change = pusherMount.reload(pusherAppsOf(config.pusher));
    } catch (err) {
      const detail = err instanceof ConfigError ? err.issues.map((i) => `${i.key}: ${i.message}`).join('; ') : (err as Error).message;
      log.error({ file: appsFile, error: detail }, `pusher apps: ${appsFile} refused, the running apps are unchanged: ${detail}`);
      return false;
    }
    const ids = (list: readonly { id: string }[]) => list.map((a) => a.id);
    log.info(
      { file: appsFile, added: ids(change.added), removed: ids(change.removed), changed: ids(change.changed), apps: [...pusherMount.apps.all()].map((a) => a.id) },
      'pusher apps reloaded',
    );
    return true;
  };
  return {
    reloadPusherApps,
    sb,
    http,
    settings: s,
    address,
    close() {
      closing ??= (async () => {
        log.info({ timeoutMs: s.shutdownTimeoutMs }, 'shutting down: draining connections');
        http.close();
        await consumers.close();
        await grpcApi?.close();
        await sb.shutdown({ timeoutMs: s.shutdownTimeoutMs });
        await pusherMount?.close(1000);
        proxies?.close();
        http.closeAllConnections();
        log.info('shutdown complete');
      })();
      return closing;
    },
  };
}
