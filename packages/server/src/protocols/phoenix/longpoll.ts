import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectingContext } from '../../context.js';
import type { Switchboard } from '../../switchboard.js';
import type { Transport, TransportHandlers } from '../../transport.js';

/**
 * Phoenix's LongPoll transport (PROTOCOL-phoenix.md §11), so the official client's fallback works
 * where WebSockets are blocked. One session = one Switchboard connection whose transport is a
 * queue: `GET <path>?…&token=<session>` takes what is queued (or waits up to the poll window),
 * `POST` carries client frames as NDJSON. The HTTP status is 200 whenever the client should read
 * the JSON status (`410` new or gone session, `200` messages, `204` nothing in the window, `403`
 * refused); refusals also carry the real HTTP status (401, 400, 503) for anything else reading.
 */

export interface LongPollOptions {
  /** Path of the endpoint (default `/socket/longpoll`: the client's `new Socket('/socket')`). */
  path?: string;
  /** How long a poll waits for messages before answering 204 (ms, default 10 000 as Phoenix). */
  pollWindowMs?: number;
  /**
   * A session whose client has not polled for this long (no poll waiting) is closed (ms, default
   * 2 × pollWindowMs + 5 s: the client polls again as soon as a poll returns).
   */
  sessionTimeoutMs?: number;
  /** Connecting handler for this endpoint (default: the node's). */
  onConnecting?: (ctx: ConnectingContext) => unknown;
}

/** What a session token starts with: never the start of a JWT (`eyJ`), so it cannot be confused with the app's `token` param. */
const SESSION_PREFIX = 'lp1.';
/** Phoenix's client sends at most 100 frames per POST. */
const MAX_BATCH = 100;

