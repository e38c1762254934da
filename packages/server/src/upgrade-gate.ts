import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Authenticator } from './authenticator.js';
import { DisconnectError, Disconnects, ReplyError } from './codes.js';
import { ConnectRateLimiter } from './connect-limit.js';
import { Connection } from './connection.js';
import type { Credentials } from './context.js';
import { httpReason, httpStatusOf } from './http-status.js';
import type { Hub } from './hub.js';
import { globMatcher } from './internal/glob.js';
import { newClientId } from './internal/ids.js';
import type { NodeContext } from './node-context.js';
import type { EndpointOptions } from './options.js';
import type { Protocol, ProtocolName, SessionHost } from './protocol.js';
import type { SubscribeFlow } from './subscribe-flow.js';
import type { ConnectionRequest, Transport } from './transport.js';
import { fitCloseReason, UniWsTransport, WsTransport } from './transport-ws.js';
import { unwrapPush } from './protocols/centrifuge/codec.js';
import { randomUUID } from 'node:crypto';

function destroyOnError(this: Duplex): void {
  this.destroy();
}

function destroyWs(this: WebSocket): void {
  this.terminate();
}

function originMatcher(patterns: readonly string[]): (origin: string | undefined) => boolean {
  // `*` alone allows any origin; elsewhere `*` stays within the host (never crosses a "/").
  const allowed = patterns.includes('*') ? () => true : globMatcher(patterns, { separator: '/', ignoreCase: true });
  return (origin) => origin === undefined || allowed(origin); // non-browser clients send no Origin
}

function bearer(h: string | undefined): string | null {
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m ? m[1]!.trim() : null;
}

/**
 * The way in: WebSocket upgrades (attach, handleUpgrade), with every check that can answer with a
 * plain HTTP status before the upgrade (origin, capacity, shutdown, authentication for protocols
 * that authenticate at the upgrade), the handshake timer, and the pending upgrades. Accepted
 * sockets become a Transport, a Connection in the Hub and a protocol Session; `accept` is the
 * transport-neutral half that an HTTP-streaming endpoint uses too.
 */
