import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isObject } from '../../internal/json.js';
import { type ChannelOptions, historyOf } from '../../channels.js';
import type { ClientInfo, Delivery, HistoryOptions, Publication } from '../../types.js';
import { isCacheChannel, type PusherApp, type PusherApps, MAX_BATCH, MAX_CHANNELS_PER_EVENT, MAX_EVENT_NAME, validChannelName } from './apps.js';
import { eventPublication } from './frames.js';
import { PresenceFold } from './presence-fold.js';
import { hmacHex, sameHex } from './signature.js';
import { clientIdOf, SOCKET_ID } from './socket-id.js';
import type { PusherApiEndpoint, PusherStats } from './stats.js';

/**
 * The Pusher HTTP API under `/apps/{app_id}/`: events, batch_events, channels, channels/{name},
 * channels/{name}/users, with Pusher's request signing checked (docs/protocols/pusher.md).
 */

/** What the API needs of the node (the public facade). */
export interface PusherApiNode {
  publish(channel: string, data: unknown, options?: { delivery?: Delivery; raw?: boolean }): Promise<unknown>;
  /** The shared presence store: Pusher presence channels track members whatever the namespace says. */
  readonly presenceStore: { get(channel: string): Promise<Map<string, ClientInfo>> };
  channels(pattern?: string): Promise<Map<string, number>>;
  disconnectUser(sel: { client: string }, d: { code: number; reason: string }): Promise<void>;
  /** Cache channels: an event that excludes its sender is kept here (the core keeps targeted publications out of history). */
  readonly registry?: { resolve(channel: string): { readonly options: ChannelOptions } | undefined };
  readonly historyStore?: { append(channel: string, pub: Publication, options: HistoryOptions): Promise<unknown> };
}

