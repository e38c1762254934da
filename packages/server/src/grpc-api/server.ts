/**
 * The GRPC server API (Centrifugo's `grpc_api`): `CentrifugoApi` on its own port, every method
 * run through `runApiCommand`, so results and errors are the HTTP API's, field for field. The key
 * is Centrifugo's: metadata `authorization: apikey <KEY>`, else UNAUTHENTICATED.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type * as Grpc from '@grpc/grpc-js';
import { Errors } from '../codes.js';
import { ApiCommandError, runApiCommand } from '../http-api.js';
import { isObject } from '../internal/json.js';
import { grpc } from '../proxy/grpc.js';
import type { Switchboard } from '../switchboard.js';
import { API_METHODS, API_SERVICE, apiType } from './api-proto.js';

export interface GrpcApiOptions {
  /** The API key (`grpc_api.key`); undefined or '': no key asked (development only). */
  key?: string | undefined;
  /** `transport`: errors as GRPC statuses instead of the response's `error` field (Centrifugo's `error_mode`). */
  errorMode?: 'transport' | '';
  /** Largest request accepted, bytes (default 4 MiB, GRPC's). */
  maxReceiveMessageSize?: number;
}

/** Bytes fields that hold JSON, both ways. */
const JSON_BYTES = new Set(['data', 'info', 'params', 'conn_info', 'chan_info', 'meta']);

class BadField extends Error {}

function fromWire(v: unknown, key = ''): unknown {
  if (v instanceof Uint8Array) {
    if (v.length === 0) return undefined;
    const text = Buffer.from(v).toString('utf8');
    if (!JSON_BYTES.has(key)) return text;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new BadField(`${key} must be JSON (this server speaks the JSON protocol only)`);
    }
  }
  if (Array.isArray(v)) return v.map((x) => fromWire(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const w = fromWire(x, k);
      if (w !== undefined) out[k] = w;
    }
    return out;
  }
  return v;
}

