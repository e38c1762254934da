import type { SwitchboardOptions } from '@switchboard/server';
import type { NatsEngineSection } from './config.js';
import { createNatsEngine } from './engine.js';
import { NoHistoryStore } from './no-history.js';
import type { PresenceStore } from '@switchboard/server';

export interface NatsEngineFromConfig {
  options: Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'state' | 'acks' | 'presenceRefreshMs'>;
  /** Connects, creates the stream and bucket: rejects with a clear message (wrong URL, no JetStream). */
  connect: () => Promise<void>;
  ready: () => Promise<boolean>;
  close: () => Promise<void>;
}

/**
 * Builds the NATS engine from a validated `engine.nats` section. `presence` "redis" takes the
 * presence store the caller built from `engine.redis` (`redisPresence`).
 */
export function natsEngineFromSection(s: NatsEngineSection, redisPresence?: PresenceStore): NatsEngineFromConfig {
  const engine = createNatsEngine({
    servers: s.url,
    prefix: s.prefix,
    history: s.history === 'jetstream',
    presence: s.presence === 'jetstream',
    presenceTtlMs: s.presence_ttl,
    writeTimeoutMs: s.write_timeout,
    natsOptions: { timeout: s.dial_timeout },
  });
  const presence = s.presence === 'redis' ? redisPresence : engine.presence;
  return {
    options: {
      broker: engine.broker,
      // core only: a store that keeps nothing (the server needs one beside a custom broker)
      history: engine.history ?? new NoHistoryStore(),
      ...(engine.acks !== undefined ? { acks: engine.acks } : {}),
      ...(presence !== undefined ? { presence } : {}),
      ...(engine.state !== undefined ? { state: engine.state } : {}),
      presenceRefreshMs: engine.presenceRefreshMs,
    },
    connect: () => engine.ready(),
    ready: async () => engine.link.connected,
    close: async () => {
      await engine.close();
      await redisPresence?.close();
    },
  };
}
