import { EventEmitter } from 'node:events';
import type { Broker } from './broker.js';
import type { ChannelRegistry } from './channels.js';
import type { Client } from './context.js';
import type { AckStore } from './acks.js';
import type { HistoryStore } from './history.js';
import type { Logger } from './logger.js';
import type { Limits, SwitchboardEvents, SwitchboardOptions } from './options.js';
import type { PresenceStore } from './presence.js';
import type { Route } from './route.js';
import type { Revocations } from './cluster/revocations.js';

/** The app's event listeners: emitting never throws at the caller, listener failures become 'error'. */
export class NodeEvents {
  readonly #emitter = new EventEmitter();

  constructor(readonly logger: Logger) {
    this.#emitter.on('error', () => {});
  }

  on(event: keyof SwitchboardEvents, listener: (...args: never[]) => unknown): void {
    this.#emitter.on(event, listener as (...a: unknown[]) => void);
  }

  off(event: keyof SwitchboardEvents, listener: (...args: never[]) => unknown): void {
    this.#emitter.off(event, listener as (...a: unknown[]) => void);
  }

  has(event: keyof SwitchboardEvents): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  emit<E extends keyof SwitchboardEvents>(event: E, ...args: SwitchboardEvents[E]): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    for (const l of this.#emitter.listeners(event)) {
      try {
        const r = (l as (...a: unknown[]) => unknown)(...args);
        if (r instanceof Promise) r.catch((err: unknown) => this.reportError(err, event === 'error' ? undefined : (args[0] as Client)));
      } catch (err) {
        if (event !== 'error') this.reportError(err, args[0] as Client);
      }
    }
  }

  /** Errors from handlers and hooks: logged, emitted as 'error', never thrown at the client. */
  reportError(err: unknown, client?: Client): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.logger.error({ err: e, client: client?.id }, 'handler error');
    this.emit('error', e, client);
  }
}

/** What every part of a node shares: its identity, configuration, engine and app events. Read-only. */
export interface NodeContext {
  readonly id: string;
  readonly name: string;
  readonly startedAt: number;
  readonly options: SwitchboardOptions;
  readonly limits: Required<Limits>;
  readonly logger: Logger;
  readonly broker: Broker;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  /** Acknowledged delivery: what each consumer has not acknowledged (acks.ts). */
  readonly acks: AckStore;
  readonly registry: ChannelRegistry<Route>;
  readonly events: NodeEvents;
  /** Revoked tokens (cluster-wide, kept in memory: checks are lookups). */
  readonly revocations: Revocations;
}
