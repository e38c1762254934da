/**
 * Configuration in Centrifugo v6's JSON layout (YAML accepted too), validated against a schema:
 * an unknown key, a wrong type or a missing secret is refused with a message naming the key and
 * the fix. Environment variables override the file: `SWITCHBOARD_` + the key path in upper case
 * with dots as underscores (`http_api.key` → `SWITCHBOARD_HTTP_API_KEY`).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { ChannelOptions, SwitchboardOptions } from '@switchboard/server';
import { parse as parseYaml } from 'yaml';

type Leaf = 'string' | 'boolean' | 'integer' | 'duration' | 'strings' | 'string-or-strings';
type Schema = { [key: string]: Leaf | Schema | NamespaceList };
interface NamespaceList {
  readonly list: Schema;
}

const CHANNEL_OPTIONS: Schema = {
  presence: 'boolean',
  join_leave: 'boolean',
  force_push_join_leave: 'boolean',
  history_size: 'integer',
  history_ttl: 'duration',
  history_meta_ttl: 'duration',
  force_recovery: 'boolean',
  allow_recovery: 'boolean',
  force_positioning: 'boolean',
  allow_subscribe_for_client: 'boolean',
  allow_subscribe_for_anonymous: 'boolean',
  allow_publish_for_client: 'boolean',
  allow_publish_for_subscriber: 'boolean',
  allow_publish_for_anonymous: 'boolean',
  allow_presence_for_client: 'boolean',
  allow_presence_for_subscriber: 'boolean',
  allow_presence_for_anonymous: 'boolean',
  allow_history_for_client: 'boolean',
  allow_history_for_subscriber: 'boolean',
  allow_history_for_anonymous: 'boolean',
  allow_user_limited_channels: 'boolean',
};

export const SCHEMA: Schema = {
  http_server: { address: 'string', port: 'integer' },
  log: { level: 'string' },
  node: { name: 'string' },
  client: {
    token: {
      hmac_secret_key: 'string',
      rsa_public_key: 'string',
      ecdsa_public_key: 'string',
      jwks_public_endpoint: 'string',
      audience: 'string',
      issuer: 'string',
    },
    allowed_origins: 'strings',
    allow_anonymous_connect_without_token: 'boolean',
    insecure: 'boolean',
    subscribe_to_user_personal_channel: { enabled: 'boolean', personal_channel_namespace: 'string' },
    ping_interval: 'duration',
    pong_timeout: 'duration',
    expired_close_delay: 'duration',
    stale_close_delay: 'duration',
    channel_limit: 'integer',
    user_connection_limit: 'integer',
    connection_limit: 'integer',
    queue_max_size: 'integer',
    message_size_limit: 'integer',
  },
  channel: {
    without_namespace: CHANNEL_OPTIONS,
    namespaces: { list: { name: 'string', ...CHANNEL_OPTIONS } },
  },
  http_api: { key: 'string', insecure: 'boolean', handler_prefix: 'string' },
  admin: { enabled: 'boolean', password: 'string', secret: 'string', insecure: 'boolean' },
  prometheus: { enabled: 'boolean' },
  health: { enabled: 'boolean' },
  shutdown: { timeout: 'duration' },
  engine: {
    type: 'string',
    redis: { address: 'string-or-strings', cluster_address: 'string-or-strings', prefix: 'string', presence_ttl: 'duration' },
  },
  // Switchboard's own keys (not in Centrifugo): the demo chat page at `/` and its token endpoint.
  demo: { enabled: 'boolean', channel: 'string' },
  websocket: { compression: 'boolean' },
  plain: { enabled: 'boolean', path: 'string' },
  pondsocket: { enabled: 'boolean', path: 'string' },
};

/** One problem found in a configuration; `key` is the dotted path. */
export interface ConfigIssue {
  key: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.key}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export type RawConfig = Record<string, unknown>;

/** Go-style durations: "300s", "5m", "1h30m", "250ms". */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(s)) return s === '0' ? 0 : undefined;
  let total = 0;
  for (const m of s.matchAll(re)) {
    const n = Number(m[1]);
    total += n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  return Math.round(total);
}

