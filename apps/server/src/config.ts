/**
 * Configuration in Centrifugo v6's JSON layout (YAML accepted too), validated against the schema in
 * config-schema.ts: an unknown key, a wrong type or a missing secret is refused with a message
 * naming the key and the fix. Environment variables override the file: `SWITCHBOARD_` + the key
 * path in upper case with dots as underscores (`http_api.key` → `SWITCHBOARD_HTTP_API_KEY`).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { checkEngine, ConfigError, type ConfigIssue, envKeys, parseWithEnv, unknownEnv as unknownEnvOf } from '@switchboard/config';
import { type ChannelOptions, LIFECYCLE_EVENT_TYPES, type LifecycleEventType, PUSHER_WEBHOOK_EVENTS, PusherApps, type PusherAppOptions, type PusherWebhookEventName, type SwitchboardOptions, type WebhookOptions } from '@switchboard/server';
import { parse as parseYaml } from 'yaml';
import { type ChannelSection, configSchema, pusherAppsFileSchema, type RawConfig, type ServerConfig } from './config-schema.js';
import { checkConsumers } from './consumers.js';
import { ENGINE_SECTIONS } from './engines.js';
import { jsonErrorAt } from './json-error.js';
import { checkProxies, proxySetupOf } from './proxy-config.js';
import { checkGrpcApi } from './grpc-api-config.js';

export { ConfigError, type ConfigIssue } from '@switchboard/config';
export { parseDuration } from '@switchboard/server';
export { configSchema, type RawConfig, type ServerConfig } from './config-schema.js';

/** Every key's environment variable. */
export const ENV_KEYS = envKeys(configSchema);

/** SWITCHBOARD_* variables that name no configuration key (probably a typo: the server warns). */
export function unknownEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return unknownEnvOf(ENV_KEYS, env, ['SWITCHBOARD_CONFIG']);
}

export interface LoadOptions {
  /**
   * Check what a server needs to start (secrets, consistent history, the engine's required keys);
   * true by default. Off, only the file's shape is checked (what `gentoken` needs).
   */
  requirements?: boolean;
}

/** Reads a file (JSON, or YAML for .yaml/.yml), applies env overrides and validates. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): ServerConfig {
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ key: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
    const yaml = ['.yaml', '.yml'].includes(extname(file).toLowerCase());
    try {
      raw = yaml ? (parseYaml(text) ?? {}) : JSON.parse(text);
    } catch (err) {
      const where = yaml ? (err as Error).message : jsonErrorAt(text);
      throw new ConfigError([{ key: '(file)', message: `${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${where}` }]);
    }
  }
  return finish(raw, env, options);
}

/** Applies env overrides to a parsed config and validates it. */
export function finish(raw: unknown, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): ServerConfig {
  const parsed = parseWithEnv(configSchema, raw ?? {}, env);
  if (!parsed.ok) throw new ConfigError(parsed.issues);
  if (options.requirements !== false) {
    const issues = requirements(parsed.value);
    if (issues.length > 0) throw new ConfigError(issues);
  }
  return parsed.value;
}

