import protobuf from 'protobufjs';

/**
 * Centrifugo's GRPC proxy service (`proxy.proto`, package `centrifugal.centrifugo.proxy`, service
 * `CentrifugoProxy`): the messages and field numbers of the unary events served here. A backend
 * generated from Centrifugo's file talks to this unchanged; fields not listed (PRO labels,
 * capabilities, tags filters) are skipped when decoding, as protobuf does with unknown fields.
 * Field names are the proto names (snake_case), the same keys as the HTTP proxy's JSON.
 */
export const PROXY_PROTO = `
syntax = "proto3";
package centrifugal.centrifugo.proxy;

service CentrifugoProxy {
  rpc Connect(ConnectRequest) returns (ConnectResponse);
  rpc Refresh(RefreshRequest) returns (RefreshResponse);
  rpc Subscribe(SubscribeRequest) returns (SubscribeResponse);
  rpc Publish(PublishRequest) returns (PublishResponse);
  rpc RPC(RPCRequest) returns (RPCResponse);
  rpc SubRefresh(SubRefreshRequest) returns (SubRefreshResponse);
}

message Disconnect { uint32 code = 1; string reason = 2; }
message Error { uint32 code = 1; string message = 2; bool temporary = 3; }
message BoolValue { bool value = 1; }

message SubscribeOptionOverride {
  BoolValue presence = 1;
  BoolValue join_leave = 2;
  BoolValue force_recovery = 3;
  BoolValue force_positioning = 4;
  BoolValue force_push_join_leave = 5;
}

message ConnectRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  bytes data = 10; string b64data = 11; string name = 12; string version = 13; repeated string channels = 14;
}
message SubscribeOptions {
  int64 expire_at = 1; bytes info = 2; string b64info = 3; bytes data = 4; string b64data = 5;
  SubscribeOptionOverride override = 6;
}
message ConnectResult {
  string user = 1; int64 expire_at = 2; bytes info = 3; string b64info = 4; bytes data = 5; string b64data = 6;
  repeated string channels = 7; map<string, SubscribeOptions> subs = 8; bytes meta = 9;
}
message ConnectResponse { ConnectResult result = 1; Error error = 2; Disconnect disconnect = 3; }

message RefreshRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  string user = 10; bytes meta = 11;
}
message RefreshResult { bool expired = 1; int64 expire_at = 2; bytes info = 3; string b64info = 4; bytes meta = 5; }
message RefreshResponse { RefreshResult result = 1; Error error = 2; Disconnect disconnect = 3; }

message SubscribeRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  string user = 10; string channel = 11; string token = 12; bytes meta = 13; bytes data = 14; string b64data = 15;
}
message SubscribeResult {
  int64 expire_at = 1; bytes info = 2; string b64info = 3; bytes data = 4; string b64data = 5;
  SubscribeOptionOverride override = 6;
}
message SubscribeResponse { SubscribeResult result = 1; Error error = 2; Disconnect disconnect = 3; }

message PublishRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  string user = 10; string channel = 11; bytes data = 12; string b64data = 13; bytes meta = 14;
}
message PublishResult { bytes data = 1; string b64data = 2; bool skip_history = 3; }
message PublishResponse { PublishResult result = 1; Error error = 2; Disconnect disconnect = 3; }

message RPCRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  string user = 10; string method = 11; bytes data = 12; string b64data = 13; bytes meta = 14;
}
message RPCResult { bytes data = 1; string b64data = 2; }
message RPCResponse { RPCResult result = 1; Error error = 2; Disconnect disconnect = 3; }

message SubRefreshRequest {
  string client = 1; string transport = 2; string protocol = 3; string encoding = 4;
  string user = 10; string channel = 11; bytes meta = 12;
}
message SubRefreshResult { bool expired = 1; int64 expire_at = 2; bytes info = 3; string b64info = 4; }
message SubRefreshResponse { SubRefreshResult result = 1; Error error = 2; Disconnect disconnect = 3; }
`;

export const PROXY_SERVICE = 'centrifugal.centrifugo.proxy.CentrifugoProxy';

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once, on first use). */
export function proxyRoot(): protobuf.Root {
  return (root ??= protobuf.parse(PROXY_PROTO, { keepCase: true }).root);
}

/** Per event: the GRPC method name and its request and response messages. */
export const PROXY_METHODS = {
  connect: { rpc: 'Connect', request: 'ConnectRequest', response: 'ConnectResponse' },
  refresh: { rpc: 'Refresh', request: 'RefreshRequest', response: 'RefreshResponse' },
  subscribe: { rpc: 'Subscribe', request: 'SubscribeRequest', response: 'SubscribeResponse' },
  publish: { rpc: 'Publish', request: 'PublishRequest', response: 'PublishResponse' },
  rpc: { rpc: 'RPC', request: 'RPCRequest', response: 'RPCResponse' },
  sub_refresh: { rpc: 'SubRefresh', request: 'SubRefreshRequest', response: 'SubRefreshResponse' },
} as const;

/** The bytes fields that hold JSON: values in the JSON form, `Buffer`s on the wire. */
const JSON_BYTES = new Set(['data', 'info', 'meta']);

/** A request in its JSON form (HTTP's) as the message's fields: JSON values become their bytes. */
export function toWireRequest(request: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) out[k] = JSON_BYTES.has(k) && v !== undefined ? Buffer.from(JSON.stringify(v)) : v;
  return out;
}

/**
 * A decoded response in the JSON form the HTTP proxy has: bytes holding JSON become JSON values
 * (empty: absent), int64 numbers. Bytes that are not JSON text throw (a malformed answer).
 */
export function toJsonForm(message: protobuf.Message, type: protobuf.Type): Record<string, unknown> {
  const obj = type.toObject(message, { longs: Number, defaults: false }) as Record<string, unknown>;
  return walk(obj) as Record<string, unknown>;
}

function walk(v: unknown, key = ''): unknown {
  if (v instanceof Uint8Array) {
    if (!JSON_BYTES.has(key) || v.length === 0) return v.length === 0 ? undefined : Buffer.from(v).toString('utf8');
    const text = Buffer.from(v).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${key} is not JSON`);
    }
  }
  if (Array.isArray(v)) return v.map((x) => walk(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const w = walk(x, k);
      if (w !== undefined) out[k] = w;
    }
    return out;
  }
  return v;
}
