import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { Centrifuge, type Options as CentrifugeOptions } from 'centrifuge';
import { createApiHandler, createSwitchboard, type Switchboard, type SwitchboardOptions } from '../src/index.js';
import { waitFor as until } from '../src/testing/index.js';

export const SECRET = 'test-secret-key-for-hs256-signing';

export interface TestServer {
  sb: Switchboard;
  http: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A Switchboard on a plain http server, on an ephemeral port on 127.0.0.1. */
export async function startServer(options: SwitchboardOptions = {}, setup?: (sb: Switchboard) => void): Promise<TestServer> {
  const sb = createSwitchboard({ token: { hmacSecret: SECRET }, ...options });
  setup?.(sb);
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  sb.attach(http, { path: '/connection/websocket' });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    sb,
    http,
    port,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    async close() {
      await sb.shutdown({ timeoutMs: 1000 });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export async function token(claims: Record<string, unknown>, opts: { secret?: string; expiresIn?: number | string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt = jwt.setExpirationTime(typeof opts.expiresIn === 'number' ? Math.floor(Date.now() / 1000) + opts.expiresIn : opts.expiresIn);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

/** The official SDK, in Node (it needs the `ws` class passed in before Node 22). */
export function sdk(url: string, options: Partial<CentrifugeOptions> = {}): Centrifuge {
  return new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 3000, ...options });
}

// The repository's one polling helper and one event wait, both bounded (5 s unless told):
// `until(check, ms, what)` and `once(emitter, event, ms)`.
export { waitFor as until, waitForEvent as once } from '../src/testing/index.js';

/**
 * The `chat` namespace the official-SDK suites share (WebSocket, HTTP transports, Protobuf): clients
 * subscribe and publish, presence and join/leave, history of 100 for 5 minutes with recovery.
 */
export const SDK_CHAT_NAMESPACE = {
  allowSubscribeForClient: true,
  allowPublishForSubscriber: true,
  presence: true,
  joinLeave: true,
  allowPresenceForSubscriber: true,
  allowHistoryForSubscriber: true,
  historySize: 100,
  historyTtlMs: 300_000,
  forceRecovery: true,
};

/** A JSON value as the bytes a Protobuf client publishes and receives (payloads are bytes there). */
export const jsonBytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
/** The JSON value of a Protobuf payload. */
export const fromJsonBytes = (b: unknown): unknown => JSON.parse(new TextDecoder().decode(b as Uint8Array));

/** A raw WebSocket client that records every message (split on newlines) and the close. */
export class RawClient {
  readonly ws: WebSocket;
  readonly messages: unknown[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;
  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, { handshakeTimeout: 5000, ...options });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('message', (data) => {
      for (const line of (data as Buffer).toString().split('\n')) if (line !== '') this.messages.push(JSON.parse(line));
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }
  send(v: unknown): void {
    this.ws.send(typeof v === 'string' ? v : JSON.stringify(v));
  }
  async next<T = Record<string, unknown>>(pred: (m: Record<string, unknown>) => boolean = () => true, ms = 5000): Promise<T> {
    let found: T | undefined;
    await until(
      () => {
        const i = this.messages.findIndex((m) => pred(m as Record<string, unknown>));
        if (i < 0) return false;
        found = this.messages.splice(i, 1)[0] as T;
        return true;
      },
      ms,
      'a message',
    );
    return found!;
  }
  async waitClose(ms = 5000): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined, ms, 'close');
    return this.closed!;
  }
  close(): void {
    this.ws.terminate();
  }
}

export interface TestApi {
  /** POST one server API method; the parsed answer (`result` or `error`). */
  post(method: string, body: unknown): Promise<{ result?: Record<string, unknown>; error?: { code: number; message: string } }>;
  close(): Promise<void>;
}

/** The server HTTP API of `sb` (`createApiHandler`) on its own ephemeral port on 127.0.0.1. */
export async function startApi(sb: Switchboard): Promise<TestApi> {
  const api = createApiHandler(sb, { key: 'test-api-key', prefix: '/api' });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    async post(method, body) {
      const res = await fetch(`${base}/api/${method}`, { method: 'POST', headers: { 'x-api-key': 'test-api-key' }, body: JSON.stringify(body) });
      return (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string } };
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** A TCP port free on 127.0.0.1 right now (for a process that must be told its port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
