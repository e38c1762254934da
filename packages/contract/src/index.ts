/**
 * @switchboard/contract: a channel contract maps channel names or patterns to Standard Schema
 * validators. The server refuses publications that do not match; the client drops (and reports)
 * messages that do not match; the TypeScript types of subscribe, publish and the API client follow
 * from it.
 *
 *   const contract = defineContract({
 *     'chat:*': z.object({ text: z.string() }),          // `*` matches any characters
 *     'trpc:user:*': z.object({ type: z.literal('query-invalidation'), queryKey: z.array(z.unknown()) }),
 *   });
 *
 * An exact channel name wins over a pattern; among patterns, the first declared that matches wins.
 * A channel no key matches is not checked.
 */
import { globToRegExp } from './glob.js';
import type { StandardSchemaV1 } from './standard-schema.js';

export { globMatcher, globToRegExp, type GlobOptions } from './glob.js';

export type { StandardSchemaV1 } from './standard-schema.js';

export type Contract = Readonly<Record<string, StandardSchemaV1>>;

/** `'trpc:user:*'` → `` `trpc:user:${string}` ``: the channel names a contract key covers. */
export type ChannelPattern<K extends string> = K extends `${infer A}*${infer B}` ? `${A}${string}${ChannelPattern<B>}` : K;

/** channel → message type after validation (what handlers receive). */
export type ContractOutput<C extends Contract> = { [K in keyof C & string as ChannelPattern<K>]: StandardSchemaV1.InferOutput<C[K]> };

/** channel → message type before validation (what publishers send). */
export type ContractInput<C extends Contract> = { [K in keyof C & string as ChannelPattern<K>]: StandardSchemaV1.InferInput<C[K]> };

/** Checks the shape of a contract once, at definition; returns it unchanged (with its literal type). */
export function defineContract<const C extends Contract>(contract: C): C {
  compile(contract);
  return contract;
}

interface Compiled {
  exact: Map<string, StandardSchemaV1>;
  patterns: { re: RegExp; key: string; schema: StandardSchemaV1 }[];
}

const compiled = new WeakMap<object, Compiled>();

function compile(contract: Contract): Compiled {
  let c = compiled.get(contract);
  if (c) return c;
  if (!contract || typeof contract !== 'object') throw new TypeError('a contract must be an object mapping channel patterns to schemas');
  c = { exact: new Map(), patterns: [] };
  for (const [key, schema] of Object.entries(contract)) {
    if (key === '') throw new TypeError('contract: an empty channel pattern');
    const std = (schema as Partial<StandardSchemaV1> | null)?.['~standard'];
    if (!std || std.version !== 1 || typeof std.validate !== 'function') {
      throw new TypeError(`contract: the schema for ${JSON.stringify(key)} does not implement Standard Schema v1 (no '~standard'.validate)`);
    }
    if (key.includes('*')) {
      const re = globToRegExp(key, { singleChar: false });
      c.patterns.push({ re, key, schema });
    } else c.exact.set(key, schema);
  }
  compiled.set(contract, c);
  return c;
}

/** The schema that governs `channel`, and the contract key it came from; undefined when none does. */
export function schemaFor(contract: Contract, channel: string): { key: string; schema: StandardSchemaV1 } | undefined {
  const c = compile(contract);
  const exact = c.exact.get(channel);
  if (exact) return { key: channel, schema: exact };
  for (const p of c.patterns) if (p.re.test(channel)) return { key: p.key, schema: p.schema };
  return undefined;
}

/** An issue in a plain, JSON-friendly form: a message and a dotted path. */
export interface ContractIssue {
  message: string;
  path: (string | number)[];
}

export type CheckResult = { ok: true; value: unknown; checked: boolean } | { ok: false; issues: ContractIssue[]; key: string };

/**
 * Validates `data` against the schema for `channel`. Resolves synchronously when the schema does
 * (the result is then a plain value, not a promise); `checked` is false when no key covers the channel.
 */
export function check(contract: Contract, channel: string, data: unknown): CheckResult | Promise<CheckResult> {
  const found = schemaFor(contract, channel);
  if (!found) return { ok: true, value: data, checked: false };
  let r: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
  try {
    r = found.schema['~standard'].validate(data);
  } catch (err) {
    return { ok: false, key: found.key, issues: [{ message: `the validator threw: ${err instanceof Error ? err.message : String(err)}`, path: [] }] };
  }
  if (r instanceof Promise) return r.then((res) => toCheck(found.key, res), (err: unknown) => toCheck(found.key, { issues: [{ message: `the validator threw: ${String(err)}` }] }));
  return toCheck(found.key, r);
}

function toCheck(key: string, r: StandardSchemaV1.Result<unknown>): CheckResult {
  if (r.issues) return { ok: false, key, issues: r.issues.map(plainIssue) };
  return { ok: true, value: r.value, checked: true };
}

function plainIssue(i: StandardSchemaV1.Issue): ContractIssue {
  // Array.from, not .map: a library's path may be an Array subclass (arktype's ReadonlyPath carries a
  // cache), and .map would build another one; the issue promises a plain array.
  const path = Array.from(i.path ?? [], (seg) => {
    const k = typeof seg === 'object' && seg !== null ? seg.key : seg;
    return typeof k === 'number' ? k : String(k);
  });
  return { message: String(i.message), path };
}

/** `queryKey.0: Expected string; text: Required` — for error messages. */
export function formatIssues(issues: readonly ContractIssue[]): string {
  return issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