/** What holds across keys: secrets present, history complete, names defined. */
function requirements(c: ServerConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const report = (key: string, message: string) => issues.push({ key, message });
  const t = c.client.token;
  const hasVerifier = [t.hmac_secret_key, t.rsa_public_key, t.ecdsa_public_key, t.jwks_public_endpoint].some((v) => v !== undefined && v !== '');
  if (!hasVerifier && !c.client.insecure && !c.client.allow_anonymous_connect_without_token && !c.client.proxy.connect.enabled) {
    report(
      'client.token.hmac_secret_key',
      'missing: no way to authenticate connections. Set client.token.hmac_secret_key (or SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY), ' +
        'or rsa_public_key / ecdsa_public_key / jwks_public_endpoint, or a connect proxy (client.proxy.connect), or client.allow_anonymous_connect_without_token, or client.insecure for development',
    );
  }
  if (!c.http_api.insecure && !c.http_api.key) {
    report('http_api.key', 'missing: set http_api.key (or SWITCHBOARD_HTTP_API_KEY) to protect the server API, or http_api.insecure: true for development');
  }
  if (c.admin.enabled && !c.admin.insecure) {
    if (!c.admin.password) report('admin.password', 'missing: the admin page needs admin.password (or SWITCHBOARD_ADMIN_PASSWORD), or admin.insecure: true');
    if (!c.admin.secret) report('admin.secret', 'missing: the admin page signs its session cookie with admin.secret (or SWITCHBOARD_ADMIN_SECRET); use a long random string');
  }
  checkEngine(ENGINE_SECTIONS, c.engine, report);
  if (c.engine.type === 'nats' && c.engine.nats.presence === 'redis' && !c.engine.redis.address) {
    report('engine.redis.address', 'required with engine.nats.presence "redis": the Redis that keeps presence');
  }
  if (c.engine.type === 'nats' && c.engine.nats.history === 'none') {
    // NATS carries no history of its own: refuse history rather than keep it per node
    const withHistory = [{ key: 'channel.without_namespace', o: c.channel.without_namespace }, ...c.channel.namespaces.map((ns, i) => ({ key: `channel.namespaces[${i}]`, o: ns }))];
    for (const { key, o } of withHistory) {
      if ((o.history_size ?? 0) > 0) report(`${key}.history_size`, 'history needs engine.nats.history "jetstream" (the NATS engine has history "none")');
    }
  }
  checkConsumers(c.consumers, report);
  c.webhooks.forEach((w, i) => {
    const key = `webhooks[${i}]`;
    if (!w.url || !/^https?:\/\/./.test(w.url)) report(`${key}.url`, 'required: the http(s) URL events are POSTed to');
    if (!w.secret || w.secret.length < 16) report(`${key}.secret`, 'required: the HMAC secret the requests are signed with, at least 16 characters');
    for (const e of w.events ?? []) if (!(LIFECYCLE_EVENT_TYPES as readonly string[]).includes(e)) report(`${key}.events`, `unknown event "${e}" (known: ${LIFECYCLE_EVENT_TYPES.join(', ')})`);
    for (const k of ['max_attempts', 'max_batch', 'max_queue', 'max_dead_letters'] as const) if (w[k] === 0) report(`${key}.${k}`, 'must be at least 1');
  });
  if (c.cluster.node_ttl !== undefined && c.cluster.node_ttl < 500) report('cluster.node_ttl', 'at least 500ms');
  checkProxies(c, report);
  checkGrpcApi(c.grpc_api, report);
  try {
    const apps = pusherAppsOf(c.pusher);
    if (apps.length > 0) new PusherApps(apps); // duplicate keys, ids, namespaces; bad limits
  } catch (err) {
    if (err instanceof ConfigError) issues.push(...err.issues);
    else report(c.pusher.apps_file ? `pusher (with ${c.pusher.apps_file})` : 'pusher', (err as Error).message);
  }
  const checkHistory = (o: ChannelSection, key: string) => {
    const size = o.history_size ?? 0;
    const ttl = o.history_ttl ?? 0;
    if (size > 0 && ttl === 0) report(`${key}.history_ttl`, 'history_size is set but history_ttl is not: set both (e.g. "history_ttl": "300s") to keep history');
    if (ttl > 0 && size === 0) report(`${key}.history_size`, 'history_ttl is set but history_size is not: set both to keep history');
    if (o.force_recovery === true && (size === 0 || ttl === 0)) report(`${key}.force_recovery`, 'recovery needs history: set history_size and history_ttl');
    if (o.acknowledge === true && (size === 0 || ttl === 0)) report(`${key}.acknowledge`, 'acknowledged delivery needs history (offsets): set history_size and history_ttl');
    if (o.force_recovery_mode === 'cache' && (size === 0 || ttl === 0)) report(`${key}.force_recovery_mode`, 'cache recovery needs history: set history_size (1 is enough) and history_ttl');
    if (o.auto_cache_recover === true && (o.force_recovery !== true || o.force_recovery_mode !== 'cache')) {
      report(`${key}.auto_cache_recover`, 'auto_cache_recover requires force_recovery: true and force_recovery_mode: "cache" (as in Centrifugo)');
    }
    for (const t of o.allowed_delta_types ?? []) if (t !== 'fossil') report(`${key}.allowed_delta_types`, `unknown delta type ${JSON.stringify(t)}: only "fossil" exists`);
  };
  checkHistory(c.channel.without_namespace, 'channel.without_namespace');
  const names = new Set<string>();
  c.channel.namespaces.forEach((ns, i) => {
    const key = `channel.namespaces[${i}]`;
    if (ns.name === undefined || !/^[-a-zA-Z0-9_]{2,}$/.test(ns.name)) report(`${key}.name`, 'required: 2 or more of a-z A-Z 0-9 - _');
    else if (names.has(ns.name)) report(`${key}.name`, `namespace "${ns.name}" is defined twice`);
    else names.add(ns.name);
    checkHistory(ns, key);
  });
  const personal = c.client.subscribe_to_user_personal_channel;
  if (personal.enabled && personal.personal_channel_namespace !== '' && !names.has(personal.personal_channel_namespace)) {
    report('client.subscribe_to_user_personal_channel.personal_channel_namespace', `namespace "${personal.personal_channel_namespace}" is not defined in channel.namespaces`);
  }
  if (c.demo.enabled && c.demo.channel.includes(':')) {
    const ns = c.demo.channel.slice(0, c.demo.channel.indexOf(':'));
    if (!names.has(ns)) report('demo.channel', `the demo channel's namespace "${ns}" is not defined in channel.namespaces`);
  }
  return issues;
}

