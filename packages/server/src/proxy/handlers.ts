/**
 * Proxy handler factories: each returns an ordinary app handler (for `onConnecting`, `onRefresh`,
 * `onSubscribe` or a route's `join`, `onPublish`, `rpc`, `onSubRefresh`) that asks a backend in
 * Centrifugo's proxy format instead of deciding in TypeScript. Every protocol whose clients reach
 * those handlers is covered (the native one, PondSocket, plain JSON, Phoenix; connect for every
 * protocol whose connections the core authenticates).
 */
import { DisconnectError, Errors, ReplyError } from '../codes.js';
import type {
  Client,
  ConnectingContext,
  Credentials,
  PublishContext,
  RefreshContext,
  RefreshResult,
  RpcContext,
  SubRefreshContext,
  SubRefreshResult,
  SubscribeContext,
  SubscribeOverride,
  SubscriptionGrant,
} from '../context.js';
import { type Logger, silentLogger } from '../logger.js';
import type { ConnectionRequest } from '../transport.js';
import { GrpcProxyCaller } from './grpc.js';
import { HttpProxyCaller } from './http.js';
import { countCall } from './metrics.js';
import { ProxyCallError, type OutgoingHeaders, type ProxyCaller, type ProxyEndpoint, type ProxyMethod } from './types.js';
import { decodeReply, optBool, optInt, optObject, optString, optStrings, override, payload, type ProxyReply } from './wire.js';

export interface ProxyHandlerOptions {
  /** Where failed and malformed calls are logged (warn). */
  logger?: Logger;
  /** Makes the transport for a `grpc://` endpoint (default: GrpcProxyCaller, on @grpc/grpc-js). */
  grpcCaller?: (endpoint: ProxyEndpoint) => ProxyCaller;
}

