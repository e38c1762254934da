/**
 * @switchboard/client/server: for backends. The HTTP API client (publish query invalidations,
 * presence, history, server-side subscribe/disconnect...) and the JWT signer for browser tokens.
 *   const api = createApiClient({ url: process.env.SWITCHBOARD_API_URL, apiKey: process.env.SWITCHBOARD_API_KEY });
 *   await api.publish(Channels.user(userId), { type: 'query-invalidation', queryKey: ['user', 'notifications'] });
 */
export { createApiClient, ApiError, ApiErrorCodes } from './api-client.js';
export type {
  ApiClient,
  ApiClientOptions,
  ApiErrorKind,
  PublishOptions,
  PublishResult,
  BroadcastResponse,
  ClientInfo,
  PresenceStats,
  HistoryOptions,
  HistoryResult,
  HistoryPublication,
  StreamPosition,
  UserTarget,
  ServerSubscribeRequest,
  DisconnectRequest,
  RefreshRequest,
  NodeInfo,
} from './api-client.js';
export { signConnectionToken, signSubscriptionToken } from './token.js';
export type { ChannelCapability, ConnectionTokenClaims, SubscriptionTokenClaims, SigningKey, SigningAlgorithm, SignOptions } from './token.js';
export { Channels, createChannels } from './channels.js';
export type { ChannelBuilders, QueryInvalidation, TrpcSchema, AnySchema, ChannelOf, MessageOf } from './channels.js';
export { defineContract } from '@switchboard/contract';
export type { Contract, ContractInput, ContractOutput, ContractIssue, StandardSchemaV1 } from '@switchboard/contract';
