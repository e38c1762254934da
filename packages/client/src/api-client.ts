/**
 * The server HTTP API client (Centrifugo's v5/v6 API shapes: `POST <url>/<method>` with a JSON body,
 * `X-API-Key` auth, `{"result":…}` or `{"error":{code,message}}` replies). Results are returned
 * with camelCase keys; every failure is an `ApiError` with a `kind` and a numeric `code`.
 */
import type { Contract, ContractInput } from '@switchboard/contract';
import type { AnySchema, ChannelOf, MessageOf } from './channels.js';

export type ApiErrorKind =
  /** Missing or wrong API key: HTTP 401 (`code` 401). */
  | 'unauthorized'
  /** The server answered with an error object (`code` is the API error code: 102, 107, 108...). */
  | 'api'
  /** Another HTTP status (`code` is the status). */
  | 'http'
  /** No answer: connection refused, timeout, invalid JSON (`code` 0). */
  | 'network';

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly code: number;
  /** HTTP status (0 when there was no response). */
  readonly status: number;
  readonly method: string;
  constructor(kind: ApiErrorKind, code: number, message: string, status: number, method: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ApiError';
    this.kind = kind;
    this.code = code;
    this.status = status;
    this.method = method;
  }
}

/** API error codes (Centrifugo's). */
export const ApiErrorCodes = {
  internal: 100,
  unknownChannel: 102,
  notFound: 104,
  badRequest: 107,
  notAvailable: 108,
  unrecoverablePosition: 112,
  conflict: 113,
} as const;

