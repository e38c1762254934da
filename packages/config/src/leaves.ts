/**
 * The leaf types a configuration key can have. Each builder returns a zod schema registered in
 * `leaves` with what the rest of the kit derives from it: how an environment variable is read
 * (`env`), and what a wrong value is told (`want`, `example`). A key is defined once, in its
 * section's `z.strictObject`, with one of these and optionally `.optional()`, `.default(v)` or, for
 * durations, `.prefault("10s")` (a default written the way the file writes it).
 */
import { parseDuration } from '@switchboard/server';
import { z } from 'zod';

/** How an environment variable's text becomes a value for the key. */
export type EnvKind = 'string' | 'boolean' | 'integer' | 'duration' | 'strings' | 'string-or-strings' | 'json';

export interface LeafMeta {
  readonly env: EnvKind;
  /** "expected <want>, got …" */
  readonly want: string;
  /** "…; write e.g. <example>"; gets the key's own name. */
  readonly example: (name: string) => string;
}

export const leaves = z.registry<LeafMeta>();

/** A string (`nonEmpty`: not ""). */
export function text(options: { nonEmpty?: boolean } = {}) {
  const s = options.nonEmpty ? z.string().refine((v) => v !== '', { message: 'expected a non-empty string' }) : z.string();
  return s.register(leaves, { env: 'string', want: 'a string', example: (name) => `"${name}": "..."` });
}

/** One of a few strings ("use one of …" otherwise). */
export function choice(values: readonly string[], example: string) {
  return z
    .string()
    .refine((v) => values.includes(v), { message: `use one of ${values.join(', ')}` })
    .register(leaves, { env: 'string', want: 'a string', example: () => `"${example}"` });
}

/** true or false (`true`/`1`, `false`/`0` in the environment). */
export function flag() {
  return z.boolean().register(leaves, { env: 'boolean', want: 'true or false', example: () => 'true' });
}

/** A whole number from 0 (to `max`); `example` is what the hint suggests. */
export function integer(options: { max?: number; example: number }) {
  const base = z.number().int().min(0);
  const bounded = options.max === undefined ? base : base.max(options.max);
  const want = options.max === undefined ? 'a non-negative integer' : `an integer from 0 to ${options.max}`;
  return bounded.register(leaves, { env: 'integer', want, example: () => String(options.example) });
}

/**
 * A Go-style duration string ("300s", "5m", "1h30m", "250ms"), parsed once here: the validated
 * config holds milliseconds. `min` refuses shorter ones with its own message.
 */
export function duration(options: { min?: number } = {}) {
  const ms = z.string().transform((s, ctx) => {
    const v = parseDuration(s);
    if (v === undefined) {
      ctx.issues.push({ code: 'invalid_format', format: 'duration', input: s });
      return z.NEVER;
    }
    return v;
  });
  const { min } = options;
  const checked = min === undefined ? ms : ms.refine((v) => v >= min, { message: `at least "${formatDuration(min)}"` });
  return checked.register(leaves, { env: 'duration', want: 'a duration string', example: () => '"300s", "5m" or "1h30m"' });
}

/** An array of strings (comma-separated or a JSON array in the environment). */
export function strings(example: string) {
  return z.array(z.string()).register(leaves, { env: 'strings', want: 'an array of strings', example: () => example });
}

/** One string or an array of them (a JSON array in the environment). */
export function stringOrStrings(example: string) {
  return z.union([z.string(), z.array(z.string())]).register(leaves, { env: 'string-or-strings', want: 'a string or an array of strings', example: () => example });
}

/**
 * An object of non-empty strings whose keys pass `key` (JSON in the environment). `want` and
 * `example` say what it maps ("an object of channel segment → claim name").
 */
export function stringMap(options: { want: string; example: string; key?: (k: string) => boolean }) {
  const keyOk = options.key ?? (() => true);
  return z
    .record(z.string().refine(keyOk), z.string().min(1))
    .register(leaves, { env: 'json', want: options.want, example: () => options.example });
}

/** A group of keys: unknown keys are refused, and a missing group still gets its defaults. */
export function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape).prefault({} as never);
}

/** "1s", "250ms", "1m30s": the shortest way to write a whole number of milliseconds. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
