import protobuf from 'protobufjs';

/**
 * Centrifugo's GRPC server API (`api.proto`, package `centrifugal.centrifugo.api`, service
 * `CentrifugoApi`): the messages and field numbers of the methods the HTTP API has. A client
 * generated from Centrifugo's file calls this unchanged; its PRO-only methods answer UNIMPLEMENTED.
 */
export const API_PROTO = `
syntax = "proto3";
package centrifugal.centrifugo.api;

service CentrifugoApi {
  rpc Batch(BatchRequest) returns (BatchResponse);
  rpc Publish(PublishRequest) returns (PublishResponse);
  rpc Broadcast(BroadcastRequest) returns (BroadcastResponse);
  rpc Subscribe(SubscribeRequest) returns (SubscribeResponse);
  rpc Unsubscribe(UnsubscribeRequest) returns (UnsubscribeResponse);
  rpc Disconnect(DisconnectRequest) returns (DisconnectResponse);
  rpc Presence(PresenceRequest) returns (PresenceResponse);
  rpc PresenceStats(PresenceStatsRequest) returns (PresenceStatsResponse);
  rpc History(HistoryRequest) returns (HistoryResponse);
  rpc HistoryRemove(HistoryRemoveRequest) returns (HistoryRemoveResponse);
  rpc Info(InfoRequest) returns (InfoResponse);
  rpc RPC(RPCRequest) returns (RPCResponse);
  rpc Refresh(RefreshRequest) returns (RefreshResponse);
  rpc Channels(ChannelsRequest) returns (ChannelsResponse);
  rpc Connections(ConnectionsRequest) returns (ConnectionsResponse);
  rpc RevokeToken(RevokeTokenRequest) returns (RevokeTokenResponse);
  rpc InvalidateUserTokens(InvalidateUserTokensRequest) returns (InvalidateUserTokensResponse);
  rpc UserStatus(UserStatusRequest) returns (UserStatusResponse);
  // Switchboard's own (not in Centrifugo's api.proto): acknowledged delivery, docs/acks.md
  rpc Unacknowledged(UnacknowledgedRequest) returns (UnacknowledgedResponse);
}

message Command {
  PublishRequest publish = 4;
  BroadcastRequest broadcast = 5;
  SubscribeRequest subscribe = 6;
  UnsubscribeRequest unsubscribe = 7;
  DisconnectRequest disconnect = 8;
  PresenceRequest presence = 9;
  PresenceStatsRequest presence_stats = 10;
  HistoryRequest history = 11;
  HistoryRemoveRequest history_remove = 12;
  InfoRequest info = 13;
  RPCRequest rpc = 14;
  RefreshRequest refresh = 15;
  ChannelsRequest channels = 16;
  ConnectionsRequest connections = 17;
  RevokeTokenRequest revoke_token = 23;
  InvalidateUserTokensRequest invalidate_user_tokens = 24;
  UserStatusRequest user_status = 100;
  UnacknowledgedRequest unacknowledged = 1001;
}

message Error { uint32 code = 1; string message = 2; }

message Reply {
  Error error = 2;
  PublishResult publish = 4;
  BroadcastResult broadcast = 5;
  SubscribeResult subscribe = 6;
  UnsubscribeResult unsubscribe = 7;
  DisconnectResult disconnect = 8;
  PresenceResult presence = 9;
  PresenceStatsResult presence_stats = 10;
  HistoryResult history = 11;
  HistoryRemoveResult history_remove = 12;
  InfoResult info = 13;
  RPCResult rpc = 14;
  RefreshResult refresh = 15;
  ChannelsResult channels = 16;
  ConnectionsResult connections = 17;
  RevokeTokenResult revoke_token = 23;
  InvalidateUserTokensResult invalidate_user_tokens = 24;
  UserStatusResult user_status = 100;
  UnacknowledgedResult unacknowledged = 1001;
}

message BatchRequest { repeated Command commands = 1; bool parallel = 2; }
message BatchResponse { repeated Reply replies = 1; }

message PublishRequest {
  string channel = 1; bytes data = 2; string b64data = 3; bool skip_history = 4; map<string, string> tags = 5;
  string idempotency_key = 6; bool delta = 7; uint64 version = 8; string version_epoch = 9;
}
message PublishResponse { Error error = 1; PublishResult result = 2; }
message PublishResult { uint64 offset = 1; string epoch = 2; }

message BroadcastRequest {
  repeated string channels = 1; bytes data = 2; string b64data = 3; bool skip_history = 4; map<string, string> tags = 5;
  string idempotency_key = 6; bool delta = 7; uint64 version = 8; string version_epoch = 9;
}
message BroadcastResponse { Error error = 1; BroadcastResult result = 2; }
message BroadcastResult { repeated PublishResponse responses = 1; }

message StreamPosition { uint64 offset = 1; string epoch = 2; }
message BoolValue { bool value = 1; }
message SubscribeOptionOverride {
  BoolValue presence = 1; BoolValue join_leave = 2; BoolValue force_recovery = 3; BoolValue force_positioning = 4; BoolValue force_push_join_leave = 5;
}
message SubscribeRequest {
  string channel = 1; string user = 2; int64 expire_at = 3; bytes info = 4; string b64info = 5; string client = 6;
  bytes data = 7; string b64data = 8; StreamPosition recover_since = 9; SubscribeOptionOverride override = 10; string session = 11;
}
message SubscribeResponse { Error error = 1; SubscribeResult result = 2; }
message SubscribeResult {}

message UnsubscribeRequest { string channel = 1; string user = 2; string client = 3; string session = 4; }
message UnsubscribeResponse { Error error = 1; UnsubscribeResult result = 2; }
message UnsubscribeResult {}

message Disconnect { uint32 code = 1; string reason = 2; }
message DisconnectRequest { string user = 1; Disconnect disconnect = 2; string client = 3; repeated string whitelist = 4; string session = 5; }
message DisconnectResponse { Error error = 1; DisconnectResult result = 2; }
message DisconnectResult {}

message PresenceRequest { string channel = 1; }
message PresenceResponse { Error error = 1; PresenceResult result = 2; }
message ClientInfo { string user = 1; string client = 2; bytes conn_info = 3; bytes chan_info = 4; }
message PresenceResult { map<string, ClientInfo> presence = 1; }

message PresenceStatsRequest { string channel = 1; }
message PresenceStatsResponse { Error error = 1; PresenceStatsResult result = 2; }
message PresenceStatsResult { uint32 num_clients = 1; uint32 num_users = 2; }

message HistoryRequest { string channel = 1; int32 limit = 2; StreamPosition since = 3; bool reverse = 4; }
message HistoryResponse { Error error = 1; HistoryResult result = 2; }
message Publication { bytes data = 2; ClientInfo info = 3; uint64 offset = 4; map<string, string> tags = 5; }
message HistoryResult { repeated Publication publications = 1; string epoch = 2; uint64 offset = 3; }

message HistoryRemoveRequest { string channel = 1; }
message HistoryRemoveResponse { Error error = 1; HistoryRemoveResult result = 2; }
message HistoryRemoveResult {}

message InfoRequest {}
message InfoResponse { Error error = 1; InfoResult result = 2; }
message InfoResult { repeated NodeResult nodes = 1; }
message NodeResult {
  string uid = 1; string name = 2; string version = 3; uint32 num_clients = 4; uint32 num_users = 5;
  uint32 num_channels = 6; uint32 uptime = 7; uint32 num_subs = 10;
}

message RPCRequest { string method = 1; bytes params = 2; }
message RPCResponse { Error error = 1; RPCResult result = 2; }
message RPCResult { bytes data = 1; }

message RefreshRequest { string user = 1; string client = 2; bool expired = 3; int64 expire_at = 4; bytes info = 5; string session = 6; }
message RefreshResponse { Error error = 1; RefreshResult result = 2; }
message RefreshResult {}

message ChannelsRequest { string pattern = 1; }
message ChannelsResponse { Error error = 1; ChannelsResult result = 2; }
message ChannelsResult { map<string, ChannelInfo> channels = 1; }
message ChannelInfo { uint32 num_clients = 1; }

// Centrifugo's (PRO) Connections, extended: its user (1) and, answered with 107, its CEL
// expression (2); Switchboard's filters and pagination from 3 on. The result is Centrifugo's map
// keyed by client id (in client id order on the wire) plus next_cursor; each ConnectionInfo has
// Centrifugo's fields where they exist and Switchboard's from 20 on.
message ConnectionsRequest {
  string user = 1; string expression = 2; string channel = 3; string transport = 4; string protocol = 5;
  bytes meta = 6; int32 limit = 7; string cursor = 8;
}
message ConnectionsResponse { Error error = 1; ConnectionsResult result = 2; }
message ConnectionsResult { map<string, ConnectionInfo> connections = 1; string next_cursor = 2; }
message ConnectionInfo {
  string app_name = 1; string app_version = 2; string transport = 3; string protocol = 4; string user = 8; ConnectionState state = 9;
  string node = 20; uint32 age = 21; int64 connected_at = 22; bytes conn_info = 23; repeated string channels = 24;
}
message ConnectionState { map<string, ChannelContext> channels = 1; bytes meta = 4; }
message ChannelContext { uint32 source = 1; }

// Centrifugo's (PRO) token revocation messages; InvalidateUserTokens' channel (4) is answered with 107.
message RevokeTokenRequest { int64 expire_at = 1; string uid = 2; }
message RevokeTokenResponse { Error error = 1; RevokeTokenResult result = 2; }
message RevokeTokenResult {}
message InvalidateUserTokensRequest { int64 expire_at = 1; string user = 2; int64 issued_before = 3; string channel = 4; }
message InvalidateUserTokensResponse { Error error = 1; InvalidateUserTokensResult result = 2; }
message InvalidateUserTokensResult {}

// Switchboard's user_status (Centrifugo's GetUserStatus has other semantics and stays UNIMPLEMENTED).
// last_seen: ms since the epoch, 0 when unknown.
message UserStatusRequest { repeated string users = 1; }
message UserStatusResponse { Error error = 1; UserStatusResult result = 2; }
message UserStatusResult { repeated UserStatusEntry statuses = 1; }
message UserStatusEntry { string user = 1; bool online = 2; int64 last_seen = 3; }
message UnacknowledgedRequest { string channel = 1; uint64 offset = 2; }
message UnacknowledgedResponse { Error error = 1; UnacknowledgedResult result = 2; }
message AckConsumer { string user = 1; string client = 2; }
message UnacknowledgedResult { repeated AckConsumer consumers = 1; }
`;

