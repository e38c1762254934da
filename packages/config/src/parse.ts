/** Environment overrides, then the schema: the one way a configuration (or one section of it) is read. */
import type { z } from 'zod';
import { applyEnv, envKeys } from './env.js';
import { type ConfigIssue, describeIssues } from './issues.js';

export type Parsed<T> = { ok: true; value: T; issues: [] } | { ok: false; issues: ConfigIssue[] };

/**
 * Validates `raw` against `schema` after writing in the environment variables of its keys.
 * `base` is where the schema sits in the whole file (`["engine", "redis"]`): it names the keys in
 * messages and variables (`SWITCHBOARD_ENGINE_REDIS_ADDRESS`).
 */
export function parseWithEnv<S extends z.ZodType>(schema: S, raw: unknown, env: NodeJS.ProcessEnv = {}, base: readonly string[] = []): Parsed<z.output<S>> {
  const issues: ConfigIssue[] = [];
  const data = applyEnv(raw, envKeys(schema, base), env, issues, base);
  const result = schema.safeParse(data);
  if (!result.success) issues.push(...describeIssues(schema, data, result.error.issues, base));
  if (issues.length > 0 || !result.success) return { ok: false, issues };
  return { ok: true, value: result.data, issues: [] };
}
