import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { randomUUID } from 'node:crypto';
import protobuf from 'protobufjs';
import { BodyTooLarge, readBody } from './http-api.js';
import { isObject } from './internal/json.js';
import type { NodeContext } from './node-context.js';
import { unwrapPush } from './protocols/centrifuge/codec.js';
import { EmulationRequest } from './protocols/centrifuge/proto-schema.js';
import type { RouteOutcome, SessionRouter } from './session-router.js';
import type { ConnectionRequest } from './transport.js';
import { HttpStreamTransport } from './transport-http.js';
import type { UpgradeGate } from './upgrade-gate.js';

/** The HTTP (non-upgrade) endpoints of Centrifugo's transports. */
export type HttpTransportName = 'http_stream' | 'sse' | 'emulation' | 'uni_http_stream' | 'uni_sse';
/** Every transport an endpoint can serve (`websocket`, the default, and `uni_websocket` are upgrades). */
export type TransportName = 'websocket' | 'uni_websocket' | HttpTransportName;

export const HTTP_TRANSPORTS: ReadonlySet<string> = new Set<HttpTransportName>(['http_stream', 'sse', 'emulation', 'uni_http_stream', 'uni_sse']);

/** Centrifugo's default paths, per transport. */
export const DEFAULT_TRANSPORT_PATHS: Readonly<Record<TransportName, string>> = {
  websocket: '/connection/websocket',
  uni_websocket: '/connection/uni_websocket',
  http_stream: '/connection/http_stream',
  sse: '/connection/sse',
  emulation: '/emulation',
  uni_http_stream: '/connection/uni_http_stream',
  uni_sse: '/connection/uni_sse',
};

/** The SessionRouter kind of emulation requests (commands for an HTTP-streaming or SSE session). */
export const EMULATION_ROUTE = 'centrifuge.emulation';
/** The same for Protobuf sessions (HTTP-streaming only): the routed data is the commands' bytes in base64. */
export const EMULATION_ROUTE_PROTOBUF = 'centrifuge.emulation.protobuf';

/** Centrifugo picks the Protobuf encoding of its HTTP transports by this request content type. */
const PROTOBUF_TYPE = 'application/octet-stream';

/** The request's media type, without parameters, lower case ('' when none). */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

const METHODS: Readonly<Record<HttpTransportName, readonly string[]>> = {
  http_stream: ['POST'],
  sse: ['GET', 'POST'],
  emulation: ['POST'],
  uni_http_stream: ['POST'],
  uni_sse: ['GET', 'POST'],
};

/** Centrifugo's headers on a streaming response: nothing on the way may cache or buffer it. */
const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
  Pragma: 'no-cache',
  Expire: '0',
  'X-Accel-Buffering': 'no',
};

const STATUS_OF: Readonly<Record<RouteOutcome, { status: number; message: string }>> = {
  ok: { status: 204, message: '' },
  'no-session': { status: 404, message: 'unknown session' },
  'unknown-node': { status: 404, message: 'unknown node' },
  'bad-request': { status: 400, message: 'bad emulation request (its encoding must be the session\'s: JSON, or Protobuf for a Protobuf session)' },
  timeout: { status: 503, message: 'the node holding the session did not answer' },
  busy: { status: 503, message: 'session busy' },
};

function plain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(message === '' ? undefined : `${message}\n`);
}

/**
 * Centrifugo's HTTP transports for the native protocol, wire-compatible with Centrifugo v6 and
 * the official SDK:
 *
 * - `http_stream` (POST: body = connect command(s), newline-delimited JSON; with
 *   `Content-Type: application/octet-stream`, the Protobuf encoding: varint-length-delimited
 *   `Command`s in, `Reply`s back to back on the response) and `sse` (JSON only, GET with
 *   `cf_connect` = the connect command, or POST with it as body): the response streams one reply
 *   per line / per `data:` event; the connect result names the `session` and `node` the client's
 *   commands are then addressed to.
 * - `emulation` (POST `{"session","node","data"}`, data = the client's newline-joined commands as a
 *   JSON string; or, `application/octet-stream`, a Protobuf `EmulationRequest` whose `data` is the
 *   client's length-delimited `Command`s, for a Protobuf session): handed to the session, on this
 *   node or — through the SessionRouter — on the node that holds it. 204; 400 bad body; 404 unknown session or node; 413 over the size limit; 503 when
 *   the holding node did not answer or the session is backed up.
 * - `uni_http_stream` (POST: body = a connect request `{token, data, subs, name, version}`) and
 *   `uni_sse` (GET `cf_connect` = that request, absent for anonymous; or POST): push-only streams
 *   framed as Centrifugo's unidirectional transports (pushes without the reply envelope).
 *
 * Every endpoint answers CORS preflights (OPTIONS 204) for allowed origins (`allowedOrigins`; a
 * refused Origin gets 403), other methods 405, bodies over `limits.maxMessageSize` 413.
 */
