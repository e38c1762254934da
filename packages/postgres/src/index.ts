/** @switchboard/postgres: Switchboard on PostgreSQL alone. */
export { PostgresBroker, type PostgresBrokerOptions } from './broker.js';
export { PostgresHistoryStore, DEFAULT_META_TTL_MS, setHistoryOptions } from './history.js';
export { PostgresPresenceStore, DEFAULT_PRESENCE_TTL_MS } from './presence.js';
export { PostgresStateStore } from './state.js';
export { PostgresAckStore } from './acks.js';
export { createPostgresEngine, type PostgresEngineOptions } from './engine.js';
export { Database, PostgresEngineError, DEFAULT_SCHEMA, describeDsn, type PostgresConnectionOptions } from './db.js';
export { MIGRATIONS } from './migrations.js';
export { Janitor, type NodeRow } from './janitor.js';
export { createOutboxConsumer, type OutboxConsumer, type OutboxConsumerOptions } from './outbox.js';
export { postgresConfigSection, postgresConsumerSection, checkPostgresConsumer, PostgresConfigError, type PostgresEngineSection, type PostgresConsumerSection } from './config.js';
export { postgresEngineFromSection, type PostgresEngineFromConfig } from './from-config.js';
