/**
 * Engines by `engine.type`. The memory engine is the library's default; every other engine is a
 * package that contributes two things: its config section (`ENGINE_SECTIONS`: the schema of
 * `engine.<type>.*`, imported from a light entry point such as `@switchboard/redis/config` so that
 * checking a configuration loads no driver) and a factory here (`ENGINES`), which loads the
 * package only when configured and builds the broker, history and presence stores from the
 * validated section, plus a readiness probe for GET /ready. See README.md, "Configuration sections".
 */
import { natsConfigSection } from '@switchboard/nats/config';
import { postgresConfigSection } from '@switchboard/postgres/config';
import type { Switchboard, SwitchboardOptions } from '@switchboard/server';
import { redisConfigSection } from '@switchboard/redis/config';
import { sqliteConfigSection } from '@switchboard/sqlite/config';
import type { Logger } from 'pino';
import type { ServerConfig } from './config-schema.js';

/** The sections composed into `engine` (their `type` is the `engine.type` value). */
export const ENGINE_SECTIONS = [redisConfigSection, postgresConfigSection, natsConfigSection, sqliteConfigSection] as const;

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
  // core NATS between nodes; history and presence in JetStream (or presence in Redis, from engine.redis)
  nats: async (engine) => {
    const { natsEngineFromSection } = await import('@switchboard/nats');
    const n = engine.nats;
    let redisPresence;
    if (n.presence === 'redis') {
      const { RedisPresenceStore } = await import('@switchboard/redis');
      redisPresence = new RedisPresenceStore({ addresses: engine.redis.address ?? [], prefix: engine.redis.prefix, ttlMs: n.presence_ttl });
    }
    const e = natsEngineFromSection(n, redisPresence);
    const hint = `is NATS${n.history === 'jetstream' || n.presence === 'jetstream' ? ' with JetStream' : ''} reachable at engine.nats.url ${JSON.stringify(n.url)}?`;
    // connect now: a wrong URL or a NATS without JetStream stops the start with the reason
    try {
      await e.connect();
    } catch (err) {
      await e.close().catch(() => {});
      throw new Error(`the nats engine did not start: ${(err as Error).message} (${hint})`, { cause: err });
    }
    return { options: e.options, ready: e.ready, hint };
  },
  // one node, history in a local file (better-sqlite3 loaded only when configured); opening it now
  // stops the start on a locked, damaged or unwritable file with the reason
  sqlite: async (engine) => {
    const { sqliteEngineFromSection } = await import('@switchboard/sqlite');
    const e = sqliteEngineFromSection(engine.sqlite);
    return { options: e.options, ready: e.ready, hint: `engine.sqlite.path ${JSON.stringify(engine.sqlite.path ?? '')}` };
  },
} satisfies Record<EngineType, EngineFactory>;

export const engines: ReadonlyMap<string, EngineFactory> = new Map(Object.entries(ENGINES));
