/**
 * The server API commands in Centrifugo's shapes, apart from any transport: the HTTP API handler
 * (http-api.ts) and the queue consumers (consumer.ts) execute them through here.
 */
import { checkChannelName } from './channels.js';
import { DisconnectError, Errors, ReplyError } from './codes.js';
import type { Switchboard } from './switchboard.js';
import type { ClientInfo, Publication } from './types.js';
import { isObject } from './internal/json.js';


export interface ApiError {
  code: number;
  message: string;
}
export type ApiReply = { result: unknown } | { error: ApiError };

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
] as const;
export type Method = (typeof METHODS)[number];
export const METHOD_SET = new Set<string>(METHODS);

/** A request field that is missing or has the wrong type: Centrifugo answers 107 "bad request". */
class FieldError extends ReplyError {
  constructor(message: string) {
    super(Errors.badRequest.code, message);
  }
}

/** One API call: the method's result, or its coded error. Never throws. */
export async function callApiCommand(sb: Switchboard, method: Method, params: unknown, observe?: (method: string, code: number) => void): Promise<ApiReply> {
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
      const pos = await sb.publish(channel, dataText(p), publishOptions(p));
      return pos ? { offset: pos.offset, epoch: pos.epoch } : {};
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
          const pos = await sb.publish(ch, data, opts);
          responses.push({ result: pos ? { offset: pos.offset, epoch: pos.epoch } : {} });
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
        const r = await callApiCommand(sb, name as Method, c[name], observe);
        return 'error' in r ? { error: r.error } : { [name]: r.result };
      };
      const replies = p['parallel'] === true ? await Promise.all(commands.map(one)) : [];
      if (p['parallel'] !== true) for (const c of commands) replies.push(await one(c));
      return { replies };
    }
  }
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
  return v as string[];
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

function publishOptions(p: Record<string, unknown>): { raw: true; skipHistory?: boolean; tags?: Record<string, string> } {
  const skip = optionalBool(p, 'skip_history');
  const tags = p['tags'];
  if (tags !== undefined && tags !== null && (!isObject(tags) || !Object.values(tags).every((v) => typeof v === 'string'))) {
    throw new FieldError('tags must be an object of strings');
  }
  return { raw: true, ...(skip ? { skipHistory: true } : {}), ...(isObject(tags) ? { tags: tags as Record<string, string> } : {}) };
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


/**
 * Executes one API command: `method` is a Centrifugo API method name ("publish", "broadcast", ...),
 * `params` its request object. Resolves with the method's result; rejects with a ReplyError carrying
 * Centrifugo's code for a bad command (unknown method 104, bad request 107, ...) and with the
 * original error when the command could not be applied (backend down: worth retrying).
 */
export async function executeApiCommand(sb: Switchboard, method: string, params: unknown): Promise<unknown> {
  if (!METHOD_SET.has(method)) throw new ReplyError(Errors.methodNotFound.code, `unknown API method "${method}"`);
  if (!isObject(params)) throw new FieldError('request payload must be a JSON object');
  return run(sb, method as Method, params);
}
