import { Errors, ReplyError } from './codes.js';

/**
 * Publication filtering by tags (Centrifugo v6's `tf` subscribe field, the SDK's `tagsFilter`): a
 * tree of leaf comparisons on a publication's `tags` and `and`/`or`/`not` nodes. Validated once at
 * subscribe (a bad filter is a 107 with the reason) and compiled to a predicate evaluated per
 * publication per filtered subscriber, without allocation.
 *
 * Leaves (`key`, `cmp`, `val` or `vals`): `eq`, `neq` (also true when the tag is missing), `in`,
 * `nin` (on `vals`), `ex`, `nex` (the tag exists or not), `starts`/`sw`, `ends`/`ew`,
 * `contains`/`ct` (string tests, false when missing), `gt`, `gte`, `lt`, `lte` (numeric: both sides
 * parse as decimal numbers, else false). Both spellings of the string tests are accepted: the
 * Go protocol uses `starts`/`ends`/`contains`, the JavaScript SDK's types `sw`/`ew`/`ct`.
 */
export type TagsPredicate = (tags: Readonly<Record<string, string>>) => boolean;

/** Bounds on a filter so that evaluating it stays cheap on the hot path. */
export const TAGS_FILTER_LIMITS = { nodes: 64, depth: 8, vals: 64, chars: 256 } as const;

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const CMP_ALIASES: Record<string, string> = { sw: 'starts', ew: 'ends', ct: 'contains' };

function bad(message: string): never {
  throw new ReplyError(Errors.badRequest, `bad tags filter: ${message}`);
}

function str(v: unknown, name: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(`${name} must be a string`);
  if (v.length > TAGS_FILTER_LIMITS.chars) bad(`${name} longer than ${TAGS_FILTER_LIMITS.chars} characters`);
  return v;
}

/** A tag's value; only own keys (a tag named `constructor` is not the prototype's). */
function tag(t: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(t, key) ? t[key] : undefined;
}

function num(s: string): number | undefined {
  return NUMBER.test(s) ? Number(s) : undefined;
}

/** Validates a filter as the client sent it and compiles it; throws a 107 ReplyError saying what is wrong. */
export function compileTagsFilter(raw: unknown): TagsPredicate {
  let count = 0;
  const compile = (n: unknown, depth: number): TagsPredicate => {
    if (typeof n !== 'object' || n === null || Array.isArray(n)) bad('a node must be an object');
    if (++count > TAGS_FILTER_LIMITS.nodes) bad(`more than ${TAGS_FILTER_LIMITS.nodes} nodes`);
    if (depth > TAGS_FILTER_LIMITS.depth) bad(`nested deeper than ${TAGS_FILTER_LIMITS.depth}`);
    const node = n as Record<string, unknown>;
    const op = str(node['op'], 'op');
    const rawNodes = node['nodes'];
    if (rawNodes !== undefined && rawNodes !== null && !Array.isArray(rawNodes)) bad('nodes must be an array');
    const children = (rawNodes ?? []) as unknown[];
    if (op === 'and' || op === 'or') {
      if (children.length === 0) bad(`${op} needs at least one node`);
      const cs = children.map((c) => compile(c, depth + 1));
      return op === 'and' ? (t) => cs.every((c) => c(t)) : (t) => cs.some((c) => c(t));
    }
    if (op === 'not') {
      if (children.length !== 1) bad('not needs exactly one node');
      const c = compile(children[0], depth + 1);
      return (t) => !c(t);
    }
    if (op !== '') bad(`unknown op ${JSON.stringify(op)} (and, or, not, or none for a comparison)`);
    if (children.length > 0) bad('a comparison has no nodes');
    const given = str(node['cmp'], 'cmp');
    if (given === '') bad('a comparison needs cmp');
    const cmp = CMP_ALIASES[given] ?? given;
    const key = str(node['key'], 'key');
    const val = str(node['val'], 'val');
    const rawVals = node['vals'];
    if (rawVals !== undefined && rawVals !== null && !Array.isArray(rawVals)) bad('vals must be an array');
    const vals = ((rawVals ?? []) as unknown[]).map((v) => str(v, 'vals[]'));
    if (vals.length > TAGS_FILTER_LIMITS.vals) bad(`more than ${TAGS_FILTER_LIMITS.vals} vals`);
    if (key === '') bad(`${given} needs a key`);
    switch (cmp) {
      case 'in':
      case 'nin': {
        if (vals.length === 0) bad(`${cmp} needs vals`);
        if (val !== '') bad(`${cmp} takes vals, not val`);
        const set = new Set(vals);
        return cmp === 'in' ? (t) => set.has(tag(t, key) as string) : (t) => !set.has(tag(t, key) as string);
      }
      case 'ex':
      case 'nex':
        if (val !== '' || vals.length > 0) bad(`${cmp} takes neither val nor vals`);
        return cmp === 'ex' ? (t) => Object.hasOwn(t, key) : (t) => !Object.hasOwn(t, key);
      case 'eq':
      case 'neq':
      case 'starts':
      case 'ends':
      case 'contains':
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        if (val === '') bad(`${given} needs val`);
        if (vals.length > 0) bad(`${given} takes val, not vals`);
        break;
      default:
        bad(`unknown cmp ${JSON.stringify(given)}`);
    }
    switch (cmp) {
      case 'eq':
        return (t) => tag(t, key) === val;
      case 'neq':
        return (t) => tag(t, key) !== val;
      case 'starts':
        return (t) => tag(t, key)?.startsWith(val) === true;
      case 'ends':
        return (t) => tag(t, key)?.endsWith(val) === true;
      case 'contains':
        return (t) => tag(t, key)?.includes(val) === true;
    }
    const bound = num(val);
    if (bound === undefined) bad(`${given} needs a number in val`);
    const test = cmp === 'gt' ? (x: number) => x > bound : cmp === 'gte' ? (x: number) => x >= bound : cmp === 'lt' ? (x: number) => x < bound : (x: number) => x <= bound;
    return (t) => {
      const v = tag(t, key);
      if (v === undefined) return false;
      const x = num(v);
      return x !== undefined && test(x);
    };
  };
  return compile(raw, 1);
}
