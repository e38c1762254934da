/**
 * Every key of the standalone server's configuration, defined once: Centrifugo v6's JSON layout,
 * plus a few of Switchboard's own (`demo`, `websocket`, `plain`, `pondsocket`). Types, defaults,
 * duration parsing, the `SWITCHBOARD_*` environment variables and the messages for a wrong value
 * all derive from these definitions (see @switchboard/config). Engine packages contribute their
 * own `engine.<type>` sections (engines.ts).
 */
import { choice, duration, engineSchema, flag, integer, section, stringMap, strings, text, z } from '@switchboard/config';
import { consumersSchema } from './consumers.js';
import { ENGINE_SECTIONS } from './engines.js';
import { grpcApiSection } from './grpc-api-config.js';
import { channelProxySection, clientProxySection, namespaceProxyKeys, proxiesSchema, rpcSection } from './proxy-config.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'none'] as const;

/** A channel's options, in a namespace or for channels without one (unset: the library's default). */
const channelOptions = {
  presence: flag().optional(),
  join_leave: flag().optional(),
  force_push_join_leave: flag().optional(),
  history_size: integer({ example: 100 }).optional(),
  history_ttl: duration().optional(),
  history_meta_ttl: duration().optional(),
  force_recovery: flag().optional(),
  /** "stream" (default) or "cache": a subscribe gets the latest publication. */
  force_recovery_mode: choice(['stream', 'cache'], 'cache').optional(),
  /** With force_recovery and force_recovery_mode "cache": every (re)subscribe gets the latest publication, server-side subscriptions too. */
  auto_cache_recover: flag().optional(),
  allow_recovery: flag().optional(),
  force_positioning: flag().optional(),
  allow_subscribe_for_client: flag().optional(),
  allow_subscribe_for_anonymous: flag().optional(),
  allow_publish_for_client: flag().optional(),
  allow_publish_for_subscriber: flag().optional(),
  allow_publish_for_anonymous: flag().optional(),
  allow_presence_for_client: flag().optional(),
  allow_presence_for_subscriber: flag().optional(),
  allow_presence_for_anonymous: flag().optional(),
  allow_history_for_client: flag().optional(),
  allow_history_for_subscriber: flag().optional(),
  allow_history_for_anonymous: flag().optional(),
  allow_user_limited_channels: flag().optional(),
  /** Pattern subscriptions (`ns:prefix*`) for clients that may subscribe here (docs/patterns.md). */
  allow_pattern_subscribe: flag().optional(),
  /** Acknowledged delivery (docs/acks.md): acks by offset, redelivery after `ack_timeout`. Needs history. */
  acknowledge: flag().optional(),
  ack_timeout: duration({ min: 100 }).optional(),
  /** Delta compression types clients may negotiate (only "fossil" exists), and deltas for every publication. */
  allowed_delta_types: strings('["fossil"]').optional(),
  delta_publish: flag().optional(),
  /** Clients may subscribe with a publication tags filter. */
  allow_tags_filter: flag().optional(),
  /** Pushes carry a numeric channel id instead of the name for clients that ask (JSON protocol). */
  allow_channel_compaction: flag().optional(),
  /** Channel segment → claim name: `{"user": "sub"}` lets a token with sub 42 subscribe to `<ns>:user:42`. */
  subscribe_by_claim: stringMap({
    want: 'an object of channel segment → claim name',
    example: '{"user": "sub", "org": "orgs"}',
    key: (k) => k !== '' && !k.includes(':'),
  }).optional(),
  // which proxy handles subscribe / publish / sub_refresh in the namespace (proxy-config.ts)
  ...namespaceProxyKeys,
};

/** One Pusher app (docs/protocols/pusher.md): its credentials, the namespace of its channels, its limits. */
const pusherApp = {
  app_id: text().optional(),
  key: text().optional(),
  secret: text().optional(),
  namespace: text().optional(),
  enable_client_messages: flag().optional(),
  activity_timeout: integer({ example: 120 }).optional(),
  pong_timeout: integer({ example: 30 }).optional(),
  max_event_payload_kb: integer({ example: 10 }).optional(),
  max_presence_members_per_channel: integer({ example: 100 }).optional(),
  max_user_info_kb: integer({ example: 1 }).optional(),
  max_client_events_per_second: integer({ example: 10 }).optional(),
  enable_subscription_count: flag().optional(),
  enable_watchlist_events: flag().optional(),
  // Webhooks in Pusher's format (Soketi's `webhooks: [{url, event_types}]`).
  webhooks: z.array(z.strictObject({ url: text().optional(), event_types: strings('["channel_occupied", "channel_vacated", "member_added"]').optional() })).optional(),
  // channel_vacated / member_removed wait this long for the subscriber to come back (Pusher: 3 s)
  webhook_leave_delay: duration().optional(),
};

/** The content of `pusher.apps_file`: apps in the shape of the inline ones. */
export const pusherAppsFileSchema = z.array(z.strictObject(pusherApp));

