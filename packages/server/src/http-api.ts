/**
 * The server HTTP API, in Centrifugo's shapes (`POST /api/<method>`), so existing server SDKs and
 * curl scripts work unchanged. Mountable in any Node HTTP server: the handler answers the requests
 * under its prefix and returns false for everything else.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkChannelName } from './channels.js';
import { DisconnectError, Errors, ReplyError } from './codes.js';
import type { Switchboard } from './switchboard.js';
import type { ClientInfo, Publication } from './types.js';
import { isObject } from './internal/json.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH, MAX_VERSION_EPOCH_LENGTH } from './idempotency.js';

export interface ApiHandlerOptions {
  /** The API key (`X-API-Key: <key>` or `Authorization: apikey <key>`). Required unless `insecure`. */
  key?: string | undefined;
  /** No key check at all (development only). */
  insecure?: boolean;
  /** URL prefix, `/api` by default. */
  prefix?: string;
  /** Largest request body, bytes (1 MiB by default); larger ones get 413. */
  maxBodyBytes?: number;
  /** Called once per answered API call (metrics): the method and the error code (0 on success). */
  observe?: (method: string, code: number) => void;
}

export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

interface ApiError {
  code: number;
  message: string;
}
type ApiReply = { result: unknown } | { error: ApiError };

const METHODS = [
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'refresh',
  'presence',
  'presence_stats',
  'history',
  'history_remove',
  'channels',
  'info',
  'rpc',
  'batch',
  'revoke_token',
  'invalidate_user_tokens',
  'user_status',
  'connections',
  'unacknowledged',
] as const;
type Method = (typeof METHODS)[number];
const METHOD_SET = new Set<string>(METHODS);

/** A request field that is missing or has the wrong type: Centrifugo answers 107 "bad request". */
class FieldError extends ReplyError {
  constructor(message: string) {
    super(Errors.badRequest.code, message);
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Centrifugo's transport error mode: error codes as HTTP statuses. */
function transportStatus(code: number): number {
  if (code === 102 || code === 104) return 404;
  if (code === 107 || code === 108) return 400;
  if (code === 112) return 416;
  if (code === 113) return 409;
  return 500;
}

export function createApiHandler(sb: Switchboard, options: ApiHandlerOptions = {}): ApiHandler {
  const prefix = (options.prefix ?? '/api').replace(/\/+$/, '');
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  if (!options.insecure && !options.key) throw new Error('createApiHandler: give an API key (options.key) or set insecure: true');
  const keyHash = options.key ? sha256(options.key) : undefined;

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (options.insecure) return true;
    const candidates: string[] = [];
    const x = req.headers['x-api-key'];
    if (typeof x === 'string' && x !== '') candidates.push(x);
    else {
      const m = /^apikey\s+(.+)$/i.exec(req.headers.authorization ?? '');
      if (m) candidates.push(m[1]!.trim());
    }
    const q = url.searchParams.get('api_key');
    if (q) candidates.push(q);
    // Compare hashes so the comparison is constant-time whatever the lengths.
    return candidates.some((c) => timingSafeEqual(sha256(c), keyHash!));
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    const method = path.slice(prefix.length + 1);
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('method not allowed: use POST\n');
      return true;
    }
    if (!authorized(req, url)) {
      res.writeHead(401).end();
      return true;
    }
    if (!METHOD_SET.has(method)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`unknown API method "${method}"\n`);
      return true;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`request body larger than ${maxBody} bytes\n`);
        req.resume();
      } else res.destroy();
      return true;
    }
    let params: unknown;
    const text = body.toString('utf8').trim();
    if (text === '') params = {};
    else {
      try {
        params = JSON.parse(text);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('request body is not valid JSON\n');
        return true;
      }
    }
    const reply = await call(sb, method as Method, params, options.observe);
    const transportMode = String(req.headers['x-centrifugo-error-mode'] ?? '').toLowerCase() === 'transport';
    if ('error' in reply && transportMode) {
      res.writeHead(transportStatus(reply.error.code), { 'content-type': 'application/json' }).end(JSON.stringify(reply.error));
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    return true;
  };
}

export class BodyTooLarge extends Error {}