/** Never forwarded: they belong to one HTTP hop (the client's), not to the proxy call. */
const HOP_HEADERS = ['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'content-length', 'proxy-connection'];

/** The longest disconnect reason passed on (a WebSocket close reason holds 123 bytes). */
const MAX_REASON = 100;

/** One backend endpoint for one event: builds headers, calls, counts, decodes, maps failures. */
export class ProxyBackend {
  readonly caller: ProxyCaller;
  readonly name: string;
  readonly logger: Logger;
  readonly #httpHeaders: Set<string>;
  readonly #emulated: Set<string>;

  constructor(
    readonly endpoint: ProxyEndpoint,
    readonly method: ProxyMethod,
    options: ProxyHandlerOptions = {},
  ) {
    this.name = endpoint.name ?? 'default';
    this.logger = options.logger ?? silentLogger;
    if (endpoint.endpoint.startsWith('grpc://')) this.caller = (options.grpcCaller ?? ((e) => new GrpcProxyCaller(e)))(endpoint);
    else this.caller = new HttpProxyCaller(endpoint);
    this.#httpHeaders = new Set((endpoint.httpHeaders ?? []).map((h) => h.toLowerCase()));
    this.#emulated = new Set((endpoint.emulatedHeaders ?? []).map((h) => h.toLowerCase()));
    if ((endpoint.grpcMetadata ?? []).length > 0) {
      this.logger.warn(
        { proxy: this.name, method, grpcMetadata: endpoint.grpcMetadata },
        'grpc_metadata forwards nothing: it lists metadata of clients connected over GRPC (uni_grpc), a transport Switchboard does not serve; use http_headers',
      );
    }
  }

  get encoding(): 'json' | 'binary' {
    return this.endpoint.binaryEncoding ? 'binary' : 'json';
  }

  /**
   * What is forwarded, lowest priority first (Centrifugo 6.9's rule): static headers, then the
   * allowed emulated headers from the connect command, then the allowed headers of the
   * connection's own request. Nothing that is not listed is ever sent.
   */
  headers(request: ConnectionRequest | undefined, emulated: Readonly<Record<string, string>> | undefined): OutgoingHeaders {
    const out: OutgoingHeaders = {};
    const statics = this.caller.protocol === 'grpc' ? this.endpoint.grpc?.staticMetadata : this.endpoint.staticHeaders;
    for (const [k, v] of Object.entries(statics ?? {})) out[k.toLowerCase()] = v;
    if (emulated && this.#emulated.size > 0) {
      for (const [k, v] of Object.entries(emulated)) if (this.#emulated.has(k.toLowerCase())) out[k.toLowerCase()] = v;
    }
    if (request && this.#httpHeaders.size > 0) {
      for (const [k, v] of Object.entries(request.headers)) {
        if (v !== undefined && this.#httpHeaders.has(k.toLowerCase())) out[k.toLowerCase()] = v;
      }
    }
    // Headers about the client's own hop never describe the call to the backend, even when listed.
    for (const h of HOP_HEADERS) delete out[h];
    return out;
  }

  /** `data` as Centrifugo sends it: JSON (`data`) or base64 of its JSON text (`b64data`). */
  data(value: unknown): Record<string, unknown> {
    if (value === undefined) return {};
    if (!this.endpoint.binaryEncoding) return { data: value };
    return { b64data: Buffer.from(JSON.stringify(value) ?? '').toString('base64') };
  }

  base(client: Pick<Client, 'id' | 'transportName'>): Record<string, unknown> {
    return { client: client.id, transport: client.transportName, protocol: 'json', encoding: this.encoding };
  }

  /** The per-connection part: `user` and, when configured, `meta`. */
  connection(client: Client): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.base(client), user: client.user };
    if (this.endpoint.includeConnectionMeta && client.meta !== undefined) out['meta'] = client.meta;
    return out;
  }

  /** Call and decode; a failed or malformed call is counted, logged and thrown as a ProxyCallError. */
  async ask(request: Record<string, unknown>, headers: OutgoingHeaders, context: Record<string, unknown>): Promise<ProxyReply> {
    const started = performance.now();
    let ok = false;
    try {
      const reply = decodeReply(await this.caller.call(this.method, request, headers));
      ok = true;
      return reply;
    } catch (err) {
      this.logger.warn({ err, proxy: this.name, method: this.method, endpoint: this.endpoint.endpoint, ...context }, `${this.method} proxy call failed`);
      throw err;
    } finally {
      countCall(this.caller.protocol, this.method, this.name, performance.now() - started, ok);
    }
  }

  /** A result field that does not fit: counted and logged like a failed call. */
  malformed(err: unknown, context: Record<string, unknown>): void {
    countCall(this.caller.protocol, this.method, this.name, 0, false, true);
    this.logger.warn({ err, proxy: this.name, method: this.method, endpoint: this.endpoint.endpoint, ...context }, `${this.method} proxy answered a malformed result`);
  }

  /**
   * What a failed call becomes for the client: a configured status transform, else 100 internal
   * (temporary: SDKs retry with backoff).
   */
  failure(err: unknown): ReplyError | DisconnectError {
    if (err instanceof ProxyCallError && err.failure === 'status' && err.status !== undefined) {
      const t = this.endpoint.statusToCodeTransforms?.find((x) => x.statusCode === err.status);
      if (t?.toError && t.toError.code > 0) return new ReplyError(t.toError.code, t.toError.message, t.toError.temporary === true);
      if (t?.toDisconnect && t.toDisconnect.code > 0) return new DisconnectError({ code: t.toDisconnect.code, reason: reasonOf(t.toDisconnect.reason) });
    }
    return new ReplyError(Errors.internal);
  }

  close(): void {
    this.caller.close();
  }
}

function reasonOf(reason: string): string {
  return (reason || 'disconnect').slice(0, MAX_REASON);
}

/** The backend's `error` / `disconnect` as what the core throws (disconnect first, as in Centrifugo). */
function refusal(reply: ProxyReply): ReplyError | DisconnectError | undefined {
  if (reply.disconnect) return new DisconnectError({ code: reply.disconnect.code, reason: reasonOf(reply.disconnect.reason) });
  if (reply.error) return new ReplyError(reply.error.code, reply.error.message || 'error', reply.error.temporary);
  return undefined;
}

function backendOf(endpoint: ProxyEndpoint | ProxyBackend, method: ProxyMethod, options: ProxyHandlerOptions): ProxyBackend {
  return endpoint instanceof ProxyBackend ? endpoint : new ProxyBackend(endpoint, method, options);
}

/** Decode a result's fields; a field of the wrong shape is a malformed answer (100 internal for the client). */
function decodeResult<T>(backend: ProxyBackend, context: Record<string, unknown>, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    backend.malformed(err, context);
    throw new ReplyError(Errors.internal);
  }
}

