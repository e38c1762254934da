import type { SwitchboardOptions } from '@switchboard/server';
import type { SqliteEngineSection } from './config.js';
import { SqliteAckStore } from './acks.js';
import { SqliteEngineError, SqliteHistoryStore, type SqliteHistoryOptions } from './history.js';
import { SqliteStateStore } from './state.js';

export interface SqliteEngine {
  /** For `createSwitchboard({ ...options })`: the memory broker and presence stay; history, acks and the cluster state (revocations, last seen, webhook journal) are the file. */
  options: Pick<SwitchboardOptions, 'history' | 'state' | 'acks'>;
  history: SqliteHistoryStore;
  state: SqliteStateStore;
  /** Acknowledged delivery: what each consumer has not acknowledged, in the same file (survives a restart). */
  acks: SqliteAckStore;
  /** Whether the file is open and answers (GET /ready). */
  ready: () => boolean;
  close: () => Promise<void>;
}

/**
 * A single node whose history survives restarts: `createSwitchboard({ ...createSqliteEngine({ path }).options })`.
 * Opens (or creates) the file now; a locked, damaged or unwritable file throws SqliteEngineError.
 */
export function createSqliteEngine(options: SqliteHistoryOptions): SqliteEngine {
  const history = new SqliteHistoryStore(options);
  const state = new SqliteStateStore(history.database!); // just opened
  const acks = new SqliteAckStore(history);
  return { options: { history, state, acks }, history, state, acks, ready: () => history.health(), close: () => history.close() };
}

/** Builds the engine from a validated `engine.sqlite` section. */
export function sqliteEngineFromSection(s: SqliteEngineSection): SqliteEngine {
  if (s.path === undefined || s.path === '') throw new SqliteEngineError('engine.sqlite.path: required with engine.type "sqlite"', 'cannot-open');
  return createSqliteEngine({ path: s.path, synchronous: s.synchronous === 'full' ? 'full' : 'normal', integrityCheck: s.integrity_check });
}
