import { createRequire } from 'node:module';
import type * as Grpc from '@grpc/grpc-js';
import { DEFAULT_TIMEOUT_MS } from './http.js';
import { PROXY_METHODS, PROXY_SERVICE, proxyRoot, toJsonForm, toWireRequest } from './proxy-proto.js';
import { ProxyCallError, type OutgoingHeaders, type ProxyCaller, type ProxyEndpoint, type ProxyMethod } from './types.js';

const require = createRequire(import.meta.url);
let grpcModule: typeof Grpc | undefined;

/** @grpc/grpc-js, loaded the first time a GRPC proxy or the GRPC API is used (HTTP-only setups never load it). */
export function grpc(): typeof Grpc {
  return (grpcModule ??= require('@grpc/grpc-js') as typeof Grpc);
}

/** GRPC's gzip, for `grpc.default_compression_algorithm`. */
const GZIP = 2;

/**
 * Centrifugo's GRPC proxy: unary calls to `centrifugal.centrifugo.proxy.CentrifugoProxy` on
 * `grpc://host:port` (plaintext HTTP/2), the forwarded headers as metadata (lower-case keys), the
 * configured per-call credential as one more metadata entry, the timeout as the call's deadline.
 */
export class GrpcProxyCaller implements ProxyCaller {
  readonly protocol = 'grpc' as const;
  readonly #client: Grpc.Client;
  readonly #timeoutMs: number;
  readonly #target: string;

  constructor(readonly endpoint: ProxyEndpoint) {
    const m = /^grpc:\/\/([^/]+)\/?$/.exec(endpoint.endpoint);
    if (!m) throw new Error(`proxy endpoint "${endpoint.endpoint}": GRPC proxies need grpc://host:port`);
    this.#target = m[1]!;
    const g = grpc();
    const options: Grpc.ChannelOptions = endpoint.grpc?.compression ? { 'grpc.default_compression_algorithm': GZIP } : {};
    this.#client = new g.Client(this.#target, g.credentials.createInsecure(), options);
    this.#timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  call(method: ProxyMethod, request: Readonly<Record<string, unknown>>, headers: OutgoingHeaders): Promise<unknown> {
    const spec = PROXY_METHODS[method];
    const root = proxyRoot();
    const reqType = root.lookupType(`${PROXY_SERVICE.slice(0, PROXY_SERVICE.lastIndexOf('.'))}.${spec.request}`);
    const resType = root.lookupType(`${PROXY_SERVICE.slice(0, PROXY_SERVICE.lastIndexOf('.'))}.${spec.response}`);
    const g = grpc();
    const md = new g.Metadata();
    for (const [k, v] of Object.entries(headers)) {
      for (const one of Array.isArray(v) ? v : [v]) md.add(k.toLowerCase(), one);
    }
    const cred = this.endpoint.grpc;
    if (cred?.credentialsKey) md.set(cred.credentialsKey.toLowerCase(), cred.credentialsValue ?? '');
    const message = reqType.fromObject(toWireRequest(request));
    return new Promise<unknown>((resolve, reject) => {
      this.#client.makeUnaryRequest(
        `/${PROXY_SERVICE}/${spec.rpc}`,
        (m: object) => Buffer.from(reqType.encode(m).finish()),
        (b: Buffer) => resType.decode(b),
        message,
        md,
        { deadline: Date.now() + this.#timeoutMs },
        (err, value) => {
          if (err) {
            const failure = err.code === g.status.DEADLINE_EXCEEDED ? 'timeout' : err.code === g.status.UNAVAILABLE ? 'unreachable' : 'grpc-status';
            return reject(new ProxyCallError(failure, `${this.#target}: ${err.details || err.message} (GRPC status ${err.code})`));
          }
          try {
            resolve(toJsonForm(value as never, resType));
          } catch (e) {
            reject(new ProxyCallError('malformed', `malformed proxy response: ${(e as Error).message}`));
          }
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