/** The demo chat's namespace, shared by the generated and the development configuration. */
const CHAT_NAMESPACE = {
  name: 'chat',
  presence: true,
  join_leave: true,
  force_push_join_leave: true,
  history_size: 50,
  history_ttl: '300s',
  force_recovery: true,
} as const;

/** The seed product's channels: `trpc:global`, `trpc:user:<sub>`, `trpc:org:<one of the orgs claim>`. */
const TRPC_NAMESPACE = { name: 'trpc', allow_subscribe_for_client: true, subscribe_by_claim: { user: 'sub', org: 'orgs' } };

/** A production starting point with fresh random secrets (`switchboard genconfig`). */
export function generateConfig(random: (bytes: number) => string): RawConfig {
  return {
    client: {
      token: { hmac_secret_key: random(32) },
      allowed_origins: ['http://localhost:8000'],
    },
    http_api: { key: random(24) },
    admin: { enabled: true, password: random(12), secret: random(32) },
    channel: {
      without_namespace: { allow_subscribe_for_client: true },
      namespaces: [
        {
          ...CHAT_NAMESPACE,
          allow_subscribe_for_client: true,
          allow_publish_for_subscriber: true,
          allow_presence_for_subscriber: true,
          allow_history_for_subscriber: true,
        },
        // Server-published invalidations: trpc:global for every user, trpc:user:42 for user 42 only,
        // trpc:org:7 for tokens whose `orgs` claim holds 7 (see subscribe_by_claim in the README).
        TRPC_NAMESPACE,
      ],
    },
  };
}

/** The configuration used when the server starts without a file: development mode on localhost. */
export function developmentConfig(): RawConfig {
  return {
    http_server: { address: '127.0.0.1', port: 8000 },
    client: { insecure: true },
    http_api: { insecure: true },
    admin: { enabled: true, insecure: true },
    demo: { enabled: true, channel: 'chat:lobby' },
    channel: {
      without_namespace: { presence: true, history_size: 100, history_ttl: '300s', force_recovery: true },
      namespaces: [{ ...CHAT_NAMESPACE }, TRPC_NAMESPACE],
    },
  };
}