export const API_PACKAGE = 'centrifugal.centrifugo.api';
export const API_SERVICE = `${API_PACKAGE}.CentrifugoApi`;

/** GRPC method → the server API method (the HTTP API's name) and its messages. */
export const API_METHODS: Readonly<Record<string, { readonly method: string; readonly request: string; readonly response: string }>> = {
  Batch: { method: 'batch', request: 'BatchRequest', response: 'BatchResponse' },
  Publish: { method: 'publish', request: 'PublishRequest', response: 'PublishResponse' },
  Broadcast: { method: 'broadcast', request: 'BroadcastRequest', response: 'BroadcastResponse' },
  Subscribe: { method: 'subscribe', request: 'SubscribeRequest', response: 'SubscribeResponse' },
  Unsubscribe: { method: 'unsubscribe', request: 'UnsubscribeRequest', response: 'UnsubscribeResponse' },
  Disconnect: { method: 'disconnect', request: 'DisconnectRequest', response: 'DisconnectResponse' },
  Presence: { method: 'presence', request: 'PresenceRequest', response: 'PresenceResponse' },
  PresenceStats: { method: 'presence_stats', request: 'PresenceStatsRequest', response: 'PresenceStatsResponse' },
  History: { method: 'history', request: 'HistoryRequest', response: 'HistoryResponse' },
  HistoryRemove: { method: 'history_remove', request: 'HistoryRemoveRequest', response: 'HistoryRemoveResponse' },
  Info: { method: 'info', request: 'InfoRequest', response: 'InfoResponse' },
  RPC: { method: 'rpc', request: 'RPCRequest', response: 'RPCResponse' },
  Refresh: { method: 'refresh', request: 'RefreshRequest', response: 'RefreshResponse' },
  Channels: { method: 'channels', request: 'ChannelsRequest', response: 'ChannelsResponse' },
  Connections: { method: 'connections', request: 'ConnectionsRequest', response: 'ConnectionsResponse' },
  RevokeToken: { method: 'revoke_token', request: 'RevokeTokenRequest', response: 'RevokeTokenResponse' },
  InvalidateUserTokens: { method: 'invalidate_user_tokens', request: 'InvalidateUserTokensRequest', response: 'InvalidateUserTokensResponse' },
  UserStatus: { method: 'user_status', request: 'UserStatusRequest', response: 'UserStatusResponse' },
  Unacknowledged: { method: 'unacknowledged', request: 'UnacknowledgedRequest', response: 'UnacknowledgedResponse' },
};

let root: protobuf.Root | undefined;

export function apiRoot(): protobuf.Root {
  return (root ??= protobuf.parse(API_PROTO, { keepCase: true }).root);
}

export function apiType(name: string): protobuf.Type {
  return apiRoot().lookupType(`${API_PACKAGE}.${name}`);
}
