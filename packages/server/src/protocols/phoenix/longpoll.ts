import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectingContext } from '../../context.js';
import type { RequestTransportHost } from '../../protocol.js';
import { newClientId } from '../../internal/ids.js';
import { DEFAULT_ROUTE_TIMEOUT_MS, type RouteOutcome } from '../../session-router.js';
import type { Transport, TransportHandlers } from '../../transport.js';

/**
 * Phoenix's LongPoll transport (PROTOCOL-phoenix.md §11), so the official client's fallback works
 * where WebSockets are blocked. One session = one Switchboard connection whose transport is a
 * queue: `GET <path>?…&token=<session>` takes what is queued (or waits up to the poll window),
 * `POST` carries client frames as NDJSON. The HTTP status is 200 whenever the client should read
 * the JSON status (`410` new or gone session, `200` messages, `204` nothing in the window, `403`
 * refused); refusals also carry the real HTTP status (401, 400, 503) for anything else reading.
 *
 * Across nodes without sticky sessions: the session token names the node that holds the session
 * (`lp1.<secret>.<node id>`). A request that reaches another node goes through the node's session
 * router (`Switchboard.router`): a POST's body is delivered to the holding node; a poll is parked
 * where it arrived and the holding node sends its answer back the same way. An answer the poll's
 * node can no longer take (the client gave up on that poll) goes back to the head of the queue.
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

/** Where a poll's answer goes; resolves to whether it was taken. */
interface PollSink {
  send(body: string): Promise<boolean>;
}

