/**
 * The admin page (/admin) and its JSON API (/admin/api/*), behind admin.password. Logging in sets
 * an HttpOnly, SameSite=Strict session cookie signed (HMAC-SHA256) with admin.secret; state-changing
 * calls also need a JSON body, which a cross-site form cannot send.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiCommandError, type PusherMount, type Switchboard, ReplyError, runApiCommand, VERSION } from '@switchboard/server';
import type { Logger } from 'pino';
import type { ServerSettings } from './config.js';
import { sendJson } from './util.js';

const COOKIE = 'sb_admin';
const SESSION_SECONDS = 12 * 3600;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function readJson(req: IncomingMessage, max = 256 * 1024): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) reject(new ReplyError(413, 'body too large')); // keeps draining so the answer can be written
      else chunks.push(c);
    });
    req.on('end', () => {
      if (size > max) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch {
        reject(new ReplyError(400, 'body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

export function createAdminHandler(sb: Switchboard, cfg: ServerSettings['admin'], log: Logger, pusher?: Pick<PusherMount, 'stats'>): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const page = readFileSync(new URL('../public/admin.html', import.meta.url), 'utf8');
  const secret = cfg.secret ?? '';
  const passwordHash = sha256(cfg.password ?? '');
  const sign = (exp: number) => createHmac('sha256', secret).update(`admin:${exp}`).digest('base64url');
  const failures: number[] = [];

  const session = (req: IncomingMessage): boolean => {
    if (cfg.insecure) return true;
    const cookie = req.headers.cookie ?? '';
    const m = new RegExp(`(?:^|;\\s*)${COOKIE}=(\\d+)\\.([A-Za-z0-9_-]+)`).exec(cookie);
    if (!m) return false;
    const exp = Number(m[1]);
    if (!(exp > Date.now() / 1000)) return false;
    const want = Buffer.from(sign(exp));
    const got = Buffer.from(m[2]!);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/admin' || path === '/admin/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY' }).end(page);
      return true;
    }
    if (path === '/admin/login' && req.method === 'POST') {
      const now = Date.now();
      while (failures.length > 0 && failures[0]! < now - 60_000) failures.shift();
      if (failures.length >= 10) {
        sendJson(res, 429, { error: { code: 429, message: 'too many failed logins; wait a minute' } });
        return true;
      }
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (err) {
        const status = err instanceof ReplyError ? err.code : 400;
        sendJson(res, status, { error: { code: status, message: (err as Error).message } });
        return true;
      }
      const password = typeof body === 'object' && body !== null ? (body as { password?: unknown }).password : undefined;
      if (!cfg.insecure && (typeof password !== 'string' || !timingSafeEqual(sha256(password), passwordHash))) {
        failures.push(now);
        log.warn({ remote: req.socket.remoteAddress }, 'admin login failed');
        sendJson(res, 401, { error: { code: 401, message: 'wrong password' } });
        return true;
      }
      const exp = Math.floor(now / 1000) + SESSION_SECONDS;
      log.info({ remote: req.socket.remoteAddress }, 'admin login');
      // Secure when the page was reached over HTTPS (directly or through a proxy that says so).
      const https = (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
      sendJson(res, 200, { ok: true }, { 'set-cookie': `${COOKIE}=${exp}.${sign(exp)}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${https ? '; Secure' : ''}` });
      return true;
    }
    if (path === '/admin/logout' && req.method === 'POST') {
      sendJson(res, 200, { ok: true }, { 'set-cookie': `${COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0` });
      return true;
    }
    if (!path.startsWith('/admin/api/')) return false;
    if (!session(req)) {
      sendJson(res, 401, { error: { code: 401, message: 'log in first' } });
      return true;
    }
    try {
      const op = path.slice('/admin/api/'.length);
      if (op === 'state' && req.method === 'GET') {
        const [info, channels] = await Promise.all([sb.info(), sb.channels()]);
        const conns = [];
        for (const c of sb.liveConnections()) {
          if (conns.length >= 200) break;
          conns.push({ id: c.id, user: c.user, protocol: c.protocol, transport: c.transport.kind, state: c.state, channels: c.channels(), since: c.openedAt, name: c.clientName, version: c.clientVersion });
        }
        sendJson(res, 200, {
          name: sb.name,
          version: VERSION,
          insecure: sb.options.insecure === true,
          uptime: Math.floor((Date.now() - sb.startedAt) / 1000),
          counts: sb.counts(),
          stats: {
            messagesIn: sb.stats.messagesIn,
            messagesOut: sb.stats.messagesOut,
            bytesIn: sb.stats.bytesIn,
            bytesOut: sb.stats.bytesOut,
            publications: sb.stats.publications,
            deliveries: sb.stats.deliveries,
            disconnects: Object.fromEntries(sb.stats.disconnects),
            errors: Object.fromEntries(sb.stats.errors),
          },
          memory: process.memoryUsage().rss,
          nodes: info.nodes,
          channels: [...channels].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 500).map(([channel, subscribers]) => ({ channel, subscribers })),
          connections: conns,
        });
        return true;
      }
      if (op === 'channel' && req.method === 'GET') {
        const channel = url.searchParams.get('channel') ?? '';
        const attempt = async <T>(f: () => Promise<T>) => {
          try {
            return { ok: await f() };
          } catch (err) {
            return { error: err instanceof ReplyError ? { code: err.code, message: err.message } : { code: 100, message: 'internal error' } };
          }
        };
        const presence = await attempt(async () => [...(await sb.presence(channel)).values()].map((i) => ({ ...i, connInfo: parse(i.connInfo), chanInfo: parse(i.chanInfo) })));
        const history = await attempt(async () => {
          const h = await sb.history(channel, { limit: 20, reverse: true });
          return { position: h.position, publications: h.publications.map((p) => ({ offset: p.offset, data: parse(p.data), user: p.info?.user, time: p.time })) };
        });
        sendJson(res, 200, { channel, presence, history });
        return true;
      }
      if (op === 'publish' && req.method === 'POST') {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
          sendJson(res, 415, { error: { code: 415, message: 'send application/json' } });
          return true;
        }
        const body = (await readJson(req)) as { channel?: unknown; data?: unknown };
        if (typeof body.channel !== 'string' || body.channel === '' || body.data === undefined) {
          sendJson(res, 200, { error: { code: 107, message: 'channel and data required' } });
          return true;
        }
        const pos = await sb.publish(body.channel, body.data);
        log.info({ channel: body.channel }, 'admin publish');
        sendJson(res, 200, { result: pos ?? {} });
        return true;
      }
      if (op === 'disconnect' && req.method === 'POST') {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
          sendJson(res, 415, { error: { code: 415, message: 'send application/json' } });
          return true;
        }
        const body = (await readJson(req)) as { client?: unknown };
        if (typeof body.client !== 'string' || body.client === '') {
          sendJson(res, 200, { error: { code: 107, message: 'client required' } });
          return true;
        }
        await sb.disconnectUser({ client: body.client });
        sendJson(res, 200, { result: {} });
        return true;
      }
      if (op === 'webhooks' && req.method === 'GET') {
        sendJson(res, 200, {
          webhooks: sb.webhookQueues.map((q) => ({ ...q.stats(), recentDeadLetters: q.deadLetters().slice(-50).reverse() })),
          // lifecycle events a failed cluster-state call did not report (by operation), see the metrics
          lifecycleFailures: { total: sb.lifecycle.failures, byOperation: Object.fromEntries(sb.lifecycle.failuresBy) },
        });
        return true;
      }
      if (op === 'pusher' && req.method === 'GET') {
        // Per Pusher app on this node: connections, traffic, HTTP API calls, webhooks (never the secret).
        sendJson(res, 200, { apps: pusher?.stats() ?? [] });
        return true;
      }
      if (op === 'webhooks/redeliver' && req.method === 'POST') {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
          sendJson(res, 415, { error: { code: 415, message: 'send application/json' } });
          return true;
        }
        await readJson(req);
        let requeued = 0;
        for (const q of sb.webhookQueues) requeued += q.redeliverDeadLetters();
        log.info({ requeued }, 'admin webhook redelivery');
        sendJson(res, 200, { result: { requeued } });
        return true;
      }
      if (op === 'cluster' && req.method === 'POST') {
        // user status lookup, connection search, token revocation: the server API's methods
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
          sendJson(res, 415, { error: { code: 415, message: 'send application/json' } });
          return true;
        }
        const body = (await readJson(req)) as { method?: unknown; params?: unknown };
        if (typeof body.method !== 'string' || !CLUSTER_METHODS.has(body.method)) {
          sendJson(res, 200, { error: { code: 107, message: `method must be one of ${[...CLUSTER_METHODS].join(', ')}` } });
          return true;
        }
        try {
          const result = await runApiCommand(sb, body.method, body.params ?? {});
          if (body.method === 'revoke_token' || body.method === 'invalidate_user_tokens') log.info({ method: body.method }, 'admin revocation');
          sendJson(res, 200, { result });
        } catch (err) {
          if (err instanceof ApiCommandError) sendJson(res, 200, { error: { code: err.code, message: err.message.replace(/^\d+: /, '') } });
          else throw err;
        }
        return true;
      }
      sendJson(res, 404, { error: { code: 404, message: 'unknown admin call' } });
      return true;
    } catch (err) {
      if (err instanceof ReplyError) sendJson(res, 200, { error: { code: err.code, message: err.message } });
      else throw err;
      return true;
    }
  };
}

const CLUSTER_METHODS = new Set(['user_status', 'connections', 'revoke_token', 'invalidate_user_tokens']);

function parse(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