export interface ApiClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8000/api`. */
  url: string;
  apiKey?: string;
  /** Per-request timeout in ms (default 10000). */
  timeoutMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /**
   * A channel contract: types `publish`, `broadcast` and `history` from it (the schemas' input
   * types). The server with the same contract validates; this client does not check at runtime.
   */
  contract?: Contract;
}

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface PublishOptions {
  skipHistory?: boolean;
  tags?: Record<string, string>;
  idempotencyKey?: string;
}

export interface PublishResult {
  /** Present when the channel keeps history. */
  offset?: number;
  epoch?: string;
  /**
   * Switchboard's standalone server on one node (memory engine): how many subscribers of the
   * channel the publication was handed to (0: nobody was subscribed). Absent with many nodes
   * (Redis engine) and from Centrifugo.
   */
  subscribers?: number;
}

export type BroadcastResponse = { result: PublishResult; error?: undefined } | { error: { code: number; message: string }; result?: undefined };

export interface ClientInfo {
  client: string;
  user: string;
  connInfo?: unknown;
  chanInfo?: unknown;
}

export interface PresenceStats {
  numClients: number;
  numUsers: number;
}

export interface HistoryPublication<T> {
  data: T;
  offset: number;
  info?: ClientInfo;
  tags?: Record<string, string>;
}

export interface HistoryResult<T> {
  publications: HistoryPublication<T>[];
  epoch: string;
  offset: number;
}

export interface HistoryOptions {
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}

export interface UserTarget {
  /** The user id ('' targets anonymous connections). */
  user: string;
  client?: string;
  session?: string;
}

export interface ServerSubscribeRequest extends UserTarget {
  channel: string;
  info?: unknown;
  data?: unknown;
  expireAt?: number;
  recoverSince?: StreamPosition;
}

export interface DisconnectRequest extends UserTarget {
  whitelist?: string[];
  disconnect?: { code: number; reason: string };
}

export interface RefreshRequest extends UserTarget {
  expired?: boolean;
  expireAt?: number;
  info?: unknown;
}

export interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  numClients: number;
  numUsers: number;
  numSubs: number;
  numChannels: number;
  uptime: number;
}

export interface ApiClient<S = AnySchema> {
  publish<C extends ChannelOf<S>>(channel: C, data: MessageOf<S, C>, options?: PublishOptions): Promise<PublishResult>;
  /** One response per channel, in order; per-channel errors are values, not a rejection. */
  broadcast<C extends ChannelOf<S>>(channels: readonly C[], data: MessageOf<S, C>, options?: PublishOptions): Promise<BroadcastResponse[]>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presenceStats(channel: string): Promise<PresenceStats>;
  history<C extends ChannelOf<S>>(channel: C, options?: HistoryOptions): Promise<HistoryResult<MessageOf<S, C>>>;
  historyRemove(channel: string): Promise<void>;
  subscribe(request: ServerSubscribeRequest): Promise<void>;
  unsubscribe(request: UserTarget & { channel: string }): Promise<void>;
  disconnect(request: DisconnectRequest): Promise<void>;
  refresh(request: RefreshRequest): Promise<void>;
  info(): Promise<{ nodes: NodeInfo[] }>;
  /** Active channels (matching a glob pattern) and their subscriber counts, across nodes. */
  channels(pattern?: string): Promise<Record<string, { numClients: number }>>;
  rpc<R = unknown>(method: string, params?: unknown): Promise<R>;
  /**
   * Acknowledged delivery (Switchboard's `unacknowledged`): who was sent publication `offset` of
   * `channel` and has not acknowledged it, per user, with `client` when the subscriber named an
   * `ackClient`. An `api` error 108 for a channel without acknowledged delivery, 107 for a bad offset.
   */
  unacknowledged(channel: string, offset: number): Promise<{ user: string; client?: string }[]>;
  /** Any other method, raw: the body is sent as is and the `result` object returned. */
  call<R = unknown>(method: string, body: Record<string, unknown>): Promise<R>;
}

/** A JSON value from a reply as text: strings as they are, nothing as '', anything else as JSON. */
function asText(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

function clientInfo(v: Record<string, unknown>): ClientInfo {
  const out: ClientInfo = { client: asText(v.client), user: asText(v.user) };
  if (v.conn_info !== undefined) out.connInfo = v.conn_info;
  if (v.chan_info !== undefined) out.chanInfo = v.chan_info;
  return out;
}

function publishFields(options: PublishOptions | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options?.skipHistory) out.skip_history = true;
  if (options?.tags) out.tags = options.tags;
  if (options?.idempotencyKey) out.idempotency_key = options.idempotencyKey;
  return out;
}

function publishResult(r: Record<string, unknown> | undefined): PublishResult {
  const out: PublishResult = {};
  if (typeof r?.offset === 'number') out.offset = r.offset;
  if (typeof r?.epoch === 'string') out.epoch = r.epoch;
  if (typeof r?.subscribers === 'number') out.subscribers = r.subscribers;
  return out;
}

function target(t: UserTarget): Record<string, unknown> {
  const out: Record<string, unknown> = { user: t.user };
  if (t.client !== undefined) out.client = t.client;
  if (t.session !== undefined) out.session = t.session;
  return out;
}

export function createApiClient<const C extends Contract>(options: ApiClientOptions & { contract: C }): ApiClient<ContractInput<C>>;
export function createApiClient<S = AnySchema>(options: ApiClientOptions): ApiClient<S>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the implementation serves both overloads
export function createApiClient(options: ApiClientOptions): ApiClient<any> {
  if (!options || typeof options.url !== 'string' || options.url === '') throw new TypeError('createApiClient: `url` is required');
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new TypeError('createApiClient: no fetch available; pass `fetch`');

  async function call<R>(method: string, body: Record<string, unknown>): Promise<R> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.apiKey !== undefined) headers['x-api-key'] = options.apiKey;
    let res: Response;
    let text: string;
    try {
      res = await doFetch(`${base}/${method}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (err) {
      throw new ApiError('network', 0, `${method}: ${err instanceof Error ? err.message : String(err)}`, 0, method, err);
    }
    if (res.status === 401) throw new ApiError('unauthorized', 401, `${method}: unauthorized (missing or wrong API key)`, 401, method);
    let parsed: { result?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as typeof parsed);
    } catch {
      parsed = undefined;
    }
    if (res.status !== 200) {
      // Transport error mode puts the error object itself in the body.
      const e = (parsed?.error ?? parsed) as { code?: unknown; message?: unknown } | undefined;
      if (e && typeof e.code === 'number') throw new ApiError('api', e.code, `${method}: ${asText(e.message ?? 'error')}`, res.status, method);
      throw new ApiError('http', res.status, `${method}: HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, res.status, method);
    }
    if (parsed === undefined || typeof parsed !== 'object') throw new ApiError('network', 0, `${method}: the reply is not JSON`, res.status, method);
    if (parsed.error) {
      const code = typeof parsed.error.code === 'number' ? parsed.error.code : ApiErrorCodes.internal;
      throw new ApiError('api', code, `${method}: ${asText(parsed.error.message ?? 'error')}`, res.status, method);
    }
    return (parsed.result ?? {}) as R;
  }

  return {
    async publish(channel, data, opts) {
      return publishResult(await call('publish', { channel, data, ...publishFields(opts) }));
    },
    async broadcast(channels, data, opts) {
      const r = await call<{ responses?: { result?: Record<string, unknown>; error?: { code: number; message: string } }[] }>('broadcast', {
        channels,
        data,
        ...publishFields(opts),
      });
      return (r.responses ?? []).map((x) => (x.error ? { error: { code: x.error.code, message: x.error.message } } : { result: publishResult(x.result) }));
    },
    async presence(channel) {
      const r = await call<{ presence?: Record<string, Record<string, unknown>> }>('presence', { channel });
      const out: Record<string, ClientInfo> = {};
      for (const [id, v] of Object.entries(r.presence ?? {})) out[id] = clientInfo(v);
      return out;
    },
    async presenceStats(channel) {
      const r = await call<{ num_clients?: number; num_users?: number }>('presence_stats', { channel });
      return { numClients: r.num_clients ?? 0, numUsers: r.num_users ?? 0 };
    },
    async history(channel, opts = {}) {
      const body: Record<string, unknown> = { channel };
      if (opts.limit !== undefined) body.limit = opts.limit;
      if (opts.since) body.since = { offset: opts.since.offset, epoch: opts.since.epoch };
      if (opts.reverse) body.reverse = true;
      const r = await call<{ publications?: Record<string, unknown>[]; epoch?: string; offset?: number }>('history', body);
      return {
        publications: (r.publications ?? []).map((p) => {
          const out: HistoryPublication<never> = { data: p.data as never, offset: typeof p.offset === 'number' ? p.offset : 0 };
          if (p.info) out.info = clientInfo(p.info as Record<string, unknown>);
          if (p.tags) out.tags = p.tags as Record<string, string>;
          return out;
        }),
        epoch: r.epoch ?? '',
        offset: r.offset ?? 0,
      };
    },
    async historyRemove(channel) {
      await call('history_remove', { channel });
    },
    async subscribe(req) {
      const body = { ...target(req), channel: req.channel } as Record<string, unknown>;
      if (req.info !== undefined) body.info = req.info;
      if (req.data !== undefined) body.data = req.data;
      if (req.expireAt !== undefined) body.expire_at = req.expireAt;
      if (req.recoverSince) body.recover_since = req.recoverSince;
      await call('subscribe', body);
    },
    async unsubscribe(req) {
      await call('unsubscribe', { ...target(req), channel: req.channel });
    },
    async disconnect(req) {
      const body = target(req);
      if (req.whitelist) body.whitelist = req.whitelist;
      if (req.disconnect) body.disconnect = req.disconnect;
      await call('disconnect', body);
    },
    async refresh(req) {
      const body = target(req);
      if (req.expired !== undefined) body.expired = req.expired;
      if (req.expireAt !== undefined) body.expire_at = req.expireAt;
      if (req.info !== undefined) body.info = req.info;
      await call('refresh', body);
    },
    async info() {
      const r = await call<{ nodes?: Record<string, unknown>[] }>('info', {});
      return {
        nodes: (r.nodes ?? []).map((n) => ({
          uid: asText(n.uid),
          name: asText(n.name),
          version: asText(n.version),
          numClients: Number(n.num_clients ?? 0),
          numUsers: Number(n.num_users ?? 0),
          numSubs: Number(n.num_subs ?? 0),
          numChannels: Number(n.num_channels ?? 0),
          uptime: Number(n.uptime ?? 0),
        })),
      };
    },
    async channels(pattern) {
      const r = await call<{ channels?: Record<string, { num_clients?: number }> }>('channels', pattern === undefined ? {} : { pattern });
      const out: Record<string, { numClients: number }> = {};
      for (const [name, v] of Object.entries(r.channels ?? {})) out[name] = { numClients: v.num_clients ?? 0 };
      return out;
    },
    async rpc(method, params) {
      const r = await call<{ data?: unknown }>('rpc', { method, params: params ?? {} });
      return r.data as never;
    },
    async unacknowledged(channel, offset) {
      const r = await call<{ consumers?: { user?: unknown; client?: unknown }[] }>('unacknowledged', { channel, offset });
      return (r.consumers ?? []).map((c) => (typeof c.client === 'string' ? { user: asText(c.user), client: c.client } : { user: asText(c.user) }));
    },
    call,
  };
}
