/** Configuration problems as users read them: the dotted key, what is wrong, and the fix. */
import type { z } from 'zod';
import { follow, keyOf, nodeOf, valueAt } from './walk.js';

/** One problem found in a configuration; `key` is the dotted path (or an environment variable). */
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

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** ` (did you mean "presence"?)` when one known key is close enough to the unknown one. */
export function suggest(key: string, known: readonly string[]): string {
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
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * zod's issues in the words of this configuration: a wrong leaf value says what the key wants and
 * gives an example, an unknown key gets a "did you mean", a refinement keeps its own message.
 * `base` is where `schema` sits in the whole file (`["engine", "redis"]` for an engine section).
 */
export function describeIssues(schema: z.core.$ZodType, data: unknown, zodIssues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (path: readonly PropertyKey[], message: string) => {
    const key = keyOf([...base, ...path]) || '(root)';
    if (seen.has(`${key}\n${message}`)) return;
    seen.add(`${key}\n${message}`);
    out.push({ key, message });
  };
  for (const issue of zodIssues) {
    const { node, depth } = follow(schema, issue.path);
    const path = issue.path.slice(0, depth);
    const value = valueAt(data, path);
    if (issue.code === 'unrecognized_keys' && node.kind === 'object' && depth === issue.path.length) {
      for (const k of issue.keys) add([...path, k], `unknown key${suggest(k, Object.keys(node.shape))}; remove it or fix its name`);
    } else if (issue.code === 'custom' && (node.kind !== 'leaf' || depth === issue.path.length)) {
      // a refinement's own words ("at least \"1s\""), unless it judged a part of a leaf
      add(issue.path, issue.message);
    } else if (node.kind === 'leaf') {
      add(path, `expected ${node.meta.want}, got ${typeName(value)} ${JSON.stringify(value)}; write e.g. ${node.meta.example(String(path[path.length - 1] ?? ''))}`);
    } else if (node.kind === 'object' && depth === issue.path.length) {
      add(path, `expected an object, got ${typeName(value)}`);
    } else if (node.kind === 'array' && depth === issue.path.length) {
      add(path, `expected an array of ${nodeOf(node.element).kind === 'object' ? 'objects' : 'values'}, got ${typeName(value)}`);
    } else {
      add(issue.path, issue.message);
    }
  }
  return out;
}
