import type * as Grpc from '@grpc/grpc-js';
import { grpc } from '../proxy/grpc.js';
import { PROXY_METHODS, PROXY_SERVICE, proxyRoot, toJsonForm } from '../proxy/proxy-proto.js';

/** One call the GRPC backend received: the event (`connect`…), the request in its JSON form, the metadata. */
export interface GrpcBackendCall {
  method: keyof typeof PROXY_METHODS;
  body: Record<string, unknown>;
  metadata: Record<string, string>;
}

/**
 * A Centrifugo-style proxy backend over GRPC (@grpc/grpc-js), serving `CentrifugoProxy`. `answer`
 * returns the response in the HTTP proxy's JSON form (JSON values for `info`, `data`, `meta`;
 * a `Buffer` there is sent as it is), or `{ hang: true }` (no answer), or `{ grpcStatus: n }`.
 */
export class GrpcBackend {
  readonly calls: GrpcBackendCall[] = [];
  readonly #server: Grpc.Server;
  readonly #hanging = new Set<() => void>();
  port = 0;

  constructor(public answer: (call: GrpcBackendCall) => unknown) {
    const g = grpc();
    this.#server = new g.Server();
    const root = proxyRoot();
    const pkg = PROXY_SERVICE.slice(0, PROXY_SERVICE.lastIndexOf('.'));
    for (const [method, spec] of Object.entries(PROXY_METHODS) as [keyof typeof PROXY_METHODS, (typeof PROXY_METHODS)[keyof typeof PROXY_METHODS]][]) {
      const reqType = root.lookupType(`${pkg}.${spec.request}`);
      const resType = root.lookupType(`${pkg}.${spec.response}`);
      this.#server.register(
        `/${PROXY_SERVICE}/${spec.rpc}`,
        (call: Grpc.ServerUnaryCall<object, object>, callback: Grpc.sendUnaryData<object>) => {
          const metadata: Record<string, string> = {};
          for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = String(v);
          const c: GrpcBackendCall = { method, body: toJsonForm(call.request as never, reqType), metadata };
          this.calls.push(c);
          const a = this.answer(c) as Record<string, unknown> | undefined;
          if (a?.['hang'] === true) {
            this.#hanging.add(() => callback({ code: g.status.CANCELLED }));
            return;
          }
          if (typeof a?.['grpcStatus'] === 'number') return callback({ code: a['grpcStatus'], details: 'backend failure' });
          callback(null, resType.fromObject(toWire(a ?? {}) as Record<string, unknown>));
        },
        (m: object) => Buffer.from(resType.encode(m).finish()),
        (b: Buffer) => reqType.decode(b),
        'unary',
      );
    }
  }

  async start(): Promise<this> {
    const g = grpc();
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync('127.0.0.1:0', g.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return this;
  }

  get endpoint(): string {
    return `grpc://127.0.0.1:${this.port}`;
  }

  callsTo(method: GrpcBackendCall['method']): GrpcBackendCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
  }
}

const JSON_BYTES = new Set(['data', 'info', 'meta']);

function toWire(v: unknown, key = ''): unknown {
  if (Buffer.isBuffer(v)) return v;
  if (JSON_BYTES.has(key) && v !== undefined) return Buffer.from(JSON.stringify(v));
  if (Array.isArray(v)) return v.map((x) => toWire(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toWire(x, k);
    return out;
  }
  return v;
}