/** The request body, up to `max` bytes (else BodyTooLarge, before reading when Content-Length says so). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** A failed API command run through `runApiCommand`: Centrifugo's error code and message. */
export class ApiCommandError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ApiCommandError';
  }
  /** Whether running it again can succeed: only internal errors (code 100) are worth retrying. */
  get permanent(): boolean {
    return this.code !== Errors.internal.code;
  }
}

/**
 * Runs one server API command (`publish`, `broadcast`, `disconnect`, ...) exactly as
 * `POST /api/<method>` does, for callers inside the process (the async consumers): resolves with
 * the result, rejects with an ApiCommandError. `batch` is not accepted here.
 */
export async function runApiCommand(sb: Switchboard, method: string, params: unknown): Promise<unknown> {
  if (!METHOD_SET.has(method) || method === 'batch') throw new ApiCommandError(Errors.methodNotFound.code, `${Errors.methodNotFound.message}: ${method}`);
  const reply = await call(sb, method as Method, params);
  if ('error' in reply) throw new ApiCommandError(reply.error.code, reply.error.message);
  return reply.result;
}

/** One API call: the method's result, or its coded error. Never throws. */
async function call(sb: Switchboard, method: Method, params: unknown, observe?: (method: string, code: number) => void): Promise<ApiReply> {
  let reply: ApiReply;
  try {
    if (!isObject(params)) throw new FieldError('request body must be a JSON object');
    reply = { result: await run(sb, method, params, observe) };
  } catch (err) {
    reply = { error: toApiError(sb, err) };
  }
  observe?.(method, 'error' in reply ? reply.error.code : 0);
  return reply;
}

function toApiError(sb: Switchboard, err: unknown): ApiError {
  if (err instanceof ReplyError) return { code: err.code, message: err.message };
  if (err instanceof DisconnectError) return { code: Errors.badRequest.code, message: err.reason };
  sb.reportError(err);
  return { code: Errors.internal.code, message: Errors.internal.message };
}

