/**
 * Backend proxies (Centrifugo's proxy feature): the server asks an app backend, over HTTP (JSON) or
 * GRPC (Centrifugo's proxy.proto), whether to accept a connection, a subscription, a publication or
 * an RPC. The shapes are Centrifugo's, so a backend written for Centrifugo works unchanged.
 */

/** The events a backend can be asked about, named as in Centrifugo's configuration. */
export type ProxyMethod = 'connect' | 'refresh' | 'subscribe' | 'publish' | 'rpc' | 'sub_refresh';

/** An HTTP status answered by the backend, turned into a client error or a disconnect (Centrifugo's `status_to_code_transforms`). */
export interface StatusTransform {
  statusCode: number;
  toError?: { code: number; message: string; temporary?: boolean };
  toDisconnect?: { code: number; reason: string };
}

/** One backend endpoint and how to call it (Centrifugo's proxy object). */
export interface ProxyEndpoint {
  /** `http://…` / `https://…` (JSON over POST) or `grpc://host:port`. */
  endpoint: string;
  /** Per call, ms (default 1000, as in Centrifugo). Past it the call fails: the client gets 100 internal (temporary). */
  timeoutMs?: number;
  /** Headers of the client's connection request forwarded to the backend (case-insensitive). Nothing else is forwarded. */
  httpHeaders?: readonly string[];
  /**
   * Headers the client sent inside its connect command (headers emulation) forwarded to the backend.
   * Client-controlled: list only what the backend checks itself. A real header of the same name wins.
   */
  emulatedHeaders?: readonly string[];
  /**
   * Centrifugo's `grpc_metadata`: metadata keys of a client connected over a GRPC transport
   * (Centrifugo's uni_grpc) forwarded to the backend. Switchboard serves no GRPC client transport,
   * so there is never such metadata: this forwards nothing (a warning is logged when it is set).
   * Headers of WebSocket/HTTP clients are forwarded by `httpHeaders`, to GRPC backends too.
   */
  grpcMetadata?: readonly string[];
  /** Send the connection's `meta` (from its token or the connect proxy) with every call but connect. */
  includeConnectionMeta?: boolean;
  /** Send data as base64 (`b64data`) instead of JSON (`data`); `encoding` says `binary`. */
  binaryEncoding?: boolean;
  /** Headers added to every HTTP call; forwarded ones of the same name win. */
  staticHeaders?: Readonly<Record<string, string>>;
  /** HTTP statuses mapped to client errors or disconnects (otherwise any non-200 is 100 internal). */
  statusToCodeTransforms?: readonly StatusTransform[];
  /** GRPC only: a per-call credential (metadata key and value), gzip compression, static metadata. */
  grpc?: {
    credentialsKey?: string;
    credentialsValue?: string;
    compression?: boolean;
    staticMetadata?: Readonly<Record<string, string>>;
  };
  /** Largest response body accepted, bytes (default 4 MiB); larger ones are an error for the client. */
  maxResponseBytes?: number;
  /** A name for logs and metrics (Centrifugo: the named proxy's name, or `default`). */
  name?: string;
}

/** What went wrong with a proxy call, before any answer could be used. */
/** `grpc-status`: the backend answered a GRPC status other than OK (and other than the two above). */
export type ProxyFailure = 'timeout' | 'unreachable' | 'status' | 'grpc-status' | 'malformed' | 'too-large';

export class ProxyCallError extends Error {
  constructor(
    readonly failure: ProxyFailure,
    message: string,
    /** The HTTP status, for `status`. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyCallError';
  }
}

/** Headers (or GRPC metadata) to send with one call, lower-case names. */
export type OutgoingHeaders = Record<string, string | string[]>;

/** Calls one backend: a request object in Centrifugo's shape in, the decoded response object out. */
export interface ProxyCaller {
  readonly protocol: 'http' | 'grpc';
  call(method: ProxyMethod, request: Readonly<Record<string, unknown>>, headers: OutgoingHeaders): Promise<unknown>;
  close(): void;
}
