import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One call the backend received. */
export interface BackendCall {
  path: string;
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

/**
 * What the backend answers: a JSON value (200), or `{ status, raw? }` (that status), `{ raw }` (that
 * body as it is), `{ hang: true }` (no answer until the backend closes).
 */
export type BackendAnswer = unknown;

/**
 * A Centrifugo-style proxy backend over plain node:http: every POST is recorded and answered by
 * `answer` (per path: `/connect`, `/subscribe`…). The answer is computed per call, so a test can
 * change its mind mid-way.
 */
export class HttpBackend {
  readonly calls: BackendCall[] = [];
  readonly #server: Server;
  readonly #hanging = new Set<ServerResponse>();
  port = 0;

  constructor(public answer: (call: BackendCall) => BackendAnswer) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const call: BackendCall = { path: req.url ?? '/', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: req.headers };
        this.calls.push(call);
        const a = this.answer(call) as Record<string, unknown> | undefined;
        if (a && typeof a === 'object' && a['hang'] === true) {
          this.#hanging.add(res);
          return;
        }
        if (a && typeof a === 'object' && typeof a['status'] === 'number') {
          res.writeHead(a['status']).end(typeof a['raw'] === 'string' ? a['raw'] : '');
          return;
        }
        if (a && typeof a === 'object' && typeof a['raw'] === 'string' && Object.keys(a).length === 1) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(a['raw']);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a ?? {}));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  callsTo(path: string): BackendCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  async close(): Promise<void> {
    for (const r of this.#hanging) r.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
