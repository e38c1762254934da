/**
 * Engines by `engine.type`. The memory engine is the library's default; every other engine is a
 * package that contributes two things: its config section (`ENGINE_SECTIONS`: the schema of
 * `engine.<type>.*`, imported from a light entry point such as `@switchboard/redis/config` so that
 * checking a configuration loads no driver) and a factory here (`ENGINES`), which loads the
 * package only when configured and builds the broker, history and presence stores from the
 * validated section, plus a readiness probe for GET /ready. See README.md, "Configuration sections".
 */
import { postgresConfigSection } from '@switchboard/postgres/config';
import type { Switchboard, SwitchboardOptions } from '@switchboard/server';
import { redisConfigSection } from '@switchboard/redis/config';
import type { Logger } from 'pino';
import type { ServerConfig } from './config-schema.js';

/** The sections composed into `engine` (their `type` is the `engine.type` value). */
export const ENGINE_SECTIONS = [redisConfigSection, postgresConfigSection] as const;

export interface Engine {
  options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'presenceRefreshMs'>;
  /** Whether the engine can serve traffic now (GET /ready). */
  ready?: () => boolean | Promise<boolean>;
  /** Said when the engine does not start: where it looked. */
  hint?: string;
  /** Once the Switchboard has started (the PostgreSQL engine writes the namespaces' history options for SQL publishes). */
  started?: (sb: Switchboard) => Promise<void>;
}

/** Builds an engine from the validated `engine` group (each picks its own typed section). */
export type EngineFactory = (engine: ServerConfig['engine'], log: Logger) => Promise<Engine>;

type EngineType = 'memory' | (typeof ENGINE_SECTIONS)[number]['type'];

const ENGINES = {
  memory: async () => ({ options: {} }),
  // loaded only when configured, so the memory engine never loads ioredis
  redis: async (engine) => {
    const { redisEngineFromSection } = await import('@switchboard/redis');
    const e = redisEngineFromSection(engine.redis);
    const r = engine.redis;
    const where = r.cluster_address !== undefined ? `engine.redis.cluster_address ${JSON.stringify(r.cluster_address)}` : `engine.redis.address ${JSON.stringify(r.address ?? '')}`;
    return { options: e.options, ready: e.ready, hint: `is Redis reachable at ${where}?` };
  },
  // loaded only when configured: the postgres driver is not loaded otherwise
  postgres: async (engine) => {
    const { postgresEngineFromSection, describeDsn } = await import('@switchboard/postgres');
    const e = postgresEngineFromSection(engine.postgres);
    return { options: e.options, ready: e.ready, started: e.started, hint: `is PostgreSQL reachable at engine.postgres.dsn ${describeDsn(engine.postgres.dsn ?? '')}?` };
  },
} satisfies Record<EngineType, EngineFactory>;

export const engines: ReadonlyMap<string, EngineFactory> = new Map(Object.entries(ENGINES));
