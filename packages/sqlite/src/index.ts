/** @switchboard/sqlite: history and stream positions in a SQLite file, for a single node that restarts without losing them. */
export { SqliteHistoryStore, SqliteEngineError, DEFAULT_META_TTL_MS, SCHEMA_VERSION, type SqliteHistoryOptions } from './history.js';
export { SqliteStateStore } from './state.js';
export { SqliteAckStore } from './acks.js';
export { createSqliteEngine, sqliteEngineFromSection, type SqliteEngine } from './engine.js';
export { sqliteConfigSection, type SqliteEngineSection } from './config.js';
