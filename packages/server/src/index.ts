/** @switchboard/server: the library. Named exports only; of `internal/`, only the duration parser and the glob matcher (shared with the standalone server and the engines). */
export { Switchboard, Route, DEFAULTS, VERSION, httpStatusOf } from './switchboard.js';
export type { SwitchboardOptions, SwitchboardEvents, Limits, Logger, EndpointOptions, UserSelector } from './switchboard.js';
export { Errors, Disconnects, Unsubscribes, ReplyError, DisconnectError, DeclinedError, disconnectReconnects } from './codes.js';
export type { ErrorValue, DisconnectValue } from './codes.js';
export { ContractViolation, checkPublication } from './contract.js';
export type { ContractOptions } from './contract.js';
export type { Broker, BrokerEventHandler } from './broker.js';
export { MemoryBroker } from './broker-memory.js';
export type { PublishOptions } from './publisher.js';
export {
  IdempotencyCache,
  DEFAULT_IDEMPOTENT_RESULT_TTL_MS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_VERSION_EPOCH_LENGTH,
  VersionGate,
  type IdempotentPublish,
  type VersionedPublish,
} from './idempotency.js';
export { EpochMismatchError } from './history.js';
export type { HistoryStore, HistoryReadOptions, HistoryReadResult } from './history.js';
export { MemoryHistoryStore } from './history-memory.js';
export type { PresenceStore, PresenceStats } from './presence.js';
export { MemoryPresenceStore, DEFAULT_PRESENCE_TTL_MS } from './presence-memory.js';
export type { ClientInfo, Publication, StreamPosition, HistoryOptions, Delivery } from './types.js';
export { compileRoute, checkChannelName, historyOf, ChannelRegistry } from './channels.js';
export type { ChannelOptions, ChannelOverlay, SlowConsumerPolicy, ResolvedChannel, RoutePattern } from './channels.js';
export { TokenVerifier, TokenError, MAX_TOKEN_LENGTH } from './auth.js';
export type { TokenOptions, ConnectionClaims, SubscriptionClaims } from './auth.js';
export type {
  Client,
  Credentials,
  ConnectingContext,
  SubscribeContext,
  EventContext,
  PublishContext,
  RpcContext,
  CommandContext,
  CommandKind,
  Middleware,
  RouteContext,
  RouteMiddleware,
  RefreshContext,
  RefreshResult,
  SubRefreshContext,
  SubRefreshResult,
  SubscribeOverride,
  SubscriptionGrant,
} from './context.js';
export type { AuthenticateInput, Protocol, ProtocolName, Session, SessionConnection, SessionHost, SubscribeOutcome, SubscribeRequest, PendingSubscribe } from './protocol.js';
export type { ControlMessage } from './control-messages.js';
export { SessionRouter, DEFAULT_ROUTE_TIMEOUT_MS } from './session-router.js';
export type { RouteOutcome, RouteHandler } from './session-router.js';
export { DEFAULT_TRANSPORT_PATHS, EMULATION_ROUTE } from './http-endpoints.js';
export type { TransportName, HttpTransportName } from './http-endpoints.js';
export type { TransportMode } from './transport.js';
export type { StateStore, Reaped, Revocation } from './cluster/state.js';
export { DEFAULT_LAST_SEEN_TTL_MS } from './cluster/state.js';
export { MemoryStateStore } from './cluster/state-memory.js';
export { MemoryAckStore, AckTracker, consumerKey, parseConsumer, ACK_METHOD, ACK_CLIENT_FIELD, MAX_UNACKED, MAX_ACK_OFFSETS, DEFAULT_ACK_TIMEOUT_MS } from './acks.js';
export type { AckStore, AckTake, AckResult, AckConsumer } from './acks.js';
export { Lifecycle, LIFECYCLE_EVENT_TYPES, NODE_LOST } from './cluster/lifecycle.js';
export type { LifecycleEvent, LifecycleEventType, ClusterOptions, UserStatusOptions, UserStatus, LifecycleFailure } from './cluster/lifecycle.js';
export type { ConnectionFilter, ConnectionQuery, ConnectionEntry, ConnectionPage } from './cluster/connections.js';
export { WebhookQueue, attachWebhook, switchboardFormat, verifyWebhook, signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, deadLetterJournalName, DEAD_LETTERS_PREFIX } from './webhooks/index.js';
export type { WebhookOptions, WebhookQueueOptions, WebhookRetry, WebhookStats, DeadLetter, WebhookFormat, WebhookRequest, WebhookJournal } from './webhooks/index.js';
export { decodeControl, encodeControl, CONTROL_VERSION } from './control-messages.js';
export { Connection } from './connection.js';
export { Subscription } from './subscription.js';
export type { ConnectionRequest, TransportHandlers } from './transport.js';
export type { Transport } from './transport.js';
export { wsFrameStats } from './ws-frames.js';
export type { WsFrameStats } from './ws-frames.js';
export { centrifugeProtocol } from './protocols/centrifuge/session.js';
export { pondProtocol, PondProtocol, BROADCAST_CHANNEL as POND_BROADCAST_CHANNEL } from './protocols/pond/session.js';
export { plainProtocol } from './protocols/plain/session.js';
export { phoenixProtocol, PhoenixProtocol, type PhoenixOptions } from './protocols/phoenix/session.js';
export { phoenixLongPoll, LongPollEndpoint, LongPollTransport, type LongPollOptions } from './protocols/phoenix/longpoll.js';
export { pusher, pusherProtocol, PusherApps, PusherHttpApi, socketIdOf, clientIdOf, type PusherAppOptions, type PusherApp, type PusherMount, type PusherNode } from './protocols/pusher/index.js';
export { pusherWebhookFormat, PusherWebhooks, PUSHER_WEBHOOK_EVENTS, type PusherWebhookEvent, type PusherWebhookEventName, type PusherWebhookOptions } from './protocols/pusher/index.js';
export type { PusherAppStats, PusherApiEndpoint } from './protocols/pusher/index.js';
export { createSwitchboard } from './create.js';
export { logging, recovery, rateLimit } from './middleware.js';
export { createApiHandler, runApiCommand, ApiCommandError } from './http-api.js';
export { parseDuration } from './internal/duration.js';
export { globMatcher, globToRegExp } from './internal/glob.js';
export type { GlobOptions } from './internal/glob.js';
export type { ApiHandler, ApiHandlerOptions } from './http-api.js';
export { decodeCommand, applyConsumed, isPermanent, MalformedCommandError, withIdempotencyKey } from './consumer.js';
export type { Consumer, ConsumerOptions, ConsumerLogger, ExecuteCommand } from './consumer.js';
export { connectProxy, refreshProxy, subscribeProxy, publishProxy, rpcProxy, subRefreshProxy, ProxyBackend } from './proxy/handlers.js';
export type { ProxyHandlerOptions } from './proxy/handlers.js';
export { installProxies } from './proxy/install.js';
export type { ProxySetup, NamespaceProxies } from './proxy/install.js';
export { ProxyCallError } from './proxy/types.js';
export type { ProxyEndpoint, ProxyMethod, ProxyCaller, ProxyFailure, StatusTransform, OutgoingHeaders } from './proxy/types.js';
export { proxyStats } from './proxy/metrics.js';
export type { ProxyStat } from './proxy/metrics.js';
export { createGrpcApi, GrpcApiServer } from './grpc-api/server.js';
export type { GrpcApiOptions } from './grpc-api/server.js';
export { API_PROTO } from './grpc-api/api-proto.js';
export { PROXY_PROTO } from './proxy/proxy-proto.js';
