import { PostgresAckStore } from './acks.js';
import { PostgresBroker } from './broker.js';
import { Database, type PostgresConnectionOptions } from './db.js';
import { PostgresHistoryStore, setHistoryOptions } from './history.js';
import type { HistoryOptions } from '@switchboard/server';
import { Janitor, type NodeRow } from './janitor.js';
import { PostgresPresenceStore } from './presence.js';
import { PostgresStateStore } from './state.js';

export interface PostgresEngineOptions extends PostgresConnectionOptions {
  /** Presence entries expire this long after their node last refreshed them (default 60 s). */
  readonly presenceTtlMs?: number;
  /** How long a stream's epoch and top outlive its last publication (default 30 days). */
  readonly historyMetaTtlMs?: number;
  /** This node's name in the node registry. */
  readonly nodeName?: string;
  /** Registry refresh and expired-row cleanup interval (default 5 s). */
  readonly janitorIntervalMs?: number;
}

/**
 * Broker, history, presence and cluster state on one PostgreSQL pool:
 * `createSwitchboard({ ...createPostgresEngine({ dsn }) })` (the spread also sets
 * `presenceRefreshMs` to match the presence TTL). The schema is created or migrated on first use.
 */
export function createPostgresEngine(options: PostgresEngineOptions): {
  broker: PostgresBroker;
  history: PostgresHistoryStore;
  presence: PostgresPresenceStore;
  /** Cluster state: node leases, online users, occupied channels, revocations, last seen, webhook journals. */
  state: PostgresStateStore;
  /** Acknowledged delivery: what each consumer has not acknowledged, shared by every node. */
  acks: PostgresAckStore;
  db: Database;
  /** How often a node should refresh its presence entries: a third of the TTL (at most 20 s). */
  presenceRefreshMs: number;
  /** Whether the database answers, every object is in place and the LISTEN connection is up. */
  ready: () => Promise<boolean>;
  /** Live nodes in the registry. */
  nodes: () => Promise<NodeRow[]>;
  /** History kept per namespace by publications made with `<schema>.publish(...)` in SQL without explicit sizes. */
  setHistoryOptions: (byNamespace: Record<string, HistoryOptions | undefined>) => Promise<void>;
} {
  const db = new Database(options);
  const broker = new PostgresBroker({
    db,
    ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
    ...(options.janitorIntervalMs !== undefined ? { janitorIntervalMs: options.janitorIntervalMs } : {}),
  });
  const history = new PostgresHistoryStore({ db, ...(options.historyMetaTtlMs !== undefined ? { metaTtlMs: options.historyMetaTtlMs } : {}) });
  const presence = new PostgresPresenceStore({ db, ...(options.presenceTtlMs !== undefined ? { ttlMs: options.presenceTtlMs } : {}) });
  const state = new PostgresStateStore({ db });
  const acks = new PostgresAckStore({ db });
  const presenceRefreshMs = Math.max(250, Math.min(20_000, Math.floor(presence.ttlMs / 3)));
  return {
    broker,
    history,
    presence,
    state,
    acks,
    db,
    presenceRefreshMs,
    ready: async () => broker.listening && (await db.health()),
    nodes: () => Janitor.nodes(db),
    setHistoryOptions: (byNamespace) => setHistoryOptions(db, byNamespace),
  };
}