export class HttpEndpoints {
  /** Emulation sessions of this node by their (secret) session id: the transport and its request order. */
  readonly sessions = new Map<string, { readonly transport: HttpStreamTransport; readonly order: CommandOrder; readonly protobuf: boolean }>();
  /** How long the emulation endpoint waits for another node to take a request. */
  routeTimeoutMs = 5_000;
  /** How long a request whose commands skip ahead waits for the ones in between (see CommandOrder). */
  reorderWindowMs = 1_000;

  constructor(
    readonly ctx: NodeContext,
    readonly gate: UpgradeGate,
    readonly router: SessionRouter,
  ) {
    router.register(EMULATION_ROUTE, (session, data) => this.#deliverLocal(session, Buffer.from(data), false));
    router.register(EMULATION_ROUTE_PROTOBUF, (session, data) => this.#deliverLocal(session, Buffer.from(data, 'base64'), true));
  }

  /** Serve one request for transport `name` (the caller matched the path). */
  handle(req: IncomingMessage, res: ServerResponse, name: HttpTransportName): void {
    this.#handle(req, res, name).catch((err: unknown) => {
      this.ctx.events.reportError(err, undefined);
      plain(res, 500, 'internal server error');
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse, name: HttpTransportName): Promise<void> {
    const methods = METHODS[name];
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!this.gate.originAllowed(origin)) return plain(res, 403, 'origin not allowed');
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
      const asked = req.headers['access-control-request-headers'];
      if (typeof asked === 'string' && asked !== '' && asked !== 'null') res.setHeader('Access-Control-Allow-Headers', asked);
    }
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': `${methods.join(', ')}, OPTIONS`, 'Access-Control-Max-Age': '300' });
      return void res.end();
    }
    if (!methods.includes(method)) return plain(res, 405, `method not allowed: use ${methods.join(' or ')}`, { Allow: `${methods.join(', ')}, OPTIONS` });
    const pb = mediaType(req) === PROTOBUF_TYPE;
    if (name === 'emulation') return this.#emulation(req, res, pb);
    // As in Centrifugo, SSE and the unidirectional transports are JSON only.
    if (pb && name !== 'http_stream') {
      return plain(res, 415, `${name} carries the JSON encoding only: use http_stream (or WebSocket) for Protobuf`);
    }

    const uni = name === 'uni_http_stream' || name === 'uni_sse';
    const no = this.gate.admit(origin);
    if (no !== undefined) return plain(res, no.status, no.message, no.retryAfter ? { 'Retry-After': '1' } : {});
    let payload: Buffer;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (method === 'GET') {
      payload = Buffer.from(url.searchParams.get('cf_connect') ?? '');
    } else {
      const body = await this.#body(req, res);
      if (body === undefined) return;
      payload = body;
    }
    if (pb) {
      if (payload.length === 0) return plain(res, 400, 'a connect command is required in the body');
      if (protobufCommandIds(payload) === null) return plain(res, 400, 'the connect command must be varint-length-delimited Protobuf Commands');
    } else {
      if (payload.toString('utf8').trim() === '') {
        if (!uni) return plain(res, 400, method === 'GET' ? 'cf_connect (the connect command) is required' : 'a connect command is required in the body');
        payload = Buffer.from('{}');
      }
      if (!validConnect(payload.toString('utf8'), uni)) {
        return plain(res, 400, uni ? 'the connect request must be a JSON object' : 'the connect command must be newline-delimited JSON objects');
      }
    }
    const registered = this.gate.protocols.get('centrifuge');
    if (registered === undefined) return plain(res, 500, 'protocol centrifuge is not registered');
    const protocol = pb ? registered.variant?.(new Set(['centrifuge-protobuf']), url.searchParams) : registered;
    if (protocol === undefined || (pb && protocol.binary !== true)) return plain(res, 415, 'the Protobuf encoding is not served by this protocol');
    void this.gate.start();