function toWire(v: unknown, key = ''): unknown {
  if (JSON_BYTES.has(key) && v !== undefined && !(isObject(v) && key === 'info')) return Buffer.from(JSON.stringify(v));
  if (Array.isArray(v)) return v.map((x) => toWire(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toWire(x, k);
    return out;
  }
  return v;
}

/**
 * Where a method's GRPC message differs from its HTTP JSON: Centrifugo's fields this server does
 * not support are refused (107), and results are reshaped into the proto's messages.
 */
const ADAPTERS: Record<string, { params?: (p: Record<string, unknown>) => Record<string, unknown>; result?: (r: unknown) => unknown }> = {
  connections: {
    params(p) {
      if (p['expression'] !== undefined) throw new BadField('expression (a CEL filter) is not supported: use user, channel, transport, protocol and meta');
      return p;
    },
    result(r) {
      const page = r as { connections: Record<string, unknown>[]; next_cursor?: string };
      const connections: Record<string, unknown> = {};
      for (const c of page.connections) {
        const channels = (c['channels'] as string[] | undefined) ?? [];
        connections[c['client'] as string] = {
          user: c['user'],
          transport: c['transport'],
          protocol: c['protocol'],
          node: c['node'],
          age: c['age'],
          connected_at: c['connected_at'],
          channels,
          ...(c['name'] !== undefined ? { app_name: c['name'] } : {}),
          ...(c['version'] !== undefined ? { app_version: c['version'] } : {}),
          ...(c['info'] !== undefined ? { conn_info: Buffer.from(JSON.stringify(c['info'])) } : {}),
          state: {
            channels: Object.fromEntries(channels.map((ch) => [ch, {}])),
            ...(c['meta'] !== undefined ? { meta: Buffer.from(JSON.stringify(c['meta'])) } : {}),
          },
        };
      }
      return { connections, ...(page.next_cursor !== undefined ? { next_cursor: page.next_cursor } : {}) };
    },
  },
  invalidate_user_tokens: {
    params(p) {
      if (p['channel'] !== undefined) throw new BadField('channel is not supported: revocation covers all tokens of the user');
      return p;
    },
  },
};

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A GRPC status for a coded error in `transport` error mode. */
function statusOf(g: typeof Grpc, code: number): Grpc.status {
  if (code === 102 || code === 104) return g.status.NOT_FOUND;
  if (code === 107 || code === 108) return g.status.INVALID_ARGUMENT;
  if (code === 100) return g.status.INTERNAL;
  return g.status.UNKNOWN;
}

export class GrpcApiServer {
  readonly #server: Grpc.Server;
  readonly #key: Buffer | undefined;
  port = 0;

  constructor(
    readonly sb: Switchboard,
    readonly options: GrpcApiOptions = {},
  ) {
    const g = grpc();
    this.#key = options.key ? sha256(`apikey ${options.key}`) : undefined;
    this.#server = new g.Server({ 'grpc.max_receive_message_length': options.maxReceiveMessageSize ?? 4 * 1024 * 1024 });
    for (const [rpc, spec] of Object.entries(API_METHODS)) {
      const reqType = apiType(spec.request);
      const resType = apiType(spec.response);
      this.#server.register(
        `/${API_SERVICE}/${rpc}`,
        (call: Grpc.ServerUnaryCall<object, object>, callback: Grpc.sendUnaryData<object>) => {
          if (!this.#authorized(call.metadata)) return callback({ code: g.status.UNAUTHENTICATED, details: 'unauthenticated' });
          const transport = options.errorMode === 'transport' || call.metadata.get('x-centrifugo-error-mode')[0] === 'transport';
          this.#handle(spec.method, reqType.toObject(call.request as never, { longs: Number, defaults: false }))
            .then((reply) => {
              if (transport && 'error' in reply && reply.error) {
                return callback({ code: statusOf(g, reply.error.code), details: `${reply.error.code}: ${reply.error.message}` });
              }
              callback(null, resType.fromObject(reply));
            })
            .catch((err: unknown) => {
              // A reply that does not fit the message (or a bug): the caller gets INTERNAL, never a hang or an unhandled rejection.
              this.sb.reportError(err);
              callback({ code: g.status.INTERNAL, details: 'internal server error' });
            });
        },
        (m: object) => Buffer.from(resType.encode(m).finish()),
        (b: Buffer) => reqType.decode(b),
        'unary',
      );
    }
  }

  #authorized(md: Grpc.Metadata): boolean {
    if (this.#key === undefined) return true;
    const given = md.get('authorization')[0];
    return typeof given === 'string' && timingSafeEqual(sha256(given), this.#key);
  }

  /** One method: `{ result }` or `{ error }` in the message's shape. Never throws. */
  async #handle(method: string, request: Record<string, unknown>): Promise<{ result?: unknown; error?: { code: number; message: string }; replies?: unknown }> {
    let params: unknown;
    try {
      params = fromWire(request);
    } catch (err) {
      if (err instanceof BadField) return { error: { code: Errors.badRequest.code, message: err.message } };
      throw err;
    }
    // BatchResponse is the replies themselves (no result/error wrapper)
    if (method === 'batch') return { replies: await this.#batch(params as Record<string, unknown>) };
    return this.#one(method, params);
  }

  async #one(method: string, params: unknown): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
    try {
      const adapt = ADAPTERS[method];
      const p = adapt?.params ? adapt.params(isObject(params) ? params : {}) : params;
      const result = await runApiCommand(this.sb, method, p ?? {});
      return { result: adapt?.result ? adapt.result(result) : toWire(result) };
    } catch (err) {
      if (err instanceof BadField) return { error: { code: Errors.badRequest.code, message: err.message } };
      if (err instanceof ApiCommandError) return { error: { code: err.code, message: err.message.replace(/^\d+: /, '') } };
      this.sb.reportError(err);
      return { error: { code: Errors.internal.code, message: Errors.internal.message } };
    }
  }

  /** `Batch`: each command's reply in order, sequentially unless `parallel` (as the HTTP API's batch). */
  async #batch(p: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const commands = Array.isArray(p['commands']) ? (p['commands'] as Record<string, unknown>[]) : [];
    const one = async (c: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const keys = Object.keys(c);
      const name = keys[0];
      if (keys.length !== 1 || name === undefined) return { error: { code: Errors.badRequest.code, message: 'each command must have exactly one method set' } };
      const r = await this.#one(name, c[name]);
      return r.error ? { error: r.error } : { [name]: r.result };
    };
    if (p['parallel'] === true) return Promise.all(commands.map(one));
    const out: Record<string, unknown>[] = [];
    for (const c of commands) out.push(await one(c));
    return out;
  }

  /** Listen on `address:port` (port 0: any free one); resolves with the port. */
  async listen(port: number, address = '0.0.0.0'): Promise<number> {
    const g = grpc();
    const host = address.includes(':') ? `[${address}]` : address;
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${host}:${port}`, g.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this.port;
  }

  /** Stop: finish calls in flight (up to `timeoutMs`), then cut the rest. */
  async close(timeoutMs = 5000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** The GRPC server API for `sb` (Centrifugo's `grpc_api`): call `listen(port)`. */
export function createGrpcApi(sb: Switchboard, options: GrpcApiOptions = {}): GrpcApiServer {
  return new GrpcApiServer(sb, options);
}
