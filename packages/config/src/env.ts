/**
 * Environment variables, derived from the schema: every key `a.b.c` is `SWITCHBOARD_A_B_C`; a list
 * of objects (`channel.namespaces`) is one variable holding JSON. Nothing here names a key.
 */
import type { z } from 'zod';
import type { EnvKind } from './leaves.js';
import type { ConfigIssue } from './issues.js';
import { nodeOf } from './walk.js';

export const ENV_PREFIX = 'SWITCHBOARD_';

export interface EnvKey {
  /** SWITCHBOARD_HTTP_API_KEY */
  readonly env: string;
  /** ["http_api", "key"] */
  readonly path: readonly string[];
  readonly kind: EnvKind;
}

/** The variable of a key path: `["http_api", "key"]` → `SWITCHBOARD_HTTP_API_KEY`. */
export function envName(path: readonly string[]): string {
  return `${ENV_PREFIX}${path.join('_').toUpperCase()}`;
}

/** Every key of `schema` (placed at `base` in the file) with its variable. */
export function envKeys(schema: z.core.$ZodType, base: readonly string[] = []): EnvKey[] {
  const node = nodeOf(schema);
  switch (node.kind) {
    case 'leaf':
      return [{ env: envName(base), path: base, kind: node.meta.env }];
    case 'array':
      return [{ env: envName(base), path: base, kind: 'json' }];
    case 'object':
      return Object.entries(node.shape).flatMap(([k, s]) => envKeys(s, [...base, k]));
    default:
      return [];
  }
}

/** The value a variable's text stands for, or undefined (with an issue naming the variable). */
export function envValue(kind: EnvKind, text: string, env: string, issues: ConfigIssue[]): unknown {
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
      return text.trim().startsWith('[') ? envValue('strings', text, env, issues) : text;
    case 'strings':
      if (text.trim().startsWith('[')) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          issues.push({ key: env, message: 'expected a JSON array or a comma-separated list' });
          return undefined;
        }
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    case 'json':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        issues.push({ key: env, message: 'expected JSON' });
        return undefined;
      }
    default:
      return text;
  }
}

/**
 * A copy of `raw` with the variables of `keys` that `env` sets written in. `raw` is the part of the
 * file at the keys' common base (`base`), which is stripped from their paths.
 */
export function applyEnv(raw: unknown, keys: readonly EnvKey[], env: NodeJS.ProcessEnv, issues: ConfigIssue[], base: readonly string[] = []): unknown {
  const config: unknown = structuredClone(raw ?? {});
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return config;
  for (const { env: name, path, kind } of keys) {
    const text = env[name];
    if (text === undefined) continue;
    const v = envValue(kind, text, name, issues);
    if (v === undefined) continue;
    const rel = path.slice(base.length);
    let o = config as Record<string, unknown>;
    for (const k of rel.slice(0, -1)) {
      const next = o[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) o[k] = {};
      o = o[k] as Record<string, unknown>;
    }
    o[rel[rel.length - 1]!] = v;
  }
  return config;
}

/** SWITCHBOARD_* variables that name no key (probably a typo); `also` are other known names. */
export function unknownEnv(keys: readonly EnvKey[], env: NodeJS.ProcessEnv, also: readonly string[] = []): string[] {
  const known = new Set([...keys.map((k) => k.env), ...also]);
  return Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX) && !known.has(n));
}
