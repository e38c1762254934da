import type { TrafficCounters } from '../../types.js';
import type { WebhookStats } from '../../webhooks/index.js';
import type { PusherApp, PusherApps } from './apps.js';

/**
 * Per-app counters of a Pusher mount, for metrics and the admin page: open connections, WebSocket
 * traffic (the connection adds to its app's counters as it adds to its protocol's), HTTP API calls
 * by endpoint and status, and (read from the queues) the app's webhooks. Requests for unknown app
 * ids are not counted here (their ids are whatever a caller sends: no label may come from them).
 */

/** The HTTP API's endpoints, as counted (`unknown`: a path or method the API does not serve). */
export type PusherApiEndpoint = 'events' | 'batch_events' | 'channels' | 'channel' | 'channel_users' | 'terminate_connections' | 'unknown';

export interface PusherAppStats {
  readonly id: string;
  readonly key: string;
  readonly namespace: string;
  /** Open now, and accepted since the start. */
  readonly connections: number;
  readonly connectionsTotal: number;
  /** WebSocket frames and payload bytes, both ways (out: every frame, as Pusher frames are never batched). */
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** HTTP API requests by endpoint and HTTP status. */
  readonly api: readonly { readonly endpoint: PusherApiEndpoint; readonly status: number; readonly calls: number }[];
  readonly webhooks: readonly WebhookStats[];
}

class AppCounters {
  connections = 0;
  connectionsTotal = 0;
  readonly traffic: TrafficCounters = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
  /** `endpoint status` → calls */
  readonly api = new Map<string, number>();
}

export class PusherStats {
  readonly #apps = new Map<string, AppCounters>();

  constructor(readonly apps: PusherApps) {
    for (const app of apps.all()) this.#apps.set(app.id, new AppCounters());
  }

  /** An app's counters, made for an app added by a reload (kept by id while the app is in the list). */
  #of(app: PusherApp): AppCounters {
    let c = this.#apps.get(app.id);
    if (!c) this.#apps.set(app.id, (c = new AppCounters()));
    return c;
  }

  /** A connection of `app` opened: its traffic counters (the connection's `traffic`). */
  opened(app: PusherApp): TrafficCounters {
    const c = this.#of(app);
    c.connections++;
    c.connectionsTotal++;
    return c.traffic;
  }

  closed(app: PusherApp): void {
    this.#of(app).connections--;
  }

  apiCall(app: PusherApp, endpoint: PusherApiEndpoint, status: number): void {
    const api = this.#of(app).api;
    const k = `${endpoint} ${status}`;
    api.set(k, (api.get(k) ?? 0) + 1);
  }

  /** Every app's counters now; `webhooks` gives each app's webhook queue stats. */
  snapshot(webhooks: (app: PusherApp) => WebhookStats[]): PusherAppStats[] {
    return [...this.apps.all()].map((app) => {
      const c = this.#of(app);
      return {
        id: app.id,
        key: app.key,
        namespace: app.namespace,
        connections: c.connections,
        connectionsTotal: c.connectionsTotal,
        ...c.traffic,
        api: [...c.api].map(([k, calls]) => {
          const [endpoint, status] = k.split(' ') as [PusherApiEndpoint, string];
          return { endpoint, status: Number(status), calls };
        }),
        webhooks: webhooks(app),
      };
    });
  }
}
