/**
 * The server HTTP API, in Centrifugo's shapes (`POST /api/<method>`), so existing server SDKs and
 * curl scripts work unchanged. Mountable in any Node HTTP server: the handler answers the requests
 * under its prefix and returns false for everything else.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { callApiCommand, METHOD_SET, type Method } from './api-commands.js';
import type { Switchboard } from './switchboard.js';

export interface ApiHandlerOptions {
  /** The API key (`X-API-Key: <key>` or `Authorization: apikey <key>`). Required unless `insecure`. */
  key?: string | undefined;
  /** No key check at all (development only). */
  insecure?: boolean;
  /** URL prefix, `/api` by default. */
  prefix?: string;
  /** Largest request body, bytes (1 MiB by default); larger ones get 413. */
  maxBodyBytes?: number;
  /** Called once per answered API call (metrics): the method and the error code (0 on success). */
  observe?: (method: string, code: number) => void;
}

export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Centrifugo's transport error mode: error codes as HTTP statuses. */
function transportStatus(code: number): number {
  if (code === 102 || code === 104) return 404;
  if (code === 107 || code === 108) return 400;
  if (code === 112) return 416;
  if (code === 113) return 409;
  return 500;
}

export function createApiHandler(sb: Switchboard, options: ApiHandlerOptions = {}): ApiHandler {
  const prefix = (options.prefix ?? '/api').replace(/\/+$/, '');
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  if (!options.insecure && !options.key) throw new Error('createApiHandler: give an API key (options.key) or set insecure: true');
  const keyHash = options.key ? sha256(options.key) : undefined;

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (options.insecure) return true;
    const candidates: string[] = [];
    const x = req.headers['x-api-key'];
    if (typeof x === 'string' && x !== '') candidates.push(x);
    else {
      const m = /^apikey\s+(.+)$/i.exec(req.headers.authorization ?? '');
      if (m) candidates.push(m[1]!.trim());
    }
    const q = url.searchParams.get('api_key');
    if (q) candidates.push(q);
    // Compare hashes so the comparison is constant-time whatever the lengths.
    return candidates.some((c) => timingSafeEqual(sha256(c), keyHash!));
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    const method = path.slice(prefix.length + 1);
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('method not allowed: use POST\n');
      return true;
    }
    if (!authorized(req, url)) {
      res.writeHead(401).end();
      return true;
    }
    if (!METHOD_SET.has(method)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`unknown API method "${method}"\n`);
      return true;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`request body larger than ${maxBody} bytes\n`);
        req.resume();
      } else res.destroy();
      return true;
    }
    let params: unknown;
    const text = body.toString('utf8').trim();
    if (text === '') params = {};
    else {
      try {
        params = JSON.parse(text);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('request body is not valid JSON\n');
        return true;
      }
    }
    const reply = await callApiCommand(sb, method as Method, params, options.observe);
    const transportMode = String(req.headers['x-centrifugo-error-mode'] ?? '').toLowerCase() === 'transport';
    if ('error' in reply && transportMode) {
      res.writeHead(transportStatus(reply.error.code), { 'content-type': 'application/json' }).end(JSON.stringify(reply.error));
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    return true;
  };
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