/**
 * The connect proxy (Centrifugo's `client.proxy.connect`), for `onConnecting`: a client without a
 * token is authenticated by the backend. A client with a token is left to the token (as in
 * Centrifugo). The backend's `disconnect` closes with its code, its `error` is the connect
 * error the client sees; a failed call is 100 internal (temporary: the SDK reconnects with backoff).
 */
export function connectProxy(endpoint: ProxyEndpoint | ProxyBackend, options: ProxyHandlerOptions = {}): ((ctx: ConnectingContext) => Promise<void>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'connect', options);
  const handler = async (ctx: ConnectingContext): Promise<void> => {
    if (ctx.token !== undefined && ctx.token !== '') return;
    const context = { client: ctx.clientId };
    const request: Record<string, unknown> = { ...backend.base({ id: ctx.clientId, transportName: ctx.transport }) };
    if (ctx.name) request['name'] = ctx.name;
    if (ctx.version) request['version'] = ctx.version;
    Object.assign(request, backend.data(ctx.data));
    let reply: ProxyReply;
    try {
      reply = await backend.ask(request, backend.headers(ctx.request, ctx.emulatedHeaders), context);
    } catch (err) {
      const f = backend.failure(err);
      if (f instanceof DisconnectError) return ctx.decline(f.code, f.reason);
      return ctx.fail(f.code, f.message, f.temporary);
    }
    const refused = refusal(reply);
    if (refused instanceof DisconnectError) return ctx.decline(refused.code, refused.reason);
    if (refused) return ctx.fail(refused.code, refused.message, refused.temporary);
    const r = reply.result;
    if (r === undefined) return; // no credentials: anonymous where allowed, else refused
    let creds: Partial<Credentials>;
    try {
      creds = decodeResult(backend, context, () => connectCredentials(r));
    } catch {
      return ctx.fail(Errors.internal.code, Errors.internal.message, true);
    }
    ctx.accept(creds);
  };
  return Object.assign(handler, { backend });
}

function connectCredentials(r: Record<string, unknown>): Partial<Credentials> {
  const creds: Partial<Credentials> = { user: optString(r['user'], 'result.user') ?? '' };
  const expireAt = optInt(r['expire_at'], 'result.expire_at');
  if (expireAt !== undefined && expireAt > 0) creds.expireAt = expireAt;
  const info = payload(r, 'info', 'result');
  if (info !== undefined) creds.info = info;
  const data = payload(r, 'data', 'result');
  if (data !== undefined) creds.data = JSON.parse(data);
  const channels = optStrings(r['channels'], 'result.channels');
  if (channels !== undefined && channels.length > 0) creds.channels = channels;
  const subs = optObject(r['subs'], 'result.subs');
  if (subs !== undefined) {
    creds.subs = {};
    for (const [ch, v] of Object.entries(subs)) {
      const where = `result.subs[${JSON.stringify(ch)}]`;
      const o = optObject(v, where) ?? {};
      const grant: SubscriptionGrant = {};
      const chInfo = payload(o, 'info', where);
      if (chInfo !== undefined) grant.info = chInfo;
      const chData = payload(o, 'data', where);
      if (chData !== undefined) grant.data = chData;
      const ov = override(o['override'], `${where}.override`);
      if (ov !== undefined) grant.override = ov;
      creds.subs[ch] = grant;
    }
  }
  if (r['meta'] !== undefined && r['meta'] !== null) creds.meta = r['meta'];
  return creds;
}

