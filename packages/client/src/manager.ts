/**
 * The singleton form, for apps written like the seed product:
 *   RealtimeManager.initialize({ wsUrl, getToken });
 *   const off = RealtimeManager.getInstance().subscribe('trpc:user:123', (m) => ...);
 */
import { Realtime, type AnyRealtime, type RealtimeOptions } from './realtime.js';
import { RealtimeError } from './errors.js';
import type { AnySchema } from './channels.js';

export interface ManagerOptions extends Omit<RealtimeOptions, 'url'> {
  /** WebSocket endpoint (the seed's name for `url`). */
  wsUrl: string;
}

let instance: AnyRealtime | undefined;

export const RealtimeManager = {
  /** Creates the shared instance (closing a previous one). Connects lazily on the first subscription. */
  initialize<S = AnySchema>(options: ManagerOptions): Realtime<S> {
    const { wsUrl, ...rest } = options;
    instance?.close();
    instance = new Realtime<S>({ ...rest, url: wsUrl });
    return instance as Realtime<S>;
  },
  /** The shared instance; throws a `usage` RealtimeError before `initialize`. */
  getInstance<S = AnySchema>(): Realtime<S> {
    if (!instance) throw new RealtimeError('usage', 'RealtimeManager.getInstance() called before RealtimeManager.initialize()');
    return instance as Realtime<S>;
  },
  isInitialized(): boolean {
    return instance !== undefined;
  },
  /** Closes and forgets the shared instance. */
  reset(): void {
    instance?.close();
    instance = undefined;
  },
};
