/**
 * Prometheus metrics. Everything is read from the node's own counters (`sb.stats`, `sb.counts()`,
 * the connection list) when scraped, so the fan-out path pays nothing; the publish-to-deliver
 * latency comes from the core's once-per-publication `onFanout` hook.
 */
import { type PusherAppStats, type Switchboard, type WebhookStats, ReplyError, DisconnectError, proxyStats, wsFrameStats } from '@switchboard/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  apiCalls: Counter<'method' | 'code'>;
  consumerCommands: Counter<'consumer' | 'method'>;
  httpRequests: Counter<'route' | 'status'>;
}

/** `pusher`: the Pusher mount's per-app counters, read when scraped (labelled by app id). */
export function createMetrics(sb: Switchboard, pusher?: () => PusherAppStats[]): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: sb.name });
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'switchboard_connections',
    help: 'Open connections on this node, by protocol and state',
    labelNames: ['protocol', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const n = new Map<string, number>();
      for (const c of sb.liveConnections()) {
        const k = `${c.protocol}\u0000${c.state}`;
        n.set(k, (n.get(k) ?? 0) + 1);
      }
      for (const [k, v] of n) {
        const [protocol, state] = k.split('\u0000') as [string, string];
        this.set({ protocol, state }, v);
      }
    },
  });
  new Gauge({
    name: 'switchboard_connections_by_transport',
    help: 'Open connections on this node, by transport (websocket, http_stream, sse, uni_websocket, uni_sse, uni_http_stream)',
    labelNames: ['transport'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const n = new Map<string, number>();
      for (const c of sb.liveConnections()) n.set(c.transport.kind, (n.get(c.transport.kind) ?? 0) + 1);
      for (const [transport, v] of n) this.set({ transport }, v);
    },
  });
  new Gauge({
    name: 'switchboard_subscriptions',
    help: 'Subscriptions on this node, by protocol',
    labelNames: ['protocol'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const n = new Map<string, number>();
      for (const c of sb.liveConnections()) n.set(c.protocol, (n.get(c.protocol) ?? 0) + c.subscriptions.size);
      for (const [protocol, v] of n) this.set({ protocol }, v);
    },
  });
  const simple = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  simple('switchboard_channels', 'Channels with subscribers on this node', () => sb.counts().channels);
  simple('switchboard_users', 'Distinct authenticated users connected to this node', () => sb.counts().users);
  simple('switchboard_pending_upgrades', 'WebSocket upgrades in progress', () => sb.counts().pendingUpgrades);

  const monotonic = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  new Counter({
    name: 'switchboard_messages_total',
    help: 'WebSocket messages by protocol and direction (out: a batched write of several frames counts once)',
    labelNames: ['protocol', 'direction'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [protocol, c] of Object.entries(sb.stats.byProtocol)) {
        this.inc({ protocol, direction: 'in' }, c.messagesIn);
        this.inc({ protocol, direction: 'out' }, c.messagesOut);
      }
    },
  });
  new Counter({
    name: 'switchboard_bytes_total',
    help: 'WebSocket payload bytes by protocol and direction',
    labelNames: ['protocol', 'direction'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [protocol, c] of Object.entries(sb.stats.byProtocol)) {
        this.inc({ protocol, direction: 'in' }, c.bytesIn);
        this.inc({ protocol, direction: 'out' }, c.bytesOut);
      }
    },
  });
  monotonic('switchboard_publications_total', 'Publications fanned out on this node', () => sb.stats.publications);
  monotonic('switchboard_deliveries_total', 'Publications enqueued to subscribers on this node', () => sb.stats.deliveries);
  monotonic('switchboard_inbound_stalls_total', 'Connections closed with 3013 because reading stayed paused past limits.pendingStallMs (inbound backpressure, not the rate limiter)', () => sb.stats.inboundStalls);
  new Counter({
    name: 'switchboard_disconnects_total',
    help: 'Closed connections by disconnect code (3008 = slow consumer)',
    labelNames: ['code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of sb.stats.disconnects) this.inc({ code: String(code) }, n);
    },
  });
  new Counter({
    name: 'switchboard_errors_total',
    help: 'Error replies sent to clients, by code',
    labelNames: ['code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of sb.stats.errors) this.inc({ code: String(code) }, n);
    },
  });
  new Counter({
    name: 'switchboard_ws_frame_fallback_total',
    help: 'WebSocket writes that could not use prepared frames and went through ws.send, by reason (internals: an unknown ws version, per connection; compression: an extension was negotiated, per connection; sender_busy: ws had writes of its own queued, per write)',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const f = wsFrameStats().fallback;
      this.inc({ reason: 'internals' }, f.internals);
      this.inc({ reason: 'compression' }, f.compression);
      this.inc({ reason: 'sender_busy' }, f.senderBusy);
    },
  });
  // Lifecycle webhooks, per endpoint (docs/design.md §7e).
  const webhookGauge = (name: string, help: string, read: (s: WebhookStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['webhook'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const q of sb.webhookQueues) {
          const s = q.stats();
          this.set({ webhook: s.name }, read(s));
        }
      },
    });
  const webhookCounter = (name: string, help: string, read: (s: WebhookStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['webhook'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const q of sb.webhookQueues) {
          const s = q.stats();
          this.inc({ webhook: s.name }, read(s));
        }
      },
    });
  webhookCounter('switchboard_webhook_events_delivered_total', 'Lifecycle events delivered (2xx) to the webhook', (s) => s.delivered);
  webhookCounter('switchboard_webhook_failures_total', 'Failed webhook requests (network error, timeout, non-2xx)', (s) => s.failures);
  webhookCounter('switchboard_webhook_dead_lettered_total', 'Lifecycle events put in the dead letters (attempts exhausted, 4xx, queue full)', (s) => s.deadLettered);
  webhookCounter('switchboard_webhook_dead_letters_dropped_total', 'Dead letters dropped because the dead-letter store was full', (s) => s.deadLettersDropped);
  webhookCounter('switchboard_webhook_journaled_total', 'Lifecycle events written to the engine journal (durable webhooks)', (s) => s.journaled);
  webhookCounter('switchboard_webhook_journal_failures_total', 'Journal writes that failed (those events were in memory only)', (s) => s.journalFailures);
  webhookCounter('switchboard_webhook_claimed_total', "Lifecycle events taken over from dead nodes' journals", (s) => s.claimed);
  webhookCounter('switchboard_webhook_dead_letters_claimed_total', "Dead letters taken over from dead nodes' dead-letter journals", (s) => s.deadLettersClaimed);
  webhookGauge('switchboard_webhook_queued', 'Lifecycle events waiting for the webhook (in flight included)', (s) => s.queued + s.inFlight);
  webhookGauge('switchboard_webhook_dead_letters', 'Lifecycle events in the dead-letter store now', (s) => s.deadLetters);
  new Counter({
    name: 'switchboard_lifecycle_failures_total',
    help: 'Cluster-state calls that failed in the background, by operation (connect, disconnect, subscribe, unsubscribe: that change and its lifecycle events were not reported; also heartbeat, revocations, last_seen, lost_presence, status_publication)',
    labelNames: ['operation'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [operation, n] of sb.lifecycle.failuresBy) this.inc({ operation }, n);
    },
  });
  // Backend proxy calls (Centrifugo's proxy metrics' labels: protocol, type, name).
  const proxyCounter = (name: string, help: string, read: (s: ReturnType<typeof proxyStats>[number]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['protocol', 'type', 'name'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const p of proxyStats()) this.inc({ protocol: p.protocol, type: p.method, name: p.name }, read(p));
      },
    });
  proxyCounter('switchboard_proxy_calls_total', 'Calls to backend proxies, by transport, event and proxy name', (p) => p.calls);
  proxyCounter('switchboard_proxy_errors_total', 'Backend proxy calls that failed (timeout, unreachable, non-200, malformed or oversized answer)', (p) => p.errors);
  proxyCounter('switchboard_proxy_duration_seconds_total', 'Time spent in backend proxy calls, seconds', (p) => p.durationMs / 1000);
  monotonic('switchboard_ws_frame_connections_total', 'WebSocket connections written with prepared frames (the fast path)', () => wsFrameStats().connections);
  const latency = new Histogram({
    name: 'switchboard_publish_to_deliver_seconds',
    help: 'From publish to the last subscriber enqueue on this node, per publication',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  sb.onFanout = (ms) => latency.observe(Math.max(0, ms) / 1000);

  // Inbound commands by protocol and type (connect, subscribe, publish, rpc, presence, ...) and
  // outcome, through the library's public middleware: once per command, never per recipient.
  const commands = new Counter({
    name: 'switchboard_commands_total',
    help: 'Client commands by protocol, type and result code (0 = ok)',
    labelNames: ['protocol', 'type', 'code'] as const,
    registers: [registry],
  });
  sb.use(async (ctx, next) => {
    try {
      await next();
      commands.inc({ protocol: ctx.protocol, type: ctx.kind, code: '0' });
    } catch (err) {
      const code = err instanceof ReplyError || err instanceof DisconnectError ? err.code : 100;
      commands.inc({ protocol: ctx.protocol, type: ctx.kind, code: String(code) });
      throw err;
    }
  });

  if (pusher) pusherMetrics(registry, pusher);

  const apiCalls = new Counter({
    name: 'switchboard_api_calls_total',
    help: 'Server HTTP API calls, by method and result code (0 = ok)',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
  });
  const consumerCommands = new Counter({
    name: 'switchboard_consumer_commands_total',
    help: 'Commands from queue consumers (consumers[]) applied on this node, by consumer name and method',
    labelNames: ['consumer', 'method'] as const,
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'switchboard_http_requests_total',
    help: 'HTTP requests (not WebSocket) by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  return { registry, apiCalls, consumerCommands, httpRequests };
}

/** Pusher apps, labelled by app id (the ids of the config: no label comes from a request). */
function pusherMetrics(registry: Registry, read: () => PusherAppStats[]): void {
  type Emit<L extends string> = (labels: Record<L, string>, v: number) => void;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (emit: Emit<L>) => void) =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels as never, v));
      },
    });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (emit: Emit<L>) => void) =>
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((labels, v) => this.inc(labels as never, v));
      },
    });
  const apps = (emit: Emit<'app'>, value: (a: PusherAppStats) => number) => {
    for (const a of read()) emit({ app: a.id }, value(a));
  };
  const webhooks = (emit: Emit<'app' | 'webhook'>, value: (s: WebhookStats) => number) => {
    for (const a of read()) for (const w of a.webhooks) emit({ app: a.id, webhook: w.name }, value(w));
  };
  gauge('switchboard_pusher_connections', 'Open Pusher connections on this node, by app', ['app'], (emit) => apps(emit, (a) => a.connections));
  counter('switchboard_pusher_connections_total', 'Pusher connections accepted by this node, by app', ['app'], (emit) => apps(emit, (a) => a.connectionsTotal));
  counter('switchboard_pusher_messages_total', 'Pusher WebSocket frames by app and direction', ['app', 'direction'], (emit) => {
    for (const a of read()) {
      emit({ app: a.id, direction: 'in' }, a.messagesIn);
      emit({ app: a.id, direction: 'out' }, a.messagesOut);
    }
  });
  counter('switchboard_pusher_bytes_total', 'Pusher WebSocket payload bytes by app and direction', ['app', 'direction'], (emit) => {
    for (const a of read()) {
      emit({ app: a.id, direction: 'in' }, a.bytesIn);
      emit({ app: a.id, direction: 'out' }, a.bytesOut);
    }
  });
  counter(
    'switchboard_pusher_api_calls_total',
    'Pusher HTTP API requests by app, endpoint (events, batch_events, channels, channel, channel_users, terminate_connections, unknown) and HTTP status',
    ['app', 'endpoint', 'status'],
    (emit) => {
      for (const a of read()) for (const c of a.api) emit({ app: a.id, endpoint: c.endpoint, status: String(c.status) }, c.calls);
    },
  );
  counter('switchboard_pusher_webhook_events_delivered_total', 'Pusher webhook events delivered (2xx), by app and webhook', ['app', 'webhook'], (emit) => webhooks(emit, (s) => s.delivered));
  counter('switchboard_pusher_webhook_failures_total', 'Failed Pusher webhook requests (network error, timeout, non-2xx), by app and webhook', ['app', 'webhook'], (emit) => webhooks(emit, (s) => s.failures));
  counter('switchboard_pusher_webhook_dead_lettered_total', 'Pusher webhook events put in the dead letters, by app and webhook', ['app', 'webhook'], (emit) => webhooks(emit, (s) => s.deadLettered));
  gauge('switchboard_pusher_webhook_queued', 'Pusher webhook events waiting (in flight included), by app and webhook', ['app', 'webhook'], (emit) => webhooks(emit, (s) => s.queued + s.inFlight));
}