async function run(sb: Switchboard, method: Method, p: Record<string, unknown>, observe?: (method: string, code: number) => void): Promise<unknown> {
  switch (method) {
    case 'publish': {
      const channel = channelField(p, 'channel');
      return publishResult(sb, channel, dataText(p), publishOptions(p));
    }
    case 'broadcast': {
      const channels = p['channels'];
      if (!Array.isArray(channels) || channels.length === 0) throw new FieldError('channels required: a non-empty array of channel names');
      const data = dataText(p);
      const opts = publishOptions(p);
      const responses: ApiReply[] = [];
      for (const ch of channels) {
        try {
          if (!checkChannelName(ch)) throw new FieldError('channels: every element must be a valid channel name');
          responses.push({ result: await publishResult(sb, ch, data, opts) });
        } catch (err) {
          responses.push({ error: toApiError(sb, err) });
        }
      }
      return { responses };
    }
    case 'subscribe': {
      const channel = channelField(p, 'channel');
      await sb.subscribeUser(selector(p, true), channel);
      return {};
    }
    case 'unsubscribe': {
      const channel = channelField(p, 'channel');
      await sb.unsubscribeUser(selector(p, true), channel);
      return {};
    }
    case 'disconnect': {
      const sel = selector(p, false);
      let d = { code: 3503, reason: 'force disconnect' };
      const given = p['disconnect'];
      if (given !== undefined && given !== null) {
        if (!isObject(given)) throw new FieldError('disconnect must be an object {code, reason}');
        const code = given['code'];
        const reason = given['reason'];
        if (!Number.isInteger(code) || (code as number) < 3000 || (code as number) > 4999) throw new FieldError('disconnect.code must be an integer in 3000..4999');
        if (typeof reason !== 'string' || reason === '' || Buffer.byteLength(reason) > 123) {
          throw new FieldError('disconnect.reason must be a non-empty string of at most 123 bytes');
        }
        d = { code: code as number, reason };
      }
      const whitelist = optionalStrings(p, 'whitelist');
      await sb.disconnectUser(sel, d, whitelist ?? []);
      return {};
    }
    case 'refresh': {
      const sel = selector(p, false);
      const expired = optionalBool(p, 'expired');
      const expireAt = p['expire_at'];
      if (expireAt !== undefined && (!Number.isInteger(expireAt) || (expireAt as number) < 0)) throw new FieldError('expire_at must be a unix time in seconds');
      await sb.refreshUser(sel, {
        ...(expired ? { expired } : {}),
        ...(expireAt !== undefined ? { expireAt: expireAt as number } : {}),
        ...(p['info'] !== undefined ? { info: p['info'] } : {}),
      });
      return {};
    }
    case 'presence': {
      const entries = await sb.presence(channelField(p, 'channel'));
      const presence: Record<string, unknown> = {};
      for (const [id, info] of entries) presence[id] = clientInfoJson(info);
      return { presence };
    }
    case 'presence_stats': {
      const s = await sb.presenceStats(channelField(p, 'channel'));
      return { num_clients: s.numClients, num_users: s.numUsers };
    }
    case 'history': {
      const channel = channelField(p, 'channel');
      const limit = p['limit'];
      if (limit !== undefined && !Number.isInteger(limit)) throw new FieldError('limit must be an integer');
      const reverse = optionalBool(p, 'reverse');
      let since: { offset: number; epoch: string } | undefined;
      if (p['since'] !== undefined && p['since'] !== null) {
        const s = p['since'];
        if (!isObject(s) || !Number.isInteger(s['offset'] ?? 0) || typeof (s['epoch'] ?? '') !== 'string') {
          throw new FieldError('since must be {offset: integer, epoch: string}');
        }
        since = { offset: (s['offset'] as number | undefined) ?? 0, epoch: (s['epoch'] as string | undefined) ?? '' };
      }
      const h = await sb.history(channel, {
        ...(limit !== undefined ? { limit: limit as number } : {}),
        ...(since ? { since } : {}),
        ...(reverse ? { reverse } : {}),
      });
      return { publications: h.publications.map(publicationJson), epoch: h.position.epoch, offset: h.position.offset };
    }
    case 'history_remove':
      await sb.removeHistory(channelField(p, 'channel'));
      return {};
    case 'channels': {
      const pattern = p['pattern'];
      if (pattern !== undefined && typeof pattern !== 'string') throw new FieldError('pattern must be a string');
      const found = await sb.channels(pattern || undefined);
      const channels: Record<string, { num_clients: number }> = {};
      for (const [ch, n] of found) channels[ch] = { num_clients: n };
      return { channels };
    }
    case 'info': {
      const info = await sb.info();
      return { nodes: info.nodes };
    }
    case 'revoke_token': {
      const uid = p['uid'];
      if (typeof uid !== 'string' || uid === '') throw new FieldError('uid required: the token id (jti), a non-empty string');
      await sb.revokeToken(uid, expireAtMs(p, DEFAULT_REVOCATION_TTL_S));
      return {};
    }
    case 'invalidate_user_tokens': {
      const user = p['user'];
      if (typeof user !== 'string' || user === '') throw new FieldError('user required: a non-empty string');
      const now = Math.floor(Date.now() / 1000);
      const before = p['issued_before'] ?? now;
      if (!Number.isInteger(before) || (before as number) < 0) throw new FieldError('issued_before must be a unix time in seconds');
      await sb.invalidateUserTokens(user, before as number, expireAtMs(p, DEFAULT_REVOCATION_TTL_S));
      return {};
    }
    case 'user_status': {
      const users = p['users'];
      if (!Array.isArray(users) || users.length === 0 || users.length > 1000 || !users.every((u) => typeof u === 'string' && u !== '')) {
        throw new FieldError('users required: an array of 1..1000 non-empty user ids');
      }
      const statuses = await sb.userStatus(users as string[]);
      return { statuses: statuses.map((s) => ({ user: s.user, online: s.online, ...(s.lastSeen !== undefined ? { last_seen: s.lastSeen } : {}) })) };
    }
    case 'connections': {
      const filter: Record<string, unknown> = {};
      for (const k of ['user', 'channel', 'transport', 'protocol'] as const) {
        const v = p[k];
        if (v === undefined || v === null) continue;
        if (typeof v !== 'string') throw new FieldError(`${k} must be a string`);
        if (k === 'channel' && !checkChannelName(v)) throw new FieldError('channel must be a channel name');
        filter[k] = v;
      }
      const meta = p['meta'];
      if (meta !== undefined && meta !== null) {
        if (!isObject(meta)) throw new FieldError('meta must be an object of field values to match');
        filter['meta'] = meta;
      }
      const limit = p['limit'];
      if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 1000)) throw new FieldError('limit must be an integer in 1..1000');
      const cursor = p['cursor'];
      if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') throw new FieldError('cursor must be a string (next_cursor of the previous page)');
      const page = await sb.connectionsQuery({ filter, ...(limit !== undefined ? { limit: limit as number } : {}), ...(typeof cursor === 'string' && cursor !== '' ? { cursor } : {}) });
      return {
        connections: page.connections.map((c) => ({
          client: c.client,
          user: c.user,
          node: c.node,
          protocol: c.protocol,
          transport: c.transport,
          channels: c.channels,
          age: c.age,
          connected_at: c.connectedAt,
          ...(c.info !== undefined ? { info: c.info } : {}),
          ...(c.meta !== undefined ? { meta: c.meta } : {}),
          ...(c.clientName !== undefined ? { name: c.clientName } : {}),
          ...(c.clientVersion !== undefined ? { version: c.clientVersion } : {}),
        })),
        ...(page.nextCursor !== undefined ? { next_cursor: page.nextCursor } : {}),
      };
    }
    case 'unacknowledged': {
      // acknowledged delivery (docs/acks.md): who was sent `offset` of `channel` and has not acknowledged it
      const channel = channelField(p, 'channel');
      const offset = p['offset'];
      if (!Number.isSafeInteger(offset) || (offset as number) < 1) throw new FieldError('offset required: an integer from 1');
      const consumers = await sb.unacknowledged(channel, offset as number);
      return { consumers: consumers.map((c) => (c.client !== undefined ? { user: c.user, client: c.client } : { user: c.user })) };
    }
    case 'rpc': {
      if (typeof p['method'] !== 'string') throw new FieldError('method required: a string');
      throw new ReplyError(Errors.methodNotFound.code, Errors.methodNotFound.message);
    }
    case 'batch': {
      const commands = p['commands'];
      if (!Array.isArray(commands)) throw new FieldError('commands required: an array of {"<method>": {...}}');
      const one = async (c: unknown): Promise<Record<string, unknown>> => {
        if (!isObject(c)) return { error: { code: 107, message: 'each command must be an object {"<method>": {...}}' } };
        const keys = Object.keys(c);
        const name = keys[0];
        if (keys.length !== 1 || name === undefined || !METHOD_SET.has(name) || name === 'batch') {
          return { error: { code: 107, message: 'each command must have exactly one known method key' } };
        }
        const r = await call(sb, name as Method, c[name], observe);
        return 'error' in r ? { error: r.error } : { [name]: r.result };
      };
      const replies = p['parallel'] === true ? await Promise.all(commands.map(one)) : [];
      if (p['parallel'] !== true) for (const c of commands) replies.push(await one(c));
      return { replies };
    }
  }
}

