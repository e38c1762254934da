/**
 * `@switchboard/server/testing`: conformance suites for the engine interfaces. Every Broker,
 * HistoryStore and PresenceStore implementation runs them unchanged (node:test).
 */
export { brokerConformance, Recorder, type BrokerHarness } from './broker.js';
export { historyConformance, type HistoryHarness } from './history.js';
export { presenceConformance, CONFORMANCE_PRESENCE_TTL_MS, type PresenceHarness } from './presence.js';
export { uniqueChannel, waitFor, waitForEvent, within, type EventSource } from './util.js';
export { consumerConformance, type ConsumerHarness } from './consumer.js';
export { controlPlaneScenario, RecordingLogger } from './control.js';
export { HttpBackend, type BackendCall, type BackendAnswer } from './proxy-backend.js';
export { GrpcBackend, type GrpcBackendCall } from './grpc-backend.js';
export { stateConformance, type StateHarness } from './state.js';
export { ackStoreConformance, type AckHarness } from './acks.js';