function suggest(key: string, known: string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function checkLeaf(kind: Leaf, v: unknown, key: string, issues: ConfigIssue[]): void {
  const bad = (want: string, example: string) => issues.push({ key, message: `expected ${want}, got ${typeName(v)} ${JSON.stringify(v)}; write e.g. ${example}` });
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') bad('a string', `"${key.split('.').pop()}": "..."`);
      break;
    case 'boolean':
      if (typeof v !== 'boolean') bad('true or false', 'true');
      break;
    case 'integer':
      if (!Number.isInteger(v) || (v as number) < 0) bad('a non-negative integer', '100');
      break;
    case 'duration':
      if (typeof v !== 'string' || parseDuration(v) === undefined) bad('a duration string', '"300s", "5m" or "1h30m"');
      break;
    case 'strings':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad('an array of strings', '["https://example.com"]');
      break;
    case 'string-or-strings':
      if (typeof v !== 'string' && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) bad('a string or an array of strings', '"127.0.0.1:6379" or ["redis-1:6379", "redis-2:6379"]');
      break;
  }
}

function walk(schema: Schema, value: unknown, path: string, issues: ConfigIssue[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ key: path || '(root)', message: `expected an object, got ${typeName(value)}` });
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const key = path ? `${path}.${k}` : k;
    const s = schema[k];
    if (s === undefined) {
      issues.push({ key, message: `unknown key${suggest(k, Object.keys(schema))}; remove it or fix its name` });
      continue;
    }
    if (typeof s === 'string') checkLeaf(s, v, key, issues);
    else if ('list' in s && typeof s.list === 'object') {
      if (!Array.isArray(v)) {
        issues.push({ key, message: `expected an array of objects, got ${typeName(v)}` });
        continue;
      }
      v.forEach((item, i) => walk(s.list as Schema, item, `${key}[${i}]`, issues));
    } else walk(s as Schema, v, key, issues);
  }
}

/** Every leaf path of the schema with its env var name (lists are set as JSON). */
export function envNames(schema: Schema = SCHEMA, path: string[] = []): { env: string; path: string[]; kind: Leaf | 'json' }[] {
  const out: { env: string; path: string[]; kind: Leaf | 'json' }[] = [];
  for (const [k, s] of Object.entries(schema)) {
    const p = [...path, k];
    const env = `SWITCHBOARD_${p.join('_').toUpperCase()}`;
    if (typeof s === 'string') out.push({ env, path: p, kind: s });
    else if ('list' in s && typeof s.list === 'object' && !Array.isArray(s.list) && Object.keys(s).length === 1) out.push({ env, path: p, kind: 'json' });
    else out.push(...envNames(s as Schema, p));
  }
  return out;
}

function envValue(kind: Leaf | 'json', text: string, env: string, issues: ConfigIssue[]): unknown {
  switch (kind) {
    case 'boolean':
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      issues.push({ key: env, message: `expected true or false, got "${text}"` });
      return undefined;
    case 'integer':
      if (/^\d+$/.test(text)) return Number(text);
      issues.push({ key: env, message: `expected a non-negative integer, got "${text}"` });
      return undefined;
    case 'string-or-strings':
      if (text.trim().startsWith('[')) return envValue('strings', text, env, issues);
      return text;
    case 'strings':
      if (text.trim().startsWith('[')) {
        try {
          return JSON.parse(text);
        } catch {
          issues.push({ key: env, message: 'expected a JSON array or a comma-separated list' });
          return undefined;
        }
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        issues.push({ key: env, message: 'expected JSON' });
        return undefined;
      }
    default:
      return text;
  }
}

/** SWITCHBOARD_* variables that name no configuration key (probably a typo: the server warns). */
export function unknownEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const known = new Set(envNames().map((e) => e.env));
  return Object.keys(env).filter((n) => n.startsWith('SWITCHBOARD_') && n !== 'SWITCHBOARD_CONFIG' && !known.has(n));
}