export const configSchema = z.strictObject({
  http_server: section({
    address: text().default('0.0.0.0'),
    port: integer({ max: 65535, example: 8000 }).default(8000),
  }),
  log: section({ level: choice(LOG_LEVELS, 'info').default('info') }),
  node: section({ name: text().optional() }),
  client: section({
    proxy: clientProxySection,
    token: section({
      hmac_secret_key: text().optional(),
      rsa_public_key: text().optional(),
      ecdsa_public_key: text().optional(),
      jwks_public_endpoint: text().optional(),
      audience: text().optional(),
      issuer: text().optional(),
    }),
    allowed_origins: strings('["https://example.com"]').optional(),
    allow_anonymous_connect_without_token: flag().default(false),
    insecure: flag().default(false),
    subscribe_to_user_personal_channel: section({ enabled: flag().default(false), personal_channel_namespace: text().default('') }),
    ping_interval: duration().optional(),
    pong_timeout: duration().optional(),
    expired_close_delay: duration().optional(),
    stale_close_delay: duration().optional(),
    channel_limit: integer({ example: 128 }).optional(),
    user_connection_limit: integer({ example: 10 }).optional(),
    connection_limit: integer({ example: 10000 }).optional(),
    queue_max_size: integer({ example: 1048576 }).optional(),
    message_size_limit: integer({ example: 65536 }).optional(),
  }),
  channel: section({
    proxy: channelProxySection,
    without_namespace: section(channelOptions),
    namespaces: z.array(z.strictObject({ name: text().optional(), ...channelOptions })).default([]),
  }),
  proxies: proxiesSchema,
  rpc: rpcSection,
  grpc_api: grpcApiSection,
  http_api: section({ key: text().default(''), insecure: flag().default(false), handler_prefix: text().default('/api') }),
  admin: section({ enabled: flag().default(false), password: text().default(''), secret: text().default(''), insecure: flag().default(false) }),
  prometheus: section({ enabled: flag().default(true) }),
  health: section({ enabled: flag().default(true) }),
  shutdown: section({ timeout: duration().prefault('10s') }),
  engine: engineSchema(ENGINE_SECTIONS),
  consumers: consumersSchema,
  // Switchboard's own keys (not in Centrifugo): the demo chat page at `/` and its token endpoint.
  demo: section({ enabled: flag().default(false), channel: text().default('chat:lobby') }),
  websocket: section({ compression: flag().default(false) }),
  plain: section({ enabled: flag().default(true), path: text().default('/ws') }),
  pondsocket: section({ enabled: flag().default(true), path: text().default('/pondsocket') }),
  // Pusher protocol 7 at `{path}/{key}` and the Pusher HTTP API at `/apps/{app_id}/`: one app
  // inline, or several in `apps`.
  // inline, or several in `apps`, and/or from `apps_file` (a JSON array of such apps, re-read on SIGHUP).
  pusher: section({ path: text().default('/app'), ...pusherApp, apps: z.array(z.strictObject(pusherApp)).default([]), apps_file: text().optional() }),
  phoenix: section({ enabled: flag().default(true), path: text().default('/socket/websocket') }),
  // Lifecycle webhooks, user status and the node lease (docs/design.md §7d, §7e).
  webhooks: z
    .array(
      z.strictObject({
        url: text().optional(),
        secret: text().optional(),
        name: text().optional(),
        events: strings('["channel_occupied", "channel_vacated"]').optional(),
        namespaces: strings('["chat"]').optional(),
        timeout: duration().optional(),
        max_attempts: integer({ example: 10 }).optional(),
        max_batch: integer({ example: 100 }).optional(),
        max_queue: integer({ example: 10000 }).optional(),
        max_dead_letters: integer({ example: 1000 }).optional(),
      }),
    )
    .default([]),
  user_status: section({ enabled: flag().default(false), channel_prefix: text().default('$status:'), activity_interval: duration().optional() }),
  cluster: section({ node_ttl: duration().optional() }),
  // Centrifugo v6's other transports of the native protocol (off by default, as there). The
  // bidirectional emulation ones share the `/emulation` endpoint, served when either is on.
  http_stream: section({ enabled: flag().default(false), path: text().default('/connection/http_stream') }),
  sse: section({ enabled: flag().default(false), path: text().default('/connection/sse') }),
  emulation: section({ path: text().default('/emulation') }),
  uni_websocket: section({ enabled: flag().default(false), path: text().default('/connection/uni_websocket') }),
  uni_sse: section({ enabled: flag().default(false), path: text().default('/connection/uni_sse') }),
  uni_http_stream: section({ enabled: flag().default(false), path: text().default('/connection/uni_http_stream') }),
});

/** A configuration as written (a file, `genconfig`'s output). */
export type RawConfig = z.input<typeof configSchema>;
/** A validated configuration: defaults filled in, durations in milliseconds. */
export type ServerConfig = z.output<typeof configSchema>;
/** One channel options group, validated. */
export type ChannelSection = ServerConfig['channel']['without_namespace'];
