import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { BodyTooLarge, readBody } from './http-api.js';
import { isObject } from './internal/json.js';
import type { NodeContext } from './node-context.js';
import { unwrapPush } from './protocols/centrifuge/codec.js';
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
  'bad-request': { status: 400, message: 'bad emulation request' },
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
 * - `http_stream` (POST: body = connect command(s), newline-delimited JSON) and `sse` (GET with
 *   `cf_connect` = the connect command, or POST with it as body): the response streams one reply
 *   per line / per `data:` event; the connect result names the `session` and `node` the client's
 *   commands are then addressed to.
 * - `emulation` (POST `{"session","node","data"}`, data = the client's newline-joined commands as a
 *   JSON string): handed to the session, on this node or — through the SessionRouter — on the node
 *   that holds it. 204; 400 bad body; 404 unknown session or node; 413 over the size limit; 503 when
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
  readonly sessions = new Map<string, { readonly transport: HttpStreamTransport; readonly order: CommandOrder }>();
  /** How long the emulation endpoint waits for another node to take a request. */
  routeTimeoutMs = 5_000;
  /** How long a request whose commands skip ahead waits for the ones in between (see CommandOrder). */
  reorderWindowMs = 1_000;

  constructor(
    readonly ctx: NodeContext,
    readonly gate: UpgradeGate,
    readonly router: SessionRouter,
  ) {
    router.register(EMULATION_ROUTE, (session, data) => this.#deliverLocal(session, data));
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
    if (req.headers['content-type'] === 'application/octet-stream') return plain(res, 415, 'the Protobuf encoding is not served on this transport');
    if (name === 'emulation') return this.#emulation(req, res);

    const uni = name === 'uni_http_stream' || name === 'uni_sse';
    const no = this.gate.admit(origin);
    if (no !== undefined) return plain(res, no.status, no.message, no.retryAfter ? { 'Retry-After': '1' } : {});
    let payload: string;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (method === 'GET') {
      payload = url.searchParams.get('cf_connect') ?? '';
    } else {
      const body = await this.#body(req, res);
      if (body === undefined) return;
      payload = body.toString('utf8');
    }
    if (payload.trim() === '') {
      if (!uni) return plain(res, 400, method === 'GET' ? 'cf_connect (the connect command) is required' : 'a connect command is required in the body');
      payload = '{}';
    }
    if (!validConnect(payload, uni)) return plain(res, 400, uni ? 'the connect request must be a JSON object' : 'the connect command must be newline-delimited JSON objects');
    const protocol = this.gate.protocols.get('centrifuge');
    if (protocol === undefined) return plain(res, 500, 'protocol centrifuge is not registered');
    void this.gate.start();

    const sse = name === 'sse' || name === 'uni_sse';
    const session = { id: randomUUID(), node: this.ctx.id };
    const transport = new HttpStreamTransport(res, {
      kind: name,
      framing: sse ? 'sse' : 'lines',
      mode: uni ? 'unidirectional' : 'emulation',
      session,
      remoteAddress: req.socket.remoteAddress,
      map: uni ? unwrapPush : undefined,
    });
    const headers: Record<string, string> = { ...STREAM_HEADERS, 'Content-Type': sse ? 'text/event-stream; charset=utf-8' : 'application/json; charset=utf-8' };
    if (req.httpVersionMajor === 1) headers['Connection'] = 'keep-alive';
    res.writeHead(200, headers);
    req.socket.setNoDelay(true);
    // An SSE stream starts with a blank line so that proxies pass the headers on at once.
    if (sse) res.write('\r\n');
    else res.flushHeaders();
    if (!uni) {
      const order = new CommandOrder((d) => transport.deliver(d), this.reorderWindowMs);
      order.started(payload);
      this.sessions.set(session.id, { transport, order });
      transport.onDone = () => {
        order.close();
        this.sessions.delete(session.id);
      };
    }
    const request: ConnectionRequest = { url: req.url ?? '/', headers: req.headers, remoteAddress: req.socket.remoteAddress, query: new URLSearchParams(url.search) };
    this.gate.accept(transport, protocol, request, undefined);
    transport.deliver(Buffer.from(payload));
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

  async #emulation(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.#body(req, res);
    if (body === undefined) return;
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
    const s = STATUS_OF[outcome];
    if (s.status === 204) {
      res.writeHead(204);
      return void res.end();
    }
    plain(res, s.status, s.message);
  }

  /** The router's handler on the node that holds the session: the commands go to its transport. */
  #deliverLocal(session: string, data: string): RouteOutcome {
    const s = this.sessions.get(session);
    if (s === undefined) return 'no-session';
    return s.order.push(Buffer.from(data)) ? 'ok' : 'busy';
  }

  close(): void {
    this.sessions.clear();
  }
}

/** The smallest and largest command id in newline-delimited JSON commands; undefined when none has one (or a line is not JSON). */
function commandIds(data: Buffer): { min: number; max: number } | undefined {
  let min = Infinity;
  let max = 0;
  for (const line of data.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return undefined;
    }
    const id = isObject(v) ? v['id'] : undefined;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) continue;
    if (id < min) min = id;
    if (id > max) max = id;
  }
  return max === 0 ? undefined : { min, max };
}

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
    readonly maxHeld = 64,
  ) {}

  /** The opening request's commands (the connect command): the next id expected is past them. */
  started(payload: string): void {
    const ids = commandIds(Buffer.from(payload));
    if (ids !== undefined) this.#next = ids.max + 1;
  }

  /** A request's commands: delivered now or held; false when they cannot be taken. */
  push(data: Buffer): boolean {
    const ids = commandIds(data);
    if (ids === undefined) return this.deliver(data);
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
