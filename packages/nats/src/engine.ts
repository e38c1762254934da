import { JetStreamAckStore } from './acks.js';
import { NatsBroker } from './broker.js';
import { JetStreamHistoryStore } from './history.js';
import { type NatsConnectionOptions, NatsLink } from './link.js';
import { JetStreamPresenceStore } from './presence.js';
import { NatsStateStore } from './state.js';

export interface NatsEngineOptions extends NatsConnectionOptions {
  /** Keep history in JetStream (a stream per prefix). Without it, publish with history is refused. Default true. */
  readonly history?: boolean;
  /** Keep presence in a JetStream key-value bucket. Default true. */
  readonly presence?: boolean;
  /** Presence entries expire this long after their node last refreshed them (default 60 s). */
  readonly presenceTtlMs?: number;
  /**
   * Keep the cluster state (user status, occupied/vacated once across nodes, revocations) in a
   * JetStream key-value bucket. Default: when JetStream is used (history or presence); without it
   * nodes use the memory state, correct for one node only.
   */
  readonly state?: boolean;
  /** How long a publish may wait for NATS to take it before it fails (default 5 s). */
  readonly writeTimeoutMs?: number;
}

/**
 * Broker (core NATS), history and presence (JetStream) sharing one NATS connection:
 * `createSwitchboard({ ...createNatsEngine({ servers: 'nats://127.0.0.1:4222' }) })`.
 * With `history: false` / `presence: false` those parts are left out (bring others, or none).
 */
export function createNatsEngine(options: NatsEngineOptions): {
  broker: NatsBroker;
  history?: JetStreamHistoryStore;
  presence?: JetStreamPresenceStore;
  /** Cluster state in a key-value bucket: node leases, online users, occupied channels, revocations, last seen. */
  state?: NatsStateStore;
  /** Acknowledged delivery (with JetStream history, which it needs): what each consumer has not acknowledged, shared by every node. */
  acks?: JetStreamAckStore;
  link: NatsLink;
  presenceRefreshMs: number;
  /** Connects and creates the stream and bucket: rejects with a clear message on a wrong URL or without JetStream. */
  ready(): Promise<void>;
  close(): Promise<void>;
} {
  const link = new NatsLink(options);
  const history = options.history === false ? undefined : new JetStreamHistoryStore({ link });
  const broker = new NatsBroker({ link, ...(history !== undefined ? { history } : {}), ...(options.writeTimeoutMs !== undefined ? { writeTimeoutMs: options.writeTimeoutMs } : {}) });
  const acks = history === undefined ? undefined : new JetStreamAckStore({ link });
  const presence = options.presence === false ? undefined : new JetStreamPresenceStore({ link, ...(options.presenceTtlMs !== undefined ? { ttlMs: options.presenceTtlMs } : {}) });
  const ttl = presence?.ttlMs ?? options.presenceTtlMs ?? 60_000;
  const presenceRefreshMs = Math.max(250, Math.min(20_000, Math.floor(ttl / 3)));
  const state = (options.state ?? (options.history !== false || options.presence !== false)) ? new NatsStateStore({ link }) : undefined;
  const parts: { close(): Promise<void> }[] = [broker, ...(history ? [history] : []), ...(presence ? [presence] : []), ...(state ? [state] : []), ...(acks ? [acks] : [])];
  return {
    broker,
    ...(history !== undefined ? { history } : {}),
    ...(presence !== undefined ? { presence } : {}),
    ...(state !== undefined ? { state } : {}),
    ...(acks !== undefined ? { acks } : {}),
    link,
    presenceRefreshMs,
    async ready() {
      await link.connection();
      await history?.ready();
      await presence?.ready();
      await acks?.ready();
    },
    async close() {
      await Promise.all(parts.map((p) => p.close()));
    },
  };
}