/** How long a revocation is remembered when the request gives no `expire_at`: 7 days. */
const DEFAULT_REVOCATION_TTL_S = 7 * 24 * 3600;

/** `expire_at` (unix seconds, in the future) as ms, or now + the default. */
function expireAtMs(p: Record<string, unknown>, defaultTtlS: number): number {
  const v = p['expire_at'];
  if (v === undefined || v === null) return Date.now() + defaultTtlS * 1000;
  if (!Number.isInteger(v) || (v as number) * 1000 <= Date.now()) throw new FieldError('expire_at must be a unix time in seconds, in the future');
  return (v as number) * 1000;
}

function channelField(p: Record<string, unknown>, name: string): string {
  const v = p[name];
  if (v === undefined || v === '') throw new FieldError(`${name} required`);
  if (!checkChannelName(v)) throw new FieldError(`${name} must be a channel name (ASCII, 1..255 characters)`);
  return v;
}

function optionalBool(p: Record<string, unknown>, name: string): boolean | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new FieldError(`${name} must be a boolean`);
  return v;
}

function optionalStrings(p: Record<string, unknown>, name: string): string[] | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FieldError(`${name} must be an array of strings`);
  return v;
}

function selector(p: Record<string, unknown>, userMayBeEmpty: boolean): { user?: string; client?: string } {
  const user = p['user'];
  const client = p['client'];
  if (user !== undefined && typeof user !== 'string') throw new FieldError('user must be a string');
  if (client !== undefined && (typeof client !== 'string' || client === '')) throw new FieldError('client must be a non-empty string');
  if (client !== undefined) return user ? { user, client } : { client };
  if (user === undefined || (user === '' && !userMayBeEmpty)) throw new FieldError('user required (or client)');
  return { user };
}