/** Reads a file (JSON, or YAML for .yaml/.yml), applies env overrides and validates. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): RawConfig {
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
      throw new ConfigError([{ key: '(file)', message: `${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message}` }]);
    }
  }
  return finish(raw, env);
}

/** Applies env overrides to a parsed config and validates it. */
export function finish(raw: unknown, env: NodeJS.ProcessEnv = process.env): RawConfig {
  const issues: ConfigIssue[] = [];
  const config = structuredClone((raw ?? {}) as RawConfig);
  if (typeof config === 'object' && config !== null && !Array.isArray(config)) {
    for (const { env: name, path, kind } of envNames()) {
      const text = env[name];
      if (text === undefined) continue;
      const v = envValue(kind, text, name, issues);
      if (v === undefined) continue;
      let o = config as Record<string, unknown>;
      for (const k of path.slice(0, -1)) {
        if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
        o = o[k] as Record<string, unknown>;
      }
      o[path[path.length - 1]!] = v;
    }
  }
  walk(SCHEMA, config, '', issues);
  if (issues.length === 0) semantic(config, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

function get(c: RawConfig, path: string): unknown {
  let o: unknown = c;
  for (const k of path.split('.')) {
    if (typeof o !== 'object' || o === null) return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return o;
}

function semantic(c: RawConfig, issues: ConfigIssue[]): void {
  const insecure = get(c, 'client.insecure') === true;
  const hasVerifier = ['hmac_secret_key', 'rsa_public_key', 'ecdsa_public_key', 'jwks_public_endpoint'].some((k) => {
    const v = get(c, `client.token.${k}`);
    return typeof v === 'string' && v !== '';
  });
  if (!hasVerifier && !insecure && get(c, 'client.allow_anonymous_connect_without_token') !== true) {
    issues.push({
      key: 'client.token.hmac_secret_key',
      message:
        'missing: no way to authenticate connections. Set client.token.hmac_secret_key (or SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY), ' +
        'or rsa_public_key / ecdsa_public_key / jwks_public_endpoint, or client.allow_anonymous_connect_without_token, or client.insecure for development',
    });
  }
  if (get(c, 'http_api.insecure') !== true && !get(c, 'http_api.key')) {
    issues.push({ key: 'http_api.key', message: 'missing: set http_api.key (or SWITCHBOARD_HTTP_API_KEY) to protect the server API, or http_api.insecure: true for development' });
  }
  if (get(c, 'admin.enabled') === true && get(c, 'admin.insecure') !== true) {
    if (!get(c, 'admin.password')) issues.push({ key: 'admin.password', message: 'missing: the admin page needs admin.password (or SWITCHBOARD_ADMIN_PASSWORD), or admin.insecure: true' });
    if (!get(c, 'admin.secret')) issues.push({ key: 'admin.secret', message: 'missing: the admin page signs its session cookie with admin.secret (or SWITCHBOARD_ADMIN_SECRET); use a long random string' });
  }
  const engine = get(c, 'engine.type');
  if (engine !== undefined && engine !== 'memory' && engine !== 'redis') {
    issues.push({ key: 'engine.type', message: `unknown engine "${String(engine)}": use "memory" or "redis"` });
  }
  if (engine === 'redis' && !get(c, 'engine.redis.address') && !get(c, 'engine.redis.cluster_address')) {
    issues.push({ key: 'engine.redis.address', message: 'required with engine.type "redis": e.g. "127.0.0.1:6379", or a list of shards (or SWITCHBOARD_ENGINE_REDIS_ADDRESS); or engine.redis.cluster_address for Redis Cluster' });
  }
  const level = get(c, 'log.level');
  if (level !== undefined && !['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'none'].includes(level as string)) {
    issues.push({ key: 'log.level', message: 'use one of trace, debug, info, warn, error, fatal, none' });
  }
  const port = get(c, 'http_server.port');
  if (typeof port === 'number' && port > 65535) issues.push({ key: 'http_server.port', message: 'must be 0..65535' });
  const checkHistory = (o: unknown, key: string) => {
    if (typeof o !== 'object' || o === null) return;
    const r = o as Record<string, unknown>;
    const size = (r['history_size'] as number | undefined) ?? 0;
    const ttl = r['history_ttl'] === undefined ? 0 : parseDuration(r['history_ttl'] as string)!;
    if (size > 0 && ttl === 0) issues.push({ key: `${key}.history_ttl`, message: 'history_size is set but history_ttl is not: set both (e.g. "history_ttl": "300s") to keep history' });
    if (ttl > 0 && size === 0) issues.push({ key: `${key}.history_size`, message: 'history_ttl is set but history_size is not: set both to keep history' });
    if (r['force_recovery'] === true && (size === 0 || ttl === 0)) issues.push({ key: `${key}.force_recovery`, message: 'recovery needs history: set history_size and history_ttl' });
  };
  checkHistory(get(c, 'channel.without_namespace'), 'channel.without_namespace');
  const names = new Set<string>();
  const list = (get(c, 'channel.namespaces') as Record<string, unknown>[] | undefined) ?? [];
  list.forEach((ns, i) => {
    const key = `channel.namespaces[${i}]`;
    const name = ns['name'];
    if (typeof name !== 'string' || !/^[-a-zA-Z0-9_]{2,}$/.test(name)) {
      issues.push({ key: `${key}.name`, message: 'required: 2 or more of a-z A-Z 0-9 - _' });
    } else if (names.has(name)) issues.push({ key: `${key}.name`, message: `namespace "${name}" is defined twice` });
    else names.add(name);
    checkHistory(ns, key);
  });
  const personal = get(c, 'client.subscribe_to_user_personal_channel.personal_channel_namespace');
  if (get(c, 'client.subscribe_to_user_personal_channel.enabled') === true && typeof personal === 'string' && personal !== '' && !names.has(personal)) {
    issues.push({ key: 'client.subscribe_to_user_personal_channel.personal_channel_namespace', message: `namespace "${personal}" is not defined in channel.namespaces` });
  }
  const demoChannel = get(c, 'demo.channel');
  if (get(c, 'demo.enabled') === true && typeof demoChannel === 'string' && demoChannel.includes(':')) {
    const ns = demoChannel.slice(0, demoChannel.indexOf(':'));
    if (!names.has(ns)) issues.push({ key: 'demo.channel', message: `the demo channel's namespace "${ns}" is not defined in channel.namespaces` });
  }
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
        // Server-published invalidations such as trpc:user:42 (subscribed server-side or with tokens).
        { name: 'trpc' },
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
      namespaces: [
        { ...CHAT_NAMESPACE },
        { name: 'trpc' },
      ],
    },
  };
}

const ms = (v: unknown): number | undefined => (typeof v === 'string' ? parseDuration(v) : undefined);

function channelOptions(o: Record<string, unknown> | undefined): ChannelOptions {
  if (!o) return {};
  const out: ChannelOptions = {};
  const b = (k: string) => (o[k] === undefined ? undefined : o[k] === true);
  const set = <K extends keyof ChannelOptions>(key: K, v: ChannelOptions[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set('presence', b('presence'));
  set('joinLeave', b('join_leave'));
  set('forcePushJoinLeave', b('force_push_join_leave'));
  set('historySize', o['history_size'] as number | undefined);
  set('historyTtlMs', ms(o['history_ttl']));
  set('historyMetaTtlMs', ms(o['history_meta_ttl']));
  set('forceRecovery', b('force_recovery'));
  set('allowRecovery', b('allow_recovery'));
  set('forcePositioning', b('force_positioning'));
  set('allowSubscribeForClient', b('allow_subscribe_for_client'));
  set('allowSubscribeForAnonymous', b('allow_subscribe_for_anonymous'));
  set('allowPublishForClient', b('allow_publish_for_client'));
  set('allowPublishForSubscriber', b('allow_publish_for_subscriber'));
  set('allowPublishForAnonymous', b('allow_publish_for_anonymous'));
  set('allowPresenceForClient', b('allow_presence_for_client'));
  set('allowPresenceForSubscriber', b('allow_presence_for_subscriber'));
  set('allowPresenceForAnonymous', b('allow_presence_for_anonymous'));
  set('allowHistoryForClient', b('allow_history_for_client'));
  set('allowHistoryForSubscriber', b('allow_history_for_subscriber'));
  set('allowHistoryForAnonymous', b('allow_history_for_anonymous'));
  set('allowUserLimitedChannels', b('allow_user_limited_channels'));
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
  engine: { type: string; redis: Record<string, unknown> };
  demo: { enabled: boolean; channel: string };
  plain: { enabled: boolean; path: string };
  pondsocket: { enabled: boolean; path: string };
  hmacSecret: string | undefined;
}

export function settings(c: RawConfig): ServerSettings {
  const g = (p: string) => get(c, p);
  const token: Record<string, string> = {};
  const t = (from: string, to: string) => {
    const v = g(`client.token.${from}`);
    if (typeof v === 'string' && v !== '') token[to] = v;
  };
  t('hmac_secret_key', 'hmacSecret');
  t('rsa_public_key', 'rsaPublicKey');
  t('ecdsa_public_key', 'ecdsaPublicKey');
  t('jwks_public_endpoint', 'jwksUrl');
  t('audience', 'audience');
  t('issuer', 'issuer');
  const namespaces: Record<string, ChannelOptions> = {};
  for (const ns of (g('channel.namespaces') as Record<string, unknown>[] | undefined) ?? []) namespaces[ns['name'] as string] = channelOptions(ns);
  const limits: NonNullable<SwitchboardOptions['limits']> = {};
  if (g('client.channel_limit') !== undefined) limits.maxChannelsPerConnection = g('client.channel_limit') as number;
  if (g('client.user_connection_limit') !== undefined) limits.maxConnectionsPerUser = g('client.user_connection_limit') as number;
  if (g('client.connection_limit') !== undefined) limits.maxConnections = g('client.connection_limit') as number;
  if (g('client.queue_max_size') !== undefined) limits.maxQueueBytes = g('client.queue_max_size') as number;
  if (g('client.message_size_limit') !== undefined) limits.maxMessageSize = g('client.message_size_limit') as number;
  if (g('client.stale_close_delay') !== undefined) limits.connectTimeoutMs = ms(g('client.stale_close_delay'))!;
  const personal = g('client.subscribe_to_user_personal_channel.enabled') === true;
  const sbOptions: SwitchboardOptions = {
    channels: channelOptions(g('channel.without_namespace') as Record<string, unknown> | undefined),
    namespaces,
    token,
    allowAnonymous: g('client.allow_anonymous_connect_without_token') === true,
    insecure: g('client.insecure') === true,
    limits,
    ...(personal ? { userPersonalChannel: { namespace: (g('client.subscribe_to_user_personal_channel.personal_channel_namespace') as string | undefined) ?? '' } } : {}),
    ...(g('client.allowed_origins') ? { allowedOrigins: g('client.allowed_origins') as string[] } : {}),
    ...(g('client.ping_interval') !== undefined ? { pingIntervalMs: ms(g('client.ping_interval'))! } : {}),
    ...(g('client.pong_timeout') !== undefined ? { pongTimeoutMs: ms(g('client.pong_timeout'))! } : {}),
    ...(g('client.expired_close_delay') !== undefined ? { expiredCloseDelayMs: ms(g('client.expired_close_delay'))! } : {}),
    ...(g('websocket.compression') === true ? { compression: true } : {}),
    ...(typeof g('node.name') === 'string' ? { name: g('node.name') as string } : {}),
  };
  return {
    address: (g('http_server.address') as string | undefined) ?? '0.0.0.0',
    port: (g('http_server.port') as number | undefined) ?? 8000,
    logLevel: (g('log.level') as string | undefined) ?? 'info',
    switchboard: sbOptions,
    api: { key: (g('http_api.key') as string | undefined) || undefined, insecure: g('http_api.insecure') === true, prefix: (g('http_api.handler_prefix') as string | undefined) ?? '/api' },
    admin: {
      enabled: g('admin.enabled') === true,
      password: (g('admin.password') as string | undefined) || undefined,
      secret: (g('admin.secret') as string | undefined) || undefined,
      insecure: g('admin.insecure') === true,
    },
    prometheus: g('prometheus.enabled') !== false,
    health: g('health.enabled') !== false,
    shutdownTimeoutMs: ms(g('shutdown.timeout')) ?? 10_000,
    engine: { type: (g('engine.type') as string | undefined) ?? 'memory', redis: (g('engine.redis') as Record<string, unknown> | undefined) ?? {} },
    demo: { enabled: g('demo.enabled') === true, channel: (g('demo.channel') as string | undefined) ?? 'chat:lobby' },
    plain: { enabled: g('plain.enabled') !== false, path: (g('plain.path') as string | undefined) ?? '/ws' },
    pondsocket: { enabled: g('pondsocket.enabled') !== false, path: (g('pondsocket.path') as string | undefined) ?? '/pondsocket' },
    hmacSecret: token['hmacSecret'],
  };
}