/** Seconds an `auth_timestamp` may be away from now. */
export const MAX_SKEW_SECONDS = 600;
const MAX_BODY = 1024 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ApiError(413, `Request body larger than ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Pusher's signed query: auth_key, auth_timestamp, auth_version, body_md5, auth_signature. */
export function checkSignature(app: PusherApp, method: string, path: string, query: URLSearchParams, body: Buffer, nowSeconds: number): void {
  if (query.get('auth_key') !== app.key) throw new ApiError(401, 'Unknown auth_key');
  const ts = Number(query.get('auth_timestamp'));
  if (!Number.isFinite(ts)) throw new ApiError(401, 'Missing or bad auth_timestamp');
  if (Math.abs(nowSeconds - ts) > MAX_SKEW_SECONDS) throw new ApiError(401, `Timestamp expired: auth_timestamp is more than ${MAX_SKEW_SECONDS} s from the server time`);
  if (query.get('auth_version') !== '1.0') throw new ApiError(401, 'auth_version must be 1.0');
  if (body.length > 0 || query.has('body_md5')) {
    const md5 = createHash('md5').update(body).digest('hex');
    if (query.get('body_md5') !== md5) throw new ApiError(401, 'body_md5 does not match the body');
  }
  const params = [...query.entries()].filter(([k]) => k !== 'auth_signature').map(([k, v]) => [k.toLowerCase(), v] as const);
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signed = `${method}\n${path}\n${params.map(([k, v]) => `${k}=${v}`).join('&')}`;
  const sig = query.get('auth_signature') ?? '';
  if (!sameHex(sig, hmacHex(app.secret, signed))) throw new ApiError(401, 'Invalid signature: check your app secret and the string to sign');
}

export class PusherHttpApi {
  constructor(
    readonly apps: PusherApps,
    readonly node: PusherApiNode,
    readonly prefix = '/apps',
    readonly stats?: PusherStats,
  ) {}

  /** Serve the request if it is under the prefix; false when it is not this API's. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (!path.startsWith(`${this.prefix}/`)) return false;
    let app: PusherApp | undefined;
    let endpoint: PusherApiEndpoint = 'unknown';
    let status = 500;
    try {
      const rest = path.slice(this.prefix.length + 1).split('/').map(decodeURIComponent);
      app = this.apps.byId(rest[0]!);
      if (!app) throw new ApiError(404, `Unknown app id ${rest[0]!.slice(0, 64)}`);
      const method = req.method ?? 'GET';
      endpoint = endpointOf(method, rest.slice(1));
      const body = method === 'POST' ? await readBody(req, MAX_BODY) : Buffer.alloc(0);
      checkSignature(app, method, path, url.searchParams, body, Math.floor(Date.now() / 1000));
      const result = await this.#route(app, method, rest.slice(1), url.searchParams, body);
      send(res, (status = 200), result);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      send(res, (status = err.status), { error: err.message });
    } finally {
      if (app) this.stats?.apiCall(app, endpoint, status);
    }
    return true;
  }

  async #route(app: PusherApp, method: string, parts: string[], query: URLSearchParams, body: Buffer): Promise<unknown> {
    const [what, name, sub] = parts;
    if (method === 'POST' && what === 'events' && parts.length === 1) return this.#events(app, json(body));
    if (method === 'POST' && what === 'batch_events' && parts.length === 1) return this.#batch(app, json(body));
    if (method === 'GET' && what === 'channels' && parts.length === 1) return this.#channels(app, query);
    if (method === 'GET' && what === 'channels' && parts.length === 2) return this.#channel(app, name!, query);
    if (method === 'GET' && what === 'channels' && parts.length === 3 && sub === 'users') return this.#users(app, name!);
    if (method === 'POST' && what === 'users' && parts.length === 3 && sub === 'terminate_connections') return this.#terminate(app, name!);
    throw new ApiError(404, `Not found: ${method} ${parts.join('/').slice(0, 100)}`);
  }

  #checkEvent(app: PusherApp, e: Record<string, unknown>): { name: string; data: string; delivery: Delivery | undefined } {
    const name = e['name'];
    if (typeof name !== 'string' || name === '' || name.length > MAX_EVENT_NAME) throw new ApiError(400, `name must be a string of 1 to ${MAX_EVENT_NAME} characters`);
    if (name.startsWith('pusher:') || name.startsWith('pusher_internal:')) throw new ApiError(400, 'Event names starting with pusher: or pusher_internal: are reserved');
    const data = e['data'];
    if (typeof data !== 'string') throw new ApiError(400, 'data must be a string (JSON-encode objects)');
    if (Buffer.byteLength(data) > app.maxEventPayloadBytes) throw new ApiError(413, `Event data larger than ${app.maxEventPayloadBytes} bytes`);
    const socketId = e['socket_id'];
    let delivery: Delivery | undefined;
    if (socketId !== undefined) {
      if (typeof socketId !== 'string' || !SOCKET_ID.test(socketId)) throw new ApiError(400, 'socket_id must look like 123.456');
      const client = clientIdOf(socketId);
      if (client !== undefined) delivery = { exceptClient: client };
    }
    return { name, data, delivery };
  }

  async #publish(app: PusherApp, channels: string[], ev: { name: string; data: string; delivery: Delivery | undefined }): Promise<void> {
    // `{event, payload}` with the data's bytes inside (raw): Pusher clients get them back as they came.
    const text = eventPublication(ev.name, ev.data);
    await Promise.all(
      channels.map(async (c) => {
        const channel = this.apps.channelOf(app, c);
        await this.node.publish(channel, text, { raw: true, ...(ev.delivery ? { delivery: ev.delivery } : {}) });
        if (ev.delivery && isCacheChannel(c)) await this.#keep(channel, text);
      }),
    );
  }

  /** Pusher caches every event of a cache channel, those that exclude their sender too. */
  async #keep(channel: string, text: string): Promise<void> {
    const resolved = this.node.registry?.resolve(channel);
    const history = resolved === undefined ? undefined : historyOf(resolved.options);
    if (history !== undefined && this.node.historyStore) await this.node.historyStore.append(channel, { data: text, time: Date.now() }, history);
  }

  async #events(app: PusherApp, b: unknown): Promise<unknown> {
    if (!isObject(b)) throw new ApiError(400, 'The body must be a JSON object');
    const channels = b['channels'] ?? (b['channel'] === undefined ? undefined : [b['channel']]);
    if (!Array.isArray(channels) || channels.length === 0) throw new ApiError(400, 'channels (or channel) is required');
    if (channels.length > MAX_CHANNELS_PER_EVENT) throw new ApiError(400, `At most ${MAX_CHANNELS_PER_EVENT} channels per event`);
    for (const c of channels) if (!validTarget(c)) throw new ApiError(400, `Invalid channel name: ${String(c).slice(0, 64)}`);
    const ev = this.#checkEvent(app, b);
    const info = b['info'];
    if (info !== undefined && typeof info !== 'string') throw new ApiError(400, 'info must be a comma-separated string (user_count, subscription_count)');
    await this.#publish(app, channels as string[], ev);
    if (info === undefined) return {};
    // Pusher's `info`: each channel's attributes after the event (user_count for presence channels only).
    const wanted = infoAttributes(info);
    const out: Record<string, Record<string, number>> = {};
    for (const name of channels as string[]) {
      const channel = this.apps.channelOf(app, name);
      const attrs: Record<string, number> = {};
      if (wanted.includes('user_count') && name.startsWith('presence-')) attrs['user_count'] = await this.#userCount(channel);
      if (wanted.includes('subscription_count')) attrs['subscription_count'] = await this.#subscriptionCount(channel);
      out[name] = attrs;
    }
    return { channels: out };
  }

  async #batch(app: PusherApp, b: unknown): Promise<unknown> {
    if (!isObject(b) || !Array.isArray(b['batch'])) throw new ApiError(400, 'The body must be {"batch":[...]}');
    const batch = b['batch'];
    if (batch.length > MAX_BATCH) throw new ApiError(400, `At most ${MAX_BATCH} events per batch`);
    const checked = batch.map((e: unknown) => {
      if (!isObject(e) || !validTarget(e['channel'])) throw new ApiError(400, 'Every batch event needs a valid channel');
      return { channel: e['channel'], ev: this.#checkEvent(app, e) };
    });
    for (const { channel, ev } of checked) await this.#publish(app, [channel], ev);
    return { batch: checked.map(() => ({})) };
  }

  /** A presence channel's member count (users, folded across their connections), cluster-wide. */
  async #userCount(channel: string): Promise<number> {
    return PresenceFold.fold((await this.node.presenceStore.get(channel)).values()).size;
  }

  /** A channel's subscriber count across the cluster. */
  async #subscriptionCount(channel: string): Promise<number> {
    return (await this.node.channels(channel)).get(channel) ?? 0;
  }

  async #channels(app: PusherApp, query: URLSearchParams): Promise<unknown> {
    const prefix = query.get('filter_by_prefix') ?? '';
    const info = infoAttributes(query.get('info') ?? '');
    if (info.includes('user_count') && !prefix.startsWith('presence-')) throw new ApiError(400, 'info=user_count needs filter_by_prefix=presence-');
    const all = await this.node.channels(this.apps.channelOf(app, `${prefix}*`));
    const out: Record<string, unknown> = {};
    for (const channel of all.keys()) {
      const name = this.apps.pusherName(channel);
      if (name === undefined || !name.startsWith(prefix) || name.startsWith('#')) continue;
      out[name] = info.includes('user_count') ? { user_count: await this.#userCount(channel) } : {};
    }
    return { channels: out };
  }

  async #channel(app: PusherApp, name: string, query: URLSearchParams): Promise<unknown> {
    if (!validChannelName(name)) throw new ApiError(400, 'Invalid channel name');
    const info = infoAttributes(query.get('info') ?? '');
    const channel = this.apps.channelOf(app, name);
    const count = await this.#subscriptionCount(channel);
    const out: Record<string, unknown> = { occupied: count > 0 };
    if (info.includes('user_count')) {
      if (!name.startsWith('presence-')) throw new ApiError(400, 'user_count is only for presence channels');
      out['user_count'] = await this.#userCount(channel);
    }
    if (info.includes('subscription_count')) out['subscription_count'] = count;
    return out;
  }

  /** Every connection signed in as the user, on any node (found through the user channel's presence), closed with 4009. */
  async #terminate(app: PusherApp, userId: string): Promise<unknown> {
    const name = `#server-to-user-${userId}`;
    if (userId === '' || !validChannelName(name.slice(1))) throw new ApiError(400, 'Invalid user id');
    const entries = await this.node.presenceStore.get(this.apps.channelOf(app, name));
    await Promise.all([...entries.keys()].map((client) => this.node.disconnectUser({ client }, TERMINATED)));
    return {};
  }

  async #users(app: PusherApp, name: string): Promise<unknown> {
    if (!validChannelName(name) || !name.startsWith('presence-')) throw new ApiError(400, 'Users can only be listed for presence channels');
    const members = PresenceFold.fold((await this.node.presenceStore.get(this.apps.channelOf(app, name))).values());
    return { users: [...members.values()].map((m) => ({ id: m.key })) };
  }
}

export const TERMINATED = { code: 4009, reason: 'Connections of this user were terminated by the app' };

function validTarget(c: unknown): c is string {
  return typeof c === 'string' && (c.startsWith('#server-to-user-') ? validChannelName(c.slice(1)) : validChannelName(c));
}

function json(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'The body is not JSON');
  }
}

/** Which endpoint a request is for (as `#route` routes it), for the per-app counters. */
function endpointOf(method: string, parts: string[]): PusherApiEndpoint {
  const [what, , sub] = parts;
  if (method === 'POST' && parts.length === 1 && (what === 'events' || what === 'batch_events')) return what;
  if (method === 'GET' && what === 'channels') return parts.length === 1 ? 'channels' : parts.length === 2 ? 'channel' : parts.length === 3 && sub === 'users' ? 'channel_users' : 'unknown';
  if (method === 'POST' && what === 'users' && parts.length === 3 && sub === 'terminate_connections') return 'terminate_connections';
  return 'unknown';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** The attributes an `info` parameter asks for (comma-separated). */
function infoAttributes(info: string): string[] {
  return info.split(',').filter((s) => s !== '');
}
