/**
 * Engines by `engine.type`. The memory engine is the library's default; other engines (Redis) plug
 * in here: a factory gets the raw `engine.<type>` section and returns the broker, history and
 * presence stores to hand to the Switchboard, plus a readiness probe for GET /ready.
 */
import type { SwitchboardOptions } from '@switchboard/server';
import type { Logger } from 'pino';
import { ConfigError } from './config.js';

export interface Engine {
  options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'presenceRefreshMs'>;
  /** Whether the engine can serve traffic now (GET /ready). */
  ready?: () => boolean | Promise<boolean>;
}

export type EngineFactory = (section: Record<string, unknown>, log: Logger) => Promise<Engine>;

export const engines = new Map<string, EngineFactory>([
  ['memory', async () => ({ options: {} })],
  // loaded only when configured, so the memory engine never loads ioredis
  [
    'redis',
    async (section) => {
      const { redisEngineFromConfig, RedisConfigError } = await import('@switchboard/redis');
      try {
        const e = redisEngineFromConfig(section);
        return { options: e.options, ready: e.ready };
      } catch (err) {
        if (err instanceof RedisConfigError) throw new ConfigError([{ key: err.key, message: err.message.slice(err.key.length + 2) }]);
        throw err;
      }
    },
  ],
]);