/** A poll answered on the response the client is waiting on. */
class LocalPoll implements PollSink {
  constructor(readonly res: ServerResponse) {}
  send(body: string): Promise<boolean> {
    const ok = !this.res.headersSent && !this.res.destroyed;
    json(this.res, body);
    return Promise.resolve(ok);
  }
}

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
  #poll: { sink: PollSink; timer: NodeJS.Timeout } | undefined;
  #flushScheduled = false;
  /** A poll answer is on its way to another node: the next one waits for its outcome (order). */
  #inflight = false;
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
      void p.sink.send(statusBody(410));
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
    if (p === undefined || this.#queue.length === 0 || this.#inflight) return;
    this.#poll = undefined;
    clearTimeout(p.timer);
    const msgs = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    this.lastSeen = Date.now();
    this.#inflight = true;
    void p.sink.send(statusBody(200, this.token, `,"messages":[${msgs.map((m) => JSON.stringify(m.toString('utf8'))).join(',')}]`)).then((delivered) => {
      this.#inflight = false;
      if (!delivered && !this.closed) {
        // Nobody took them (the poll was abandoned): first in line for the next poll.
        this.#queue.unshift(...msgs);
        for (const m of msgs) this.#queued += m.length;
      }
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /** A poll for this session, answered through `sink` (a local response, or a poll parked on another node). */
  poll(sink: PollSink): void {
    this.lastSeen = Date.now();
    const old = this.#poll;
    if (old) {
      // A newer poll replaces a waiting one (the client only ever has one outstanding).
      clearTimeout(old.timer);
      void old.sink.send(statusBody(204, this.token));
    }
    const timer = setTimeout(() => {
      if (this.#poll?.sink !== sink) return;
      this.#poll = undefined;
      this.lastSeen = Date.now();
      void sink.send(statusBody(204, this.token));
    }, this.endpoint.pollWindowMs);
    this.#poll = { sink, timer };
    if (this.#queue.length > 0) this.#flush();
  }

  /** The client gave up on the poll `sink` stands for (aborted): its messages stay queued for the next one. */
  abandon(sink: PollSink): void {
    const p = this.#poll;
    if (p?.sink !== sink) return;
    clearTimeout(p.timer);
    this.#poll = undefined;
    this.lastSeen = Date.now();
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

/** The HTTP side: sessions by token, request routing (to other nodes too), the sweep of silent sessions. */
export class LongPollEndpoint {
  readonly sessions = new Map<string, LongPollTransport>();
  readonly path: string;
  readonly pollWindowMs: number;
  readonly sessionTimeoutMs: number;
  readonly #onConnecting: ((ctx: ConnectingContext) => unknown) | undefined;
  /** Polls parked on this node for sessions held by other nodes, by poll id. */
  readonly #parked = new Map<string, { res: ServerResponse; timer: NodeJS.Timeout }>();
  readonly #kind: { post: string; poll: string; answer: string };
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly sb: RequestTransportHost,
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
    // Every node serving this path handles the same three kinds of routed request.
    this.#kind = { post: `phoenix.longpoll:${this.path}:post`, poll: `phoenix.longpoll:${this.path}:poll`, answer: `phoenix.longpoll:${this.path}:answer` };
    sb.router.register(this.#kind.post, (session, body) => this.#deliverPost(session, body));
    sb.router.register(this.#kind.poll, (session, data) => this.#parkRemote(session, data));
    sb.router.register(this.#kind.answer, (pollId, body) => this.#answerParked(pollId, body));
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
    if (session === undefined) {
      if (method === 'POST') {
        req.resume();
        json(res, statusBody(410));
      } else await this.#open(req, res, app);
      return true;
    }
    const node = session.slice(session.lastIndexOf('.') + 1);
    if (method === 'GET') await this.#poll(session, node, res);
    else await this.#post(session, node, req, res);
    return true;
  };

  async #open(req: IncomingMessage, res: ServerResponse, appToken: string | undefined): Promise<void> {
    const header = req.headers['x-phoenix-authtoken'];
    const token = (typeof header === 'string' && header !== '' ? header : undefined) ?? appToken;
    // The secret part, then the node that holds the session (for requests that reach other nodes).
    const sessionToken = `${SESSION_PREFIX}${randomBytes(18).toString('base64url')}.${this.sb.id}`;
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

  /** A poll: answered here when this node holds the session, else parked here and answered by the holder. */
  async #poll(session: string, node: string, res: ServerResponse): Promise<void> {
    if (node === this.sb.id) {
      const t = this.sessions.get(session);
      if (t === undefined) return json(res, statusBody(410)); // expired, closed or never ours: the client starts over
      const sink = new LocalPoll(res);
      res.once('close', () => t.abandon(sink));
      return t.poll(sink);
    }
    const pollId = newClientId();
    // The holder answers within its poll window; this bound only matters if it vanished meanwhile.
    const timer = setTimeout(() => this.#answerParked(pollId, statusBody(204, session)), this.pollWindowMs + DEFAULT_ROUTE_TIMEOUT_MS + 5_000);
    this.#parked.set(pollId, { res, timer });
    res.once('close', () => {
      if (this.#parked.get(pollId)?.res !== res) return;
      clearTimeout(timer);
      this.#parked.delete(pollId);
    });
    const outcome = await this.sb.router.deliver(this.#kind.poll, node, session, JSON.stringify({ node: this.sb.id, poll: pollId }));
    if (outcome === 'ok') return;
    const parked = this.#parked.get(pollId);
    if (parked === undefined) return;
    clearTimeout(parked.timer);
    this.#parked.delete(pollId);
    json(res, this.#refusal(outcome));
  }

  /** On the holding node: a poll parked on node `from` for `session`. */
  #parkRemote(session: string, data: string): RouteOutcome {
    const t = this.sessions.get(session);
    if (t === undefined) return 'no-session';
    let m: { node?: unknown; poll?: unknown };
    try {
      m = JSON.parse(data) as { node?: unknown; poll?: unknown };
    } catch {
      return 'bad-request';
    }
    const { node, poll } = m;
    if (typeof node !== 'string' || typeof poll !== 'string') return 'bad-request';
    t.poll({ send: (body) => this.sb.router.deliver(this.#kind.answer, node, poll, body).then((o) => o === 'ok') });
    return 'ok';
  }

  /** On the poll's node: the holder's answer to a parked poll. */
  #answerParked(pollId: string, body: string): RouteOutcome {
    const p = this.#parked.get(pollId);
    if (p === undefined || p.res.destroyed) return 'no-session';
    clearTimeout(p.timer);
    this.#parked.delete(pollId);
    json(p.res, body);
    return 'ok';
  }

  async #post(session: string, node: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const limit = this.sb.limits.maxMessageSize * MAX_BATCH + MAX_BATCH;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) break;
        chunks.push(chunk);
      }
    } catch {
      return; // the client went away mid-body
    }
    if (size > limit) {
      // Over any batch the client can send: the session ends as a socket would on an oversized frame.
      void this.sb.router.deliver(this.#kind.post, node, session, '');
      json(res, JSON.stringify({ status: 413, error: `body over ${limit} bytes` }), 413);
      return;
    }
    const outcome = await this.sb.router.deliver(this.#kind.post, node, session, Buffer.concat(chunks).toString('utf8'));
    if (outcome === 'ok') return json(res, statusBody(200));
    if (outcome === 'bad-request') return json(res, JSON.stringify({ status: 413, error: `at most ${MAX_BATCH} frames of ${this.sb.limits.maxMessageSize} bytes per request` }), 413);
    json(res, this.#refusal(outcome));
  }

  /** On the holding node: a POST body for `session` ('' = over the size limit: the session closes). */
  async #deliverPost(session: string, body: string): Promise<RouteOutcome> {
    const t = this.sessions.get(session);
    if (t === undefined) return 'no-session';
    const max = this.sb.limits.maxMessageSize;
    const lines = body.split('\n').filter((l) => l.trim() !== '');
    if (body === '' || lines.length > MAX_BATCH || lines.some((l) => Buffer.byteLength(l) > max)) {
      t.close(1009, 'message too big');
      return 'bad-request';
    }
    await t.post(lines);
    return 'ok';
  }

  /** The JSON answer for a routed request that did not reach its session. */
  #refusal(outcome: RouteOutcome): string {
    // Gone (the client starts over with a new session and rejoins) or unreachable for now (the
    // client closes this session's transport and reconnects: a new session, its channels rejoined).
    return outcome === 'no-session' || outcome === 'unknown-node' ? statusBody(410) : statusBody(500);
  }

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const t of this.sessions.values()) if (t.idle && now - t.lastSeen > this.sessionTimeoutMs) t.expire();
      if (this.sessions.size === 0 && this.#parked.size === 0) this.close();
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
export function phoenixLongPoll(sb: RequestTransportHost, options: LongPollOptions = {}): ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) & { endpoint: LongPollEndpoint } {
  const endpoint = new LongPollEndpoint(sb, options);
  return Object.assign(endpoint.handle, { endpoint });
}
