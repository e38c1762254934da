import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ProxyCallError, type OutgoingHeaders, type ProxyCaller, type ProxyEndpoint, type ProxyMethod } from './types.js';

export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Centrifugo's HTTP proxy: every call is a POST of the request as JSON to the endpoint (the same
 * URL for every event unless configured per event); a 200 answer's body is the response as JSON.
 * Keep-alive connections are reused. A call past its timeout is aborted; a body over
 * `maxResponseBytes` is refused without reading the rest.
 */
export class HttpProxyCaller implements ProxyCaller {
  readonly protocol = 'http' as const;
  readonly #url: URL;
  readonly #agent: HttpAgent;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(readonly endpoint: ProxyEndpoint) {
    let url: URL;
    try {
      url = new URL(endpoint.endpoint);
    } catch {
      throw new Error(`proxy endpoint "${endpoint.endpoint}" is not a URL: use http://host:port/path, https://… or grpc://host:port`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`proxy endpoint "${endpoint.endpoint}": HTTP proxies need http:// or https://`);
    this.#url = url;
    this.#agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: 255 }) : new HttpAgent({ keepAlive: true, maxSockets: 255 });
    this.#timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = endpoint.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  call(_method: ProxyMethod, request: Readonly<Record<string, unknown>>, headers: OutgoingHeaders): Promise<unknown> {
    const body = Buffer.from(JSON.stringify(request));
    const send = this.#url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const done = (err: Error | undefined, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      const req = send(this.#url, {
        method: 'POST',
        agent: this.#agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) },
      });
      const timer = setTimeout(() => {
        done(new ProxyCallError('timeout', `no answer from ${this.#url.origin} within ${this.#timeoutMs} ms`));
        req.destroy();
      }, this.#timeoutMs);
      req.on('error', (err) => done(new ProxyCallError('unreachable', `${this.#url.origin}: ${err.message}`, undefined, { cause: err })));
      req.on('response', (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          return done(new ProxyCallError('status', `${this.#url.origin} answered HTTP ${res.statusCode}`, res.statusCode));
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.#maxBytes) {
          res.destroy();
          return done(new ProxyCallError('too-large', `response of ${declared} bytes is over the limit of ${this.#maxBytes}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.#maxBytes) {
            res.destroy();
            done(new ProxyCallError('too-large', `response over the limit of ${this.#maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => done(new ProxyCallError('unreachable', `${this.#url.origin}: ${err.message}`, undefined, { cause: err })));
        res.on('end', () => {
          let value: unknown;
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return done(new ProxyCallError('malformed', 'response is not JSON'));
          }
          done(undefined, value);
        });
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