/**
 * The refresh proxy (Centrifugo's `client.proxy.refresh`), for `Switchboard.onRefresh`: the server
 * asks the backend when a connection expires; `expired` (or no result) ends it with 3005,
 * `expire_at` extends it. A failed call throws: the connection gets one more minute.
 */
export function refreshProxy(endpoint: ProxyEndpoint | ProxyBackend, options: ProxyHandlerOptions = {}): ((ctx: RefreshContext) => Promise<RefreshResult>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'refresh', options);
  const handler = async (ctx: RefreshContext): Promise<RefreshResult> => {
    const c = ctx.client;
    const context = { client: c.id, user: c.user };
    const reply = await backend.ask(backend.connection(c), backend.headers(c.request, c.emulatedHeaders), context);
    const r = reply.result;
    if (r === undefined) return { expired: true };
    return decodeResult(backend, context, () => {
      if (r['expired'] === true) return { expired: true };
      const out: RefreshResult = {};
      const expireAt = optInt(r['expire_at'], 'result.expire_at');
      if (expireAt !== undefined) out.expireAt = expireAt;
      const info = payload(r, 'info', 'result');
      if (info !== undefined) out.info = info;
      if (r['meta'] !== undefined && r['meta'] !== null) out.meta = r['meta'];
      return out;
    });
  };
  return Object.assign(handler, { backend });
}

/**
 * The subscribe proxy (Centrifugo's `channel.proxy.subscribe`), for `onSubscribe` or a route's
 * `join`: the backend allows (with channel info, data for the client, an expiry and option
 * overrides) or refuses with its error or disconnect. Subscriptions with a subscription token and
 * to user-limited channels never reach it (the core decides those first, as Centrifugo does).
 * `serverRefresh`: expiring subscriptions are refreshed by `onSubRefresh` (a sub refresh proxy).
 */
export function subscribeProxy(
  endpoint: ProxyEndpoint | ProxyBackend,
  options: ProxyHandlerOptions & { serverRefresh?: boolean } = {},
): ((ctx: SubscribeContext) => Promise<void>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'subscribe', options);
  const handler = async (ctx: SubscribeContext): Promise<void> => {
    const c = ctx.client;
    const context = { client: c.id, user: c.user, channel: ctx.channel };
    const request = { ...backend.connection(c), channel: ctx.channel, ...backend.data(ctx.data) };
    let reply: ProxyReply;
    try {
      reply = await backend.ask(request, backend.headers(c.request, c.emulatedHeaders), context);
    } catch (err) {
      throw backend.failure(err);
    }
    const refused = refusal(reply);
    if (refused) throw refused;
    const r = reply.result ?? {};
    const accepted = decodeResult(backend, context, () => {
      const a: { info?: string; data?: string; expireAt?: number; override?: SubscribeOverride } = {};
      const info = payload(r, 'info', 'result');
      if (info !== undefined) a.info = info;
      const data = payload(r, 'data', 'result');
      if (data !== undefined) a.data = data;
      const expireAt = optInt(r['expire_at'], 'result.expire_at');
      if (expireAt !== undefined && expireAt > 0) a.expireAt = expireAt;
      const ov = override(r['override'], 'result.override');
      if (ov !== undefined) a.override = ov;
      return a;
    });
    ctx.accept({ ...accepted, raw: true, ...(options.serverRefresh ? { serverRefresh: true } : {}) });
  };
  return Object.assign(handler, { backend });
}

