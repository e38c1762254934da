/** @switchboard/client: the browser and Node SDK (built on the official centrifuge SDK). */
export { Realtime, createRealtime } from './realtime.js';
export type { AnyRealtime, RealtimeOf } from './realtime.js';
export type {
  RealtimeOptions,
  RealtimeEvents,
  ConnectionState,
  TokenGetter,
  MessageContext,
  MessageHandler,
  ResyncEvent,
  SubscribedEvent,
  SubscribeOptions,
  ConnectionRole,
  StreamPosition,
} from './realtime.js';
export { RealtimeManager } from './manager.js';
export type { ManagerOptions } from './manager.js';
export { RealtimeError, UnauthorizedError, isUnauthorizedCode } from './errors.js';
export type { RealtimeErrorKind } from './errors.js';
export { Channels, createChannels } from './channels.js';
export type { ChannelBuilders, QueryInvalidation, TrpcSchema, AnySchema, ChannelOf, MessageOf } from './channels.js';
export type { Store } from './store.js';
export { defineContract } from '@switchboard/contract';
export type { Contract, ContractInput, ContractOutput, ContractIssue, StandardSchemaV1 } from '@switchboard/contract';