/** The publication data as JSON text: serialised once here, never again per subscriber. */
function dataText(p: Record<string, unknown>): string {
  if (p['data'] !== undefined) return JSON.stringify(p['data']);
  const b64 = p['b64data'];
  if (typeof b64 === 'string' && b64 !== '') {
    const text = Buffer.from(b64, 'base64').toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      throw new FieldError('b64data must decode to JSON: this server speaks the JSON protocol only');
    }
    return text;
  }
  throw new FieldError('data required');
}

/**
 * Centrifugo's publish result (`offset`, `epoch` where the channel keeps history) and, on a single
 * node only, `subscribers`: how many subscribers of the channel the publication was handed to.
 */
async function publishResult(sb: Switchboard, channel: string, data: string, opts: ReturnType<typeof publishOptions>): Promise<Record<string, unknown>> {
  let subscribers: number | undefined;
  const pos = await sb.publish(channel, data, { ...opts, reached: (n) => (subscribers = n) });
  return { ...(pos ? { offset: pos.offset, epoch: pos.epoch } : {}), ...(subscribers !== undefined ? { subscribers } : {}) };
}

function publishOptions(p: Record<string, unknown>): {
  raw: true;
  skipHistory?: boolean;
  tags?: Record<string, string>;
  idempotencyKey?: string;
  delta?: boolean;
  version?: number;
  versionEpoch?: string;
} {
  const skip = optionalBool(p, 'skip_history');
  const delta = optionalBool(p, 'delta');
  const tags = p['tags'];
  if (tags !== undefined && tags !== null && (!isObject(tags) || !Object.values(tags).every((v) => typeof v === 'string'))) {
    throw new FieldError('tags must be an object of strings');
  }
  const key = p['idempotency_key'];
  if (key !== undefined && key !== null && key !== '' && (typeof key !== 'string' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
    throw new FieldError(`idempotency_key must be a string of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  // Centrifugo's version / version_epoch: a stale publication (version not above the channel's last) is dropped.
  const version = p['version'];
  if (version !== undefined && version !== null && (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0)) {
    throw new FieldError('version must be a non-negative integer (at most 2^53 - 1)');
  }
  const versionEpoch = p['version_epoch'];
  if (versionEpoch !== undefined && versionEpoch !== null && (typeof versionEpoch !== 'string' || versionEpoch.length > MAX_VERSION_EPOCH_LENGTH)) {
    throw new FieldError(`version_epoch must be a string of at most ${MAX_VERSION_EPOCH_LENGTH} characters`);
  }
  return {
    raw: true,
    ...(skip ? { skipHistory: true } : {}),
    ...(delta ? { delta: true } : {}),
    ...(isObject(tags) ? { tags: tags as Record<string, string> } : {}),
    ...(typeof key === 'string' && key !== '' ? { idempotencyKey: key } : {}),
    ...(typeof version === 'number' && version > 0 ? { version } : {}),
    ...(typeof versionEpoch === 'string' && versionEpoch !== '' ? { versionEpoch } : {}),
  };
}

function parseMaybe(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function clientInfoJson(info: ClientInfo): Record<string, unknown> {
  return {
    user: info.user,
    client: info.client,
    ...(info.connInfo !== undefined ? { conn_info: parseMaybe(info.connInfo) } : {}),
    ...(info.chanInfo !== undefined ? { chan_info: parseMaybe(info.chanInfo) } : {}),
  };
}

function publicationJson(pub: Publication): Record<string, unknown> {
  return {
    data: parseMaybe(pub.data),
    ...(pub.info ? { info: clientInfoJson(pub.info) } : {}),
    ...(pub.offset !== undefined ? { offset: pub.offset } : {}),
    ...(pub.tags ? { tags: pub.tags } : {}),
  };
}