function json(res: ServerResponse, body: string, httpStatus = 200): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(httpStatus, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** `{"status":…}` plus the session token when there is one. */
function statusBody(status: number, token?: string, extra = ''): string {
  return `{"status":${status}${token === undefined ? '' : `,"token":${JSON.stringify(token)}`}${extra}}`;
}

/**
 * The session's token (the LAST `token` param that is a session token: the app's own `token`
 * param comes first in the query) and the app's token (the first that is not a session token).
 */
export function longPollTokens(query: URLSearchParams): { session: string | undefined; app: string | undefined } {
  let session: string | undefined;
  let app: string | undefined;
  for (const t of query.getAll('token')) {
    if (t.startsWith(SESSION_PREFIX)) session = t;
    else if (app === undefined && t !== '') app = t;
  }
  return { session, app };
}

/** One LongPoll session: the transport of one connection. */
export class LongPollTransport implements Transport {
  readonly kind = 'longpoll';
  #handlers: TransportHandlers | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #poll: { res: ServerResponse; timer: NodeJS.Timeout } | undefined;
  #flushScheduled = false;
  /** When the client last started or finished a poll. */
  lastSeen = Date.now();
  /** POST bodies waiting for `resume` (inbound backpressure). */
  #held: (() => void)[] | undefined;
  closed = false;

  constructor(
    readonly token: string,
    readonly remoteAddress: string | undefined,
    readonly endpoint: LongPollEndpoint,
  ) {}

  open(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  write(message: Buffer): void {
    if (this.closed) return;
    this.#queue.push(message);
    this.#queued += message.length;
    this.#schedule();
  }

  writeMany(messages: readonly Buffer[]): void {
    for (const m of messages) this.write(m);
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  /** Liveness is the polls themselves (the endpoint's sweep closes silent sessions): always answered. */
  ping(): void {
    if (!this.closed) this.#handlers?.pong();
  }

  pause(): void {
    this.#held ??= [];
  }

  resume(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held) for (const go of held) go();
  }

  /** Queued messages go out with the waiting poll (if any); later requests for this session get 410. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.#flush();
    this.#end(code, reason);
  }

  terminate(): void {
    if (this.closed) return;
    this.#queue = [];
    this.#queued = 0;
    this.#end(1006, 'terminated');
  }

  /** The client went away (no poll within the session timeout). */
  expire(): void {
    if (!this.closed) this.#end(1006, 'long poll session timed out');
  }

  #end(code: number, reason: string): void {
    this.closed = true;
    this.endpoint.sessions.delete(this.token);
    const p = this.#poll;
    this.#poll = undefined;
    if (p) {
      clearTimeout(p.timer);
      json(p.res, statusBody(410));
    }
    this.resume();
    const h = this.#handlers;
    // Reported after the caller's own bookkeeping, like a socket's close event.
    if (h) setImmediate(() => h.closed(code, reason));
  }

  #schedule(): void {
    if (this.#flushScheduled || this.#poll === undefined) return;
    this.#flushScheduled = true;
    // One response for what this tick queued.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Answer the waiting poll with everything queued. */
  #flush(): void {
    const p = this.#poll;
    if (p === undefined || this.#queue.length === 0) return;
    this.#poll = undefined;
    clearTimeout(p.timer);
    const msgs = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    this.lastSeen = Date.now();
    json(p.res, statusBody(200, this.token, `,"messages":[${msgs.map((m) => JSON.stringify(m.toString('utf8'))).join(',')}]`));
  }

  /** A GET with this session's token. */
  poll(res: ServerResponse): void {
    this.lastSeen = Date.now();
    const old = this.#poll;
    if (old) {
      // A newer poll replaces a waiting one (the client only ever has one outstanding).
      clearTimeout(old.timer);
      json(old.res, statusBody(204, this.token));
    }
    const timer = setTimeout(() => {
      if (this.#poll?.res !== res) return;
      this.#poll = undefined;
      this.lastSeen = Date.now();
      json(res, statusBody(204, this.token));
    }, this.endpoint.pollWindowMs);
    this.#poll = { res, timer };
    res.once('close', () => {
      if (this.#poll?.res !== res) return;
      // The client gave up on this poll (aborted): its messages stay queued for the next one.
      clearTimeout(timer);
      this.#poll = undefined;
      this.lastSeen = Date.now();
    });
    if (this.#queue.length > 0) this.#flush();
  }

  /** Whether the session is waiting for its client: no poll outstanding. */
  get idle(): boolean {
    return this.#poll === undefined;
  }

  /** A POST body: NDJSON frames (binary frames base64), handed to the connection one by one. */
  async post(lines: readonly string[]): Promise<void> {
    if (this.#held) await new Promise<void>((resolve) => this.#held!.push(resolve));
    const h = this.#handlers;
    if (h === undefined) return;
    for (const line of lines) {
      if (this.closed) return;
      if (line.startsWith('[')) h.message(Buffer.from(line, 'utf8'), false);
      else h.message(Buffer.from(line, 'base64'), true);
    }
  }
}

/** The HTTP side: sessions by token, request routing, the sweep of silent sessions. */
export class LongPollEndpoint {
  readonly sessions = new Map<string, LongPollTransport>();
  readonly path: string;
  readonly pollWindowMs: number;
  readonly sessionTimeoutMs: number;
  readonly #onConnecting: ((ctx: ConnectingContext) => unknown) | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly sb: Switchboard,
    options: LongPollOptions = {},
  ) {
    this.path = options.path ?? '/socket/longpoll';
    this.pollWindowMs = options.pollWindowMs ?? 10_000;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 2 * this.pollWindowMs + 5_000;
    for (const [k, v] of [
      ['pollWindowMs', this.pollWindowMs],
      ['sessionTimeoutMs', this.sessionTimeoutMs],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new TypeError(`phoenix long poll ${k} must be a positive number, got ${v}`);
    }
    this.#onConnecting = options.onConnecting;
  }

  /** Serve `req` if it is for this endpoint; false otherwise (for the next handler). */
  handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== this.path) return false;
    this.#startSweep();
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      // CORS preflight: the client sends Content-Type and (with authToken) X-Phoenix-AuthToken.
      const origin = req.headers.origin;
      res.writeHead(204, {
        ...(origin !== undefined ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {}),
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'content-type, x-phoenix-authtoken, accept',
        'access-control-max-age': '600',
      });
      res.end();
      return true;
    }
    if (method !== 'GET' && method !== 'POST') {
      json(res, JSON.stringify({ status: 400, error: `method ${method.slice(0, 16)} not allowed` }), 405);
      return true;
    }
    const vsn = url.searchParams.get('vsn') ?? '1.0.0';
    if (!/^2\.\d+\.\d+$/.test(vsn)) {
      json(res, JSON.stringify({ status: 403, error: `unsupported vsn ${vsn.slice(0, 32)}: only 2.x (V2 JSON) is served` }), 400);
      return true;
    }
    const { session, app } = longPollTokens(url.searchParams);
    if (session !== undefined) {
      const t = this.sessions.get(session);
      if (t === undefined) {
        // Expired, closed or never ours: the client starts over (new session, rejoins).
        if (method === 'POST') req.resume();
        json(res, statusBody(410));
        return true;
      }
      if (method === 'GET') t.poll(res);
      else await this.#post(t, req, res);
      return true;
    }
    if (method === 'POST') {
      req.resume();
      json(res, statusBody(410));
      return true;
    }
    await this.#open(req, res, app);
    return true;
  };

  async #open(req: IncomingMessage, res: ServerResponse, appToken: string | undefined): Promise<void> {
    const header = req.headers['x-phoenix-authtoken'];
    const token = (typeof header === 'string' && header !== '' ? header : undefined) ?? appToken;
    const sessionToken = SESSION_PREFIX + randomBytes(18).toString('base64url');
    let transport: LongPollTransport | undefined;
    const r = await this.sb.connectRequest(req, { protocol: 'phoenix', token, ...(this.#onConnecting ? { onConnecting: this.#onConnecting } : {}) }, (request) => {
      transport = new LongPollTransport(sessionToken, request.remoteAddress, this);
      this.sessions.set(sessionToken, transport);
      return transport;
    });
    if ('status' in r) {
      // JSON 403 stops the client (as Phoenix answers a refused connect); the HTTP status says why.
      json(res, JSON.stringify({ status: 403, error: r.message }), r.status);
      return;
    }
    transport!.lastSeen = Date.now();
    json(res, statusBody(410, sessionToken, ',"messages":[]'));
  }

  async #post(t: LongPollTransport, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const max = this.sb.limits.maxMessageSize;
    const limit = max * MAX_BATCH + MAX_BATCH;
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          over = true;
          break;
        }
        chunks.push(chunk);
      }
    } catch {
      return; // the client went away mid-body
    }
    if (over) {
      json(res, JSON.stringify({ status: 413, error: `body over ${limit} bytes` }), 413);
      t.close(1009, 'message too big');
      return;
    }
    const lines = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    if (lines.length > MAX_BATCH || lines.some((l) => Buffer.byteLength(l) > max)) {
      json(res, JSON.stringify({ status: 413, error: `at most ${MAX_BATCH} frames of ${max} bytes per request` }), 413);
      t.close(1009, 'message too big');
      return;
    }
    await t.post(lines);
    json(res, statusBody(200));
  }

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const t of this.sessions.values()) if (t.idle && now - t.lastSeen > this.sessionTimeoutMs) t.expire();
      if (this.sessions.size === 0) this.close();
    }, Math.min(5_000, this.pollWindowMs));
    this.#sweep.unref();
  }

  /** Stop the sweep (sessions end with their connections when the node shuts down). */
  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}

/**
 * Phoenix LongPoll for an app's HTTP server: returns a request handler that serves `path` (default
 * `/socket/longpoll`) and resolves to false for any other request.
 *
 * ```ts
 * const longPoll = phoenixLongPoll(sb);
 * const server = createServer((req, res) => void longPoll(req, res).then((done) => done || app(req, res)));
 * ```
 */
export function phoenixLongPoll(sb: Switchboard, options: LongPollOptions = {}): ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) & { endpoint: LongPollEndpoint } {
  const endpoint = new LongPollEndpoint(sb, options);
  return Object.assign(endpoint.handle, { endpoint });
}
