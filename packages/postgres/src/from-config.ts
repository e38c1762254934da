import { historyOf, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import type { PostgresEngineSection } from './config.js';
import { PostgresEngineError } from './db.js';
import { createPostgresEngine } from './engine.js';

export interface PostgresEngineFromConfig {
  options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'state' | 'acks' | 'presenceRefreshMs'>;
  /** GET /ready: the database answers, the schema is complete, the LISTEN connection is up. */
  ready: () => Promise<boolean>;
  /** Once the Switchboard exists: writes its namespaces' history options for `<schema>.publish`. */
  started: (sb: Switchboard) => Promise<void>;
  close: () => Promise<void>;
}

/** Builds the PostgreSQL engine from a validated `engine.postgres` section. */
export function postgresEngineFromSection(s: PostgresEngineSection, node: { name?: string } = {}): PostgresEngineFromConfig {
  if (s.dsn === undefined || s.dsn === '') throw new PostgresEngineError('engine.postgres.dsn: required with engine.type "postgres"');
  const engine = createPostgresEngine({
    dsn: s.dsn,
    schema: s.schema,
    poolSize: s.pool_size,
    presenceTtlMs: s.presence_ttl,
    ...(node.name !== undefined ? { nodeName: node.name } : {}),
  });
  return {
    options: { broker: engine.broker, history: engine.history, presence: engine.presence, state: engine.state, acks: engine.acks, presenceRefreshMs: engine.presenceRefreshMs },
    ready: engine.ready,
    started: async (sb) => {
      const byNamespace: Record<string, ReturnType<typeof historyOf>> = { '': historyOf(sb.registry.withoutNamespace) };
      for (const [name, o] of sb.registry.namespaces) byNamespace[name] = historyOf(o);
      await engine.setHistoryOptions(byNamespace);
    },
    close: async () => {
      await Promise.all([engine.broker.close(), engine.history.close(), engine.presence.close(), engine.state.close(), engine.acks.close()]);
    },
  };
}