export class UpgradeGate {
  readonly protocols = new Map<ProtocolName, Protocol>();
  /** The subprotocol of the protocol each pending upgrade is for (read by `handleProtocols`). */
  readonly #subprotocol = new WeakMap<IncomingMessage, string>();
  readonly pending = new Set<Duplex>();
  readonly #wss: WebSocketServer;
  readonly #originOk: (origin: string | undefined) => boolean;
  readonly #connectRate: ConnectRateLimiter | undefined;
  /** Set by the node when it shuts down: upgrades get 503 (Pusher: 4100 after the upgrade). */
  closing = false;
  /** The WebSocket server is closed: nothing is upgraded any more. */
  #closed = false;

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly auth: Authenticator,
    readonly subscribe: SubscribeFlow,
    readonly host: SessionHost,
    readonly start: () => Promise<void>,
  ) {
    const o = ctx.options;
    this.#connectRate = ctx.limits.maxConnectsPerSecond > 0 ? new ConnectRateLimiter(ctx.limits.maxConnectsPerSecond) : undefined;
    this.#originOk = o.allowedOrigins && o.allowedOrigins.length > 0 ? originMatcher(o.allowedOrigins) : () => true;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.maxMessageSize,
      perMessageDeflate: o.compression ? { threshold: 256, serverNoContextTakeover: true, clientNoContextTakeover: true } : false,
      clientTracking: false,
      // The native protocol's JSON client offers no subprotocol; when one is offered, echo the JSON one.
      // Another protocol's own subprotocol (Phoenix's `phoenix`) is selected when offered.
      handleProtocols: (protocols, req) => {
        const own = this.#subprotocol.get(req);
        if (own !== undefined && protocols.has(own)) return own;
        return protocols.has('centrifuge-json') ? 'centrifuge-json' : false;
      },
    });
  }

  /** Whether an `Origin` may connect (any, when no allowed origins are configured; a request without one always). */
  originAllowed(origin: string | undefined): boolean {
    return this.#originOk(origin);
  }

  /**
   * The checks every new connection passes before any authentication work, whatever its transport:
   * undefined to go on, or the HTTP status to refuse with (503 shutting down, full or over the
   * connect rate, with Retry-After; 403 origin).
   */
  admit(origin: string | undefined): { status: number; message: string; retryAfter?: boolean } | undefined {
    if (this.closing) return { status: 503, message: 'shutting down' };
    if (!this.#originOk(origin)) return { status: 403, message: 'origin not allowed' };
    if (this.hub.connections.size + this.pending.size >= this.ctx.limits.maxConnections) return { status: 503, message: 'connection limit reached' };
    if (this.#connectRate && !this.#connectRate.take()) return { status: 503, message: 'connect rate limit', retryAfter: true };
    return undefined;
  }

  attach(server: HttpServer | HttpsServer, endpoint: EndpointOptions | string): void {
    const ep: EndpointOptions = typeof endpoint === 'string' ? { path: endpoint } : endpoint;
    const want = ep.path ?? (ep.transport === 'uni_websocket' ? '/connection/uni_websocket' : '/connection/websocket');
    void this.start();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== want) return; // another endpoint's (or another library's) upgrade
      this.handleUpgrade(req, socket, head, ep);
    });
  }

  /**
   * Whether the credentials' token is revoked, for protocols that authenticate at the upgrade (or
   * at a request-based transport's first request): refused there with 403, as a client that
   * reconnects whatever the close code (Phoenix 1.8.16, §7.3 of its reference) must be kept out
   * before the upgrade. Checked once the node has loaded the list; before that the connect step
   * checks it (and closes with 3520).
   */
  #revoked(creds: Partial<Credentials>): boolean {
    const r = this.ctx.revocations;
    return r.isLoaded && r.revoked(creds.user ?? '', creds.claims);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, endpoint: EndpointOptions | ProtocolName): void {
    const ep: EndpointOptions = typeof endpoint === 'string' ? { path: req.url ?? '/', protocol: endpoint } : endpoint;
    const protocolName = ep.protocol ?? 'centrifuge';
    const registered = this.protocols.get(protocolName);
    // A shared function, not a closure: a closure here would keep this call's scope (the request,
    // the handshake timer, the URL) alive for the whole life of the connection.
    socket.on('error', destroyOnError);
    if (!registered) return refuse(socket, 500, `protocol ${protocolName} is not registered`);
    // A protocol whose clients cannot read an HTTP refusal (Pusher) is told after the upgrade.
    const refuseUpgrade = (status: number, message: string, extraHeaders = '') =>
      registered.refuseInBand ? this.#refuseInBand(req, socket, head, registered.refuseInBand(status, message)) : refuse(socket, status, message, extraHeaders);
    const no = this.admit(req.headers.origin);
    if (no !== undefined) return refuseUpgrade(no.status, no.message, no.retryAfter ? 'Retry-After: 1\r\n' : '');
    void this.start();
    const url = new URL(req.url ?? '/', 'http://localhost');
    // The encoding the client asked for (Centrifugo: `centrifuge-protobuf` subprotocol or `?format=protobuf`).
    // (A unidirectional WebSocket is JSON only, as in Centrifugo.)
    const uni = ep.transport === 'uni_websocket';
    const protocol = (uni ? undefined : registered.variant?.(offeredSubprotocols(req), url.searchParams)) ?? registered;
    if (protocol.subprotocol !== undefined) this.#subprotocol.set(req, protocol.subprotocol);
    const request: ConnectionRequest = {
      url: req.url ?? '/',
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
      query: new URLSearchParams(url.search), // not url.searchParams: that keeps the whole URL per connection
    };
    this.pending.add(socket);
    const timer = setTimeout(() => {
      this.pending.delete(socket);
      socket.destroy();
    }, this.ctx.limits.handshakeTimeoutMs);
    timer.unref();
    const finish = () => {
      clearTimeout(timer);
      this.pending.delete(socket);
    };
    // The connection's id exists before authentication: a connect proxy tells the backend which client asks.
    const clientId = newClientId();
    const upgrade = (credentials: Credentials | undefined) => {
      if (socket.destroyed) return finish();
      this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        finish();
        if (!uni) return void this.accept(new WsTransport(ws, request.remoteAddress, protocol.binary === true), protocol, request, credentials, clientId);
        // Unidirectional: the connect request is `cf_connect` in the query, else the client's first message.
        const t = new UniWsTransport(ws, request.remoteAddress, { id: randomUUID(), node: this.ctx.id }, unwrapPush);
        const conn = this.accept(t, protocol, request, credentials, clientId);
        const connect = url.searchParams.get('cf_connect');
        if (connect !== null) conn.session.handleMessage(Buffer.from(connect), false);
      });
    };
    if (uni && protocolName !== 'centrifuge') return refuse(socket, 500, 'uni_websocket serves the centrifuge protocol only');
    if (protocolName === 'centrifuge') return upgrade(undefined);
    // Protocols without a connect command authenticate on the upgrade request itself.
    const read = protocol.upgradeToken?.(req, url.searchParams) ?? { token: url.searchParams.get('token') ?? bearer(req.headers.authorization) };
    if ('status' in read) {
      finish();
      return refuseUpgrade(read.status, read.message);
    }
    const token = read.token;
    this.auth.authenticate({ protocol: protocolName, request, token, data: undefined, clientId }, ep.onConnecting ?? this.auth.onConnecting).then(
      (d) => {
        if (d.kind === 'decline') {
          finish();
          // an internal error (a connect proxy that failed) is the server's fault, not the client's
          return refuseUpgrade(d.error && d.code === 100 ? 500 : httpStatusOf(d.code), d.message);
        }
        if (this.#revoked(d.credentials)) {
          finish();
          return refuse(socket, httpStatusOf(Disconnects.tokenRevoked.code), Disconnects.tokenRevoked.reason);
        }
        upgrade({ user: '', ...d.credentials });
      },
      (err: unknown) => {
        finish();
        if (err instanceof ReplyError || err instanceof DisconnectError) return refuseUpgrade(httpStatusOf(err.code), err.message);
        this.hub.reportError(err);
        refuseUpgrade(500, 'internal server error');
      },
    );
  }

  /**
   * Complete the upgrade only to say no in the protocol's own terms: its frame, then a close with
   * its code. The socket never becomes a connection (it takes no slot and no session). Once the
   * node has closed its WebSocket server, the socket is dropped instead (refused at the TCP level).
   */
  #refuseInBand(req: IncomingMessage, socket: Duplex, head: Buffer, no: { frame: string; code: number; reason: string }): void {
    if (this.#closed || !socket.writable) return void socket.destroy();
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('error', destroyWs);
      ws.send(no.frame);
      ws.close(no.code, fitCloseReason(no.reason));
    });
  }

  /**
   * The way in for a request-based transport (HTTP long-polling, streaming): the checks of an
   * upgrade (shutdown, origin, capacity, connect rate), authentication with the token the endpoint
   * read, then a connection over the transport `make` builds. A refusal is an HTTP status with a
   * message for the endpoint to answer with.
   */
  async connectRequest(
    req: IncomingMessage,
    opts: { protocol: ProtocolName; token: string | undefined; onConnecting?: EndpointOptions['onConnecting'] },
    make: (request: ConnectionRequest) => Transport,
  ): Promise<{ conn: Connection } | { status: number; message: string }> {
    const protocol = this.protocols.get(opts.protocol);
    if (!protocol) return { status: 500, message: `protocol ${opts.protocol} is not registered` };
    const no = this.admit(req.headers.origin);
    if (no !== undefined) return { status: no.status, message: no.message };
    void this.start();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const request: ConnectionRequest = { url: req.url ?? '/', headers: req.headers, remoteAddress: req.socket.remoteAddress, query: new URLSearchParams(url.search) };
    try {
      const d = await this.auth.authenticate({ protocol: opts.protocol, request, token: opts.token, data: undefined }, opts.onConnecting ?? this.auth.onConnecting);
      if (d.kind === 'decline') return { status: httpStatusOf(d.code), message: d.message };
      if (this.closing) return { status: 503, message: 'shutting down' };
      if (this.#revoked(d.credentials)) return { status: httpStatusOf(Disconnects.tokenRevoked.code), message: Disconnects.tokenRevoked.reason };
      return { conn: this.accept(make(request), protocol, request, { user: '', ...d.credentials }) };
    } catch (err) {
      if (err instanceof ReplyError || err instanceof DisconnectError) return { status: httpStatusOf(err.code), message: err.message };
      this.hub.reportError(err);
      return { status: 500, message: 'internal server error' };
    }
  }

  /**
   * A transport the client is connected over becomes a connection: into the Hub, a session, then
   * reading starts. With `credentials` (authenticated before the transport existed) the
   * connection is registered at once and the session started; otherwise the session's connect
   * command does it.
   */
  accept(transport: Transport, protocol: Protocol, request: ConnectionRequest, credentials: Credentials | undefined, id: string = newClientId()): Connection {
    const conn = new Connection(id, protocol, transport, request, this.hub);
    this.hub.add(conn);
    conn.session = protocol.createSession(conn, this.host);
    conn.open();
    if (credentials !== undefined) {
      this.subscribe.register(conn, credentials).then(
        (subs) => conn.session.start?.(subs),
        (err: unknown) => {
          if (err instanceof DisconnectError) conn.close(err);
          else {
            this.hub.reportError(err, conn);
            conn.close(Disconnects.internal);
          }
        },
      );
    }
    return conn;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.pending) s.destroy();
    this.#wss.close();
  }
}

/** The WebSocket subprotocols a client offered (`Sec-WebSocket-Protocol`). */
function offeredSubprotocols(req: IncomingMessage): Set<string> {
  const h = req.headers['sec-websocket-protocol'];
  const out = new Set<string>();
  if (typeof h === 'string') for (const p of h.split(',')) if (p.trim() !== '') out.add(p.trim());
  return out;
}

function refuse(socket: Duplex, status: number, message: string, extraHeaders = ''): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: { code: status, message } });
  socket.end(
    `HTTP/1.1 ${status} ${httpReason(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
