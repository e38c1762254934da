/** @switchboard/nats: Switchboard on many nodes over NATS (core NATS broker, JetStream history and presence). */
export { NatsBroker } from './broker.js';
export { JetStreamHistoryStore, DEFAULT_META_TTL_MS } from './history.js';
export { JetStreamPresenceStore, DEFAULT_PRESENCE_TTL_MS } from './presence.js';
export { NatsStateStore } from './state.js';
export { JetStreamAckStore, DEFAULT_ACKS_MAX_AGE_MS } from './acks.js';
export { createNatsEngine, type NatsEngineOptions } from './engine.js';
export { NatsLink, NatsEngineError, token, names, serverList, DEFAULT_PREFIX, type NatsConnectionOptions } from './link.js';
export { NatsJetStreamConsumer, type NatsJetStreamConsumerOptions } from './consumer.js';
export { natsConfigSection, natsJetStreamConsumerSection, checkNatsJetStreamConsumer, NatsConfigError, DEFAULT_NATS_URL, type NatsEngineSection, type NatsJetStreamConsumerSection } from './config.js';
export { natsEngineFromSection, type NatsEngineFromConfig } from './from-config.js';
export { NoHistoryStore } from './no-history.js';