    const sse = name === 'sse' || name === 'uni_sse';
    const session = { id: randomUUID(), node: this.ctx.id };
    const transport = new HttpStreamTransport(res, {
      kind: name,
      framing: sse ? 'sse' : pb ? 'binary' : 'lines',
      mode: uni ? 'unidirectional' : 'emulation',
      session,
      remoteAddress: req.socket.remoteAddress,
      map: uni ? unwrapPush : undefined,
    });
    const contentType = sse ? 'text/event-stream; charset=utf-8' : pb ? PROTOBUF_TYPE : 'application/json; charset=utf-8';
    const headers: Record<string, string> = { ...STREAM_HEADERS, 'Content-Type': contentType };
    if (req.httpVersionMajor === 1) headers['Connection'] = 'keep-alive';
    res.writeHead(200, headers);
    req.socket.setNoDelay(true);
    // An SSE stream starts with a blank line so that proxies pass the headers on at once.
    if (sse) res.write('\r\n');
    else res.flushHeaders();
    if (!uni) {
      const order = new CommandOrder((d) => transport.deliver(d), this.reorderWindowMs, pb ? protobufCommandIds : jsonCommandIds);
      order.started(payload);
      this.sessions.set(session.id, { transport, order, protobuf: pb });
      transport.onDone = () => {
        order.close();
        this.sessions.delete(session.id);
      };
    }
    const request: ConnectionRequest = { url: req.url ?? '/', headers: req.headers, remoteAddress: req.socket.remoteAddress, query: new URLSearchParams(url.search) };
    this.gate.accept(transport, protocol, request, undefined);
    transport.deliver(payload);
  }

  async #body(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    const max = this.ctx.limits.maxMessageSize;
    try {
      return await readBody(req, max);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      plain(res, 413, `request body larger than ${max} bytes`, { Connection: 'close' });
      req.resume();
      return undefined;
    }
  }

  async #emulation(req: IncomingMessage, res: ServerResponse, pb: boolean): Promise<void> {
    const body = await this.#body(req, res);
    if (body === undefined) return;
    if (pb) return this.#emulationProtobuf(body, res);
    let r: unknown;
    try {
      r = JSON.parse(body.toString('utf8'));
    } catch {
      return plain(res, 400, 'the emulation request is not JSON');
    }
    if (!isObject(r) || typeof r['session'] !== 'string' || r['session'] === '' || typeof r['node'] !== 'string' || typeof r['data'] !== 'string') {
      return plain(res, 400, 'an emulation request is {"session":string,"node":string,"data":string}');
    }
    const outcome = await this.router.deliver(EMULATION_ROUTE, r['node'], r['session'], r['data'], { timeoutMs: this.routeTimeoutMs });
    this.#answer(res, outcome);
  }

  /** A Protobuf `EmulationRequest` (node 1, session 2, data 3: the client's length-delimited Commands). */
  async #emulationProtobuf(body: Buffer, res: ServerResponse): Promise<void> {
    let r: { node?: unknown; session?: unknown; data?: unknown };
    try {
      r = EmulationRequest.toObject(EmulationRequest.decode(body));
    } catch {
      return plain(res, 400, 'the emulation request is not a Protobuf EmulationRequest');
    }
    const { node, session, data } = r;
    if (typeof session !== 'string' || session === '' || typeof node !== 'string' || !(data instanceof Uint8Array) || data.length === 0) {
      return plain(res, 400, 'an emulation request needs session (2), node (1) and data (3, the commands)');
    }
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    const outcome = await this.router.deliver(EMULATION_ROUTE_PROTOBUF, node, session, bytes.toString('base64'), { timeoutMs: this.routeTimeoutMs });
    this.#answer(res, outcome);
  }

  #answer(res: ServerResponse, outcome: RouteOutcome): void {
    const s = STATUS_OF[outcome];
    if (s.status === 204) {
      res.writeHead(204);
      return void res.end();
    }
    plain(res, s.status, s.message);
  }

  /**
   * The router's handler on the node that holds the session: the commands go to its transport.
   * A request in the other encoding than the session's is refused (Centrifugo reads `data` by the
   * session's encoding, so such a request could only fail there too).
   */
  #deliverLocal(session: string, data: Buffer, protobuf: boolean): RouteOutcome {
    const s = this.sessions.get(session);
    if (s === undefined) return 'no-session';
    if (s.protobuf !== protobuf) return 'bad-request';
    return s.order.push(data) ? 'ok' : 'busy';
  }

  close(): void {
    this.sessions.clear();
  }
}

/**
 * The smallest and largest command id in one request's commands: undefined when none has one;
 * null when the commands do not decode (the session answers them).
 */
export type CommandIds = (data: Buffer) => { min: number; max: number } | undefined | null;