function channelOptions(o: ChannelSection): ChannelOptions {
  const out: ChannelOptions = {};
  const set = <K extends keyof ChannelOptions>(key: K, v: ChannelOptions[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set('presence', o.presence);
  set('joinLeave', o.join_leave);
  set('forcePushJoinLeave', o.force_push_join_leave);
  set('historySize', o.history_size);
  set('historyTtlMs', o.history_ttl);
  set('historyMetaTtlMs', o.history_meta_ttl);
  set('forceRecovery', o.force_recovery);
  set('allowRecovery', o.allow_recovery);
  set('forcePositioning', o.force_positioning);
  set('allowSubscribeForClient', o.allow_subscribe_for_client);
  set('allowSubscribeForAnonymous', o.allow_subscribe_for_anonymous);
  set('allowPublishForClient', o.allow_publish_for_client);
  set('allowPublishForSubscriber', o.allow_publish_for_subscriber);
  set('allowPublishForAnonymous', o.allow_publish_for_anonymous);
  set('allowPresenceForClient', o.allow_presence_for_client);
  set('allowPresenceForSubscriber', o.allow_presence_for_subscriber);
  set('allowPresenceForAnonymous', o.allow_presence_for_anonymous);
  set('allowHistoryForClient', o.allow_history_for_client);
  set('allowHistoryForSubscriber', o.allow_history_for_subscriber);
  set('allowHistoryForAnonymous', o.allow_history_for_anonymous);
  set('allowUserLimitedChannels', o.allow_user_limited_channels);
  set('allowPatternSubscribe', o.allow_pattern_subscribe);
  set('acknowledge', o.acknowledge);
  set('ackTimeoutMs', o.ack_timeout);
  set('subscribeByClaim', o.subscribe_by_claim);
  set('allowedDeltaTypes', o.allowed_delta_types as ('fossil'[] | undefined));
  set('deltaPublish', o.delta_publish);
  set('allowTagsFilter', o.allow_tags_filter);
  set('allowChannelCompaction', o.allow_channel_compaction);
  set('forceRecoveryMode', o.force_recovery_mode as ('stream' | 'cache' | undefined));
  set('autoCacheRecover', o.auto_cache_recover);
  return out;
}

/** The typed view the server uses. */
export interface ServerSettings {
  address: string;
  port: number;
  logLevel: string;
  switchboard: SwitchboardOptions;
  api: { key: string | undefined; insecure: boolean; prefix: string };
  admin: { enabled: boolean; password: string | undefined; secret: string | undefined; insecure: boolean };
  prometheus: boolean;
  health: boolean;
  shutdownTimeoutMs: number;
  engine: ServerConfig['engine'];
  consumers: ServerConfig['consumers'];
  demo: { enabled: boolean; channel: string };
  plain: { enabled: boolean; path: string };
  pondsocket: { enabled: boolean; path: string };
  /** `appsFile`: where more apps are read from, at startup and on SIGHUP (`pusherAppsOf` reads it again). */
  pusher: { path: string; apps: PusherAppOptions[]; appsFile: string | undefined };
  phoenix: { enabled: boolean; path: string };
  webhooks: WebhookOptions[];
  /** The native protocol's other transports (docs/transports.md). */
  transports: Pick<ServerConfig, 'http_stream' | 'sse' | 'emulation' | 'uni_websocket' | 'uni_sse' | 'uni_http_stream'>;
  hmacSecret: string | undefined;
  /** Backend proxies (Centrifugo's proxy configuration), when any is configured. */
  proxy: ReturnType<typeof proxySetupOf>;
  /** The GRPC server API (`grpc_api`). */
  grpcApi: ServerConfig['grpc_api'];
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

export function settings(c: ServerConfig): ServerSettings {
  const t = c.client.token;
  const token: NonNullable<SwitchboardOptions['token']> = {};
  const setToken = (key: 'hmacSecret' | 'rsaPublicKey' | 'ecdsaPublicKey' | 'jwksUrl' | 'audience' | 'issuer', v: string | undefined) => {
    if (v !== undefined && v !== '') token[key] = v;
  };
  setToken('hmacSecret', t.hmac_secret_key);
  setToken('rsaPublicKey', t.rsa_public_key);
  setToken('ecdsaPublicKey', t.ecdsa_public_key);
  setToken('jwksUrl', t.jwks_public_endpoint);
  setToken('audience', t.audience);
  setToken('issuer', t.issuer);
  const namespaces: Record<string, ChannelOptions> = {};
  for (const ns of c.channel.namespaces) if (ns.name !== undefined) namespaces[ns.name] = channelOptions(ns);
  const pusherApps = pusherAppsOf(c.pusher);
  // A Pusher app's namespace exists even when not declared: Pusher's own rules govern its Pusher
  // clients; other protocols' clients get the namespace defaults (nothing allowed without tokens).
  for (const app of pusherApps) if (app.namespace && !(app.namespace in namespaces)) namespaces[app.namespace] = {};
  const cl = c.client;
  const limits: NonNullable<SwitchboardOptions['limits']> = {};
  if (cl.channel_limit !== undefined) limits.maxChannelsPerConnection = cl.channel_limit;
  if (cl.user_connection_limit !== undefined) limits.maxConnectionsPerUser = cl.user_connection_limit;
  if (cl.connection_limit !== undefined) limits.maxConnections = cl.connection_limit;
  if (cl.queue_max_size !== undefined) limits.maxQueueBytes = cl.queue_max_size;
  if (cl.message_size_limit !== undefined) limits.maxMessageSize = cl.message_size_limit;
  if (cl.stale_close_delay !== undefined) limits.connectTimeoutMs = cl.stale_close_delay;
  const personal = cl.subscribe_to_user_personal_channel;
  const sbOptions: SwitchboardOptions = {
    channels: channelOptions(c.channel.without_namespace),
    namespaces,
    token,
    allowAnonymous: cl.allow_anonymous_connect_without_token,
    insecure: cl.insecure,
    limits,
    ...(personal.enabled ? { userPersonalChannel: { namespace: personal.personal_channel_namespace } } : {}),
    ...(cl.allowed_origins ? { allowedOrigins: cl.allowed_origins } : {}),
    ...(cl.ping_interval !== undefined ? { pingIntervalMs: cl.ping_interval } : {}),
    ...(cl.pong_timeout !== undefined ? { pongTimeoutMs: cl.pong_timeout } : {}),
    ...(cl.expired_close_delay !== undefined ? { expiredCloseDelayMs: cl.expired_close_delay } : {}),
    ...(c.websocket.compression ? { compression: true } : {}),
    ...(c.node.name !== undefined ? { name: c.node.name } : {}),
    ...(c.user_status.enabled
      ? { userStatus: { channelPrefix: c.user_status.channel_prefix, ...(c.user_status.activity_interval !== undefined ? { activityIntervalMs: c.user_status.activity_interval } : {}) } }
      : {}),
    ...(c.cluster.node_ttl !== undefined ? { cluster: { nodeTtlMs: c.cluster.node_ttl } } : {}),
  };
  const webhooks: WebhookOptions[] = c.webhooks.map((w) => ({
    url: w.url ?? '',
    secret: w.secret ?? '',
    ...(w.name !== undefined ? { name: w.name } : {}),
    ...(w.events !== undefined ? { events: w.events as LifecycleEventType[] } : {}),
    ...(w.namespaces !== undefined ? { namespaces: w.namespaces } : {}),
    ...(w.timeout !== undefined ? { timeoutMs: w.timeout } : {}),
    ...(w.max_attempts !== undefined ? { retry: { maxAttempts: w.max_attempts } } : {}),
    ...(w.max_batch !== undefined ? { maxBatch: w.max_batch } : {}),
    ...(w.max_queue !== undefined ? { maxQueue: w.max_queue } : {}),
    ...(w.max_dead_letters !== undefined ? { maxDeadLetters: w.max_dead_letters } : {}),
  }));
  return {
    address: c.http_server.address,
    port: c.http_server.port,
    logLevel: c.log.level,
    switchboard: sbOptions,
    api: { key: nonEmpty(c.http_api.key), insecure: c.http_api.insecure, prefix: c.http_api.handler_prefix },
    admin: { enabled: c.admin.enabled, password: nonEmpty(c.admin.password), secret: nonEmpty(c.admin.secret), insecure: c.admin.insecure },
    prometheus: c.prometheus.enabled,
    health: c.health.enabled,
    shutdownTimeoutMs: c.shutdown.timeout,
    engine: c.engine,
    consumers: c.consumers,
    demo: c.demo,
    plain: c.plain,
    pondsocket: c.pondsocket,
    pusher: { path: c.pusher.path, apps: pusherApps, appsFile: nonEmpty(c.pusher.apps_file) },
    phoenix: c.phoenix,
    webhooks,
    transports: { http_stream: c.http_stream, sse: c.sse, emulation: c.emulation, uni_websocket: c.uni_websocket, uni_sse: c.uni_sse, uni_http_stream: c.uni_http_stream },
    hmacSecret: token.hmacSecret,
    proxy: proxySetupOf(c),
    grpcApi: c.grpc_api,
  };
}

type PusherAppSection = Omit<ServerConfig['pusher'], 'apps' | 'path' | 'apps_file'>;

/**
 * The apps of `pusher.apps_file`: a JSON array of app objects in the shape of the inline ones,
 * checked by the same schema; a problem names the file and the key (`apps.json[1].secret`).
 */
function pusherAppsFile(file: string): PusherAppSection[] {
  const refuse = (key: string, message: string): never => {
    throw new ConfigError([{ key, message }]);
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    refuse('pusher.apps_file', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    refuse('pusher.apps_file', `${file} is not valid JSON: ${jsonErrorAt(text)}`);
  }
  if (!Array.isArray(raw)) refuse('pusher.apps_file', `${file} must hold a JSON array of apps ([{"app_id": ..., "key": ..., "secret": ...}, ...])`);
  const parsed = parseWithEnv(pusherAppsFileSchema, raw, {});
  if (!parsed.ok) throw new ConfigError(parsed.issues.map((i) => ({ key: `${file}${i.key}`, message: i.message })));
  return parsed.value;
}

/**
 * The `pusher` block: one app inline (`app_id`, `key`, `secret`, ...) and/or `apps: [...]`, and
 * those of `apps_file` (read now: a reload calls this again). Throws a ConfigError naming the key.
 */
export function pusherAppsOf(p: ServerConfig['pusher']): PusherAppOptions[] {
  const out: PusherAppOptions[] = [];
  const one = (a: PusherAppSection, where: string) => {
    const missing = (['app_id', 'key', 'secret'] as const).filter((k) => a[k] === undefined || a[k] === '');
    if (missing.length > 0) throw new ConfigError(missing.map((k) => ({ key: `${where}.${k}`, message: 'a Pusher app needs app_id, key and secret' })));
    const zero = (['activity_timeout', 'pong_timeout', 'max_event_payload_kb', 'max_presence_members_per_channel', 'max_user_info_kb', 'max_client_events_per_second'] as const).filter((k) => a[k] === 0);
    if (zero.length > 0) throw new ConfigError(zero.map((k) => ({ key: `${where}.${k}`, message: 'must be at least 1' })));
    const app: PusherAppOptions = { id: a.app_id!, key: a.key!, secret: a.secret!, namespace: a.namespace ?? '' };
    if (a.enable_client_messages !== undefined) app.enableClientMessages = a.enable_client_messages;
    if (a.activity_timeout !== undefined) app.activityTimeout = a.activity_timeout;
    if (a.pong_timeout !== undefined) app.pongTimeout = a.pong_timeout;
    if (a.webhook_leave_delay !== undefined) app.webhookLeaveDelayMs = a.webhook_leave_delay;
    if (a.max_event_payload_kb !== undefined) app.maxEventPayloadKb = a.max_event_payload_kb;
    if (a.max_presence_members_per_channel !== undefined) app.maxPresenceMembers = a.max_presence_members_per_channel;
    if (a.max_user_info_kb !== undefined) app.maxUserInfoKb = a.max_user_info_kb;
    if (a.max_client_events_per_second !== undefined) app.maxClientEventsPerSecond = a.max_client_events_per_second;
    if (a.enable_subscription_count !== undefined) app.enableSubscriptionCount = a.enable_subscription_count;
    if (a.enable_watchlist_events !== undefined) app.enableWatchlistEvents = a.enable_watchlist_events;
    if (a.webhooks !== undefined) {
      app.webhooks = a.webhooks.map((w, i) => {
        const key = `${where}.webhooks[${i}]`;
        if (w.url === undefined || w.url === '') throw new ConfigError([{ key: `${key}.url`, message: 'a Pusher webhook needs its url' }]);
        const unknown = (w.event_types ?? []).filter((e) => !(PUSHER_WEBHOOK_EVENTS as readonly string[]).includes(e));
        if (unknown.length > 0) throw new ConfigError([{ key: `${key}.event_types`, message: `unknown event ${unknown.join(', ')} (known: ${PUSHER_WEBHOOK_EVENTS.join(', ')})` }]);
        return { url: w.url, ...(w.event_types ? { events: w.event_types as PusherWebhookEventName[] } : {}) };
      });
    }
    out.push(app);
  };
  const { apps, path: _path, apps_file: file, ...inline } = p;
  if (Object.values(inline).some((v) => v !== undefined)) one(inline, 'pusher');
  apps.forEach((a, i) => one(a, `pusher.apps[${i}]`));
  if (file !== undefined && file !== '') pusherAppsFile(file).forEach((a, i) => one(a, `${file}[${i}]`));
  return out;
}