/**
 * The publish proxy (Centrifugo's `channel.proxy.publish`), for `onPublish`: the backend allows
 * (maybe with other data, maybe without history) or refuses. Returns true when allowed.
 */
export function publishProxy(endpoint: ProxyEndpoint | ProxyBackend, options: ProxyHandlerOptions = {}): ((ctx: PublishContext) => Promise<boolean>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'publish', options);
  const handler = async (ctx: PublishContext): Promise<boolean> => {
    const c = ctx.client;
    const context = { client: c.id, user: c.user, channel: ctx.channel };
    const request = { ...backend.connection(c), channel: ctx.channel, ...backend.data(ctx.data) };
    let reply: ProxyReply;
    try {
      reply = await backend.ask(request, backend.headers(c.request, c.emulatedHeaders), context);
    } catch (err) {
      throw backend.failure(err);
    }
    const refused = refusal(reply);
    if (refused) throw refused;
    const r = reply.result ?? {};
    const { data, skip } = decodeResult(backend, context, () => ({
      data: payload(r, 'data', 'result'),
      skip: optBool(r['skip_history'], 'result.skip_history') === true,
    }));
    if (data !== undefined) ctx.replaceData(data, { raw: true });
    if (skip) ctx.skipHistory();
    return true;
  };
  return Object.assign(handler, { backend });
}

/** The RPC proxy (Centrifugo's `rpc.proxy`), for `rpc(method, …)` or `rpc('*', …)`: the backend's `data` is the answer. */
export function rpcProxy(endpoint: ProxyEndpoint | ProxyBackend, options: ProxyHandlerOptions = {}): ((ctx: RpcContext) => Promise<unknown>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'rpc', options);
  const handler = async (ctx: RpcContext): Promise<unknown> => {
    const c = ctx.client;
    const context = { client: c.id, user: c.user, method: ctx.method };
    const request: Record<string, unknown> = { ...backend.connection(c), ...(ctx.method !== '' ? { method: ctx.method } : {}), ...backend.data(ctx.data) };
    let reply: ProxyReply;
    try {
      reply = await backend.ask(request, backend.headers(c.request, c.emulatedHeaders), context);
    } catch (err) {
      throw backend.failure(err);
    }
    const refused = refusal(reply);
    if (refused) throw refused;
    const r = reply.result ?? {};
    const data = decodeResult(backend, context, () => payload(r, 'data', 'result'));
    return data === undefined ? undefined : JSON.parse(data);
  };
  return Object.assign(handler, { backend });
}

/**
 * The sub refresh proxy (Centrifugo's `channel.proxy.sub_refresh`), for `onSubRefresh`: asked when
 * a subscription accepted with `serverRefresh` expires. A failed call throws (one more minute).
 */
export function subRefreshProxy(endpoint: ProxyEndpoint | ProxyBackend, options: ProxyHandlerOptions = {}): ((ctx: SubRefreshContext) => Promise<SubRefreshResult>) & { backend: ProxyBackend } {
  const backend = backendOf(endpoint, 'sub_refresh', options);
  const handler = async (ctx: SubRefreshContext): Promise<SubRefreshResult> => {
    const c = ctx.client;
    const context = { client: c.id, user: c.user, channel: ctx.channel };
    const reply = await backend.ask({ ...backend.connection(c), channel: ctx.channel }, backend.headers(c.request, c.emulatedHeaders), context);
    const r = reply.result;
    if (r === undefined) return { expired: true };
    return decodeResult(backend, context, () => {
      if (r['expired'] === true) return { expired: true };
      const out: SubRefreshResult = {};
      const expireAt = optInt(r['expire_at'], 'result.expire_at');
      if (expireAt !== undefined) out.expireAt = expireAt;
      const info = payload(r, 'info', 'result');
      if (info !== undefined) out.info = info;
      return out;
    });
  };
  return Object.assign(handler, { backend });
}