/** Command ids of newline-delimited JSON commands. */
export const jsonCommandIds: CommandIds = (data) => {
  let min = Infinity;
  let max = 0;
  for (const line of data.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return null;
    }
    const id = isObject(v) ? v['id'] : undefined;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) continue;
    if (id < min) min = id;
    if (id > max) max = id;
  }
  return max === 0 ? undefined : { min, max };
};

/**
 * Command ids of varint-length-delimited Protobuf `Command`s: each command's field 1 (`id`,
 * uint32) is read by walking its fields, nothing else is decoded. null when the bytes are not
 * such commands (a length past the end, a field of an unknown wire type) or there are none.
 */
export const protobufCommandIds: CommandIds = (data) => {
  const r = protobuf.Reader.create(data);
  let min = Infinity;
  let max = 0;
  let any = false;
  try {
    while (r.pos < r.len) {
      const len = r.uint32();
      const end = r.pos + len;
      if (end > r.len) return null;
      let id = 0;
      while (r.pos < end) {
        const tag = r.uint32();
        if (tag >>> 3 === 1 && (tag & 7) === 0) id = r.uint32();
        else r.skipType(tag & 7);
      }
      if (r.pos !== end) return null;
      any = true;
      if (id <= 0) continue;
      if (id < min) min = id;
      if (id > max) max = id;
    }
  } catch {
    return null;
  }
  if (!any) return null;
  return max === 0 ? undefined : { min, max };
};

/**
 * Puts one session's emulation requests back in the order the client sent them. The SDK numbers
 * its commands in the order it sends them (ids never reused within a connection), but requests in
 * flight at once may reach the node in any order. A request whose smallest command id skips ahead
 * of the next expected one is held until the requests with the ids in between arrive, for at most
 * `windowMs` (a command the client never sent cannot stall the session longer); requests without
 * ids (pongs, async messages) and ones not decodable go through at once (the session answers them).
 */
export class CommandOrder {
  #next: number | undefined;
  #held: { min: number; max: number; data: Buffer }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly deliver: (data: Buffer) => boolean,
    readonly windowMs: number,
    readonly ids: CommandIds = jsonCommandIds,
    readonly maxHeld = 64,
  ) {}

  /** The opening request's commands (the connect command): the next id expected is past them. */
  started(payload: Buffer): void {
    const ids = this.ids(payload);
    if (ids) this.#next = ids.max + 1;
  }

  /** A request's commands: delivered now or held; false when they cannot be taken. */
  push(data: Buffer): boolean {
    const ids = this.ids(data);
    if (!ids) return this.deliver(data);
    if (this.#next === undefined || ids.min <= this.#next) {
      const ok = this.deliver(data);
      this.#next = Math.max(this.#next ?? 0, ids.max + 1);
      this.#drain();
      return ok;
    }
    if (this.#held.length >= this.maxHeld) return false;
    let i = this.#held.length;
    while (i > 0 && this.#held[i - 1]!.min > ids.min) i--;
    this.#held.splice(i, 0, { ...ids, data });
    this.#timer ??= setTimeout(() => this.#expire(), this.windowMs);
    return true;
  }

  #drain(): void {
    while (this.#held.length > 0 && this.#held[0]!.min <= this.#next!) {
      const h = this.#held.shift()!;
      this.deliver(h.data);
      this.#next = Math.max(this.#next!, h.max + 1);
    }
    if (this.#held.length === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** The window passed: the ids skipped were never sent; go on from the lowest held request. */
  #expire(): void {
    this.#timer = undefined;
    if (this.#held.length === 0) return;
    this.#next = this.#held[0]!.min;
    this.#drain();
    if (this.#held.length > 0) this.#timer = setTimeout(() => this.#expire(), this.windowMs);
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held = [];
  }
}

function validConnect(payload: string, uni: boolean): boolean {
  try {
    if (uni) return isObject(JSON.parse(payload));
    let any = false;
    for (const line of payload.split('\n')) {
      if (line.trim() === '') continue;
      if (!isObject(JSON.parse(line))) return false;
      any = true;
    }
    return any;
  } catch {
    return false;
  }
}

/**
 * Requests to `path` go to `handler`; every other request to the listeners the server had
 * (an app passed to `createServer`), as engine.io's attach does. Listeners added later still see
 * every request.
 */
export function interceptRequests(server: HttpServer | HttpsServer, path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
  const before = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) === path) return handler(req, res);
    for (const l of before) l.call(server, req, res);
  });
}
