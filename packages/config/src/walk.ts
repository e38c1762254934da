/** Finding one's way in a composed schema: through optional/default/transform wrappers to objects, arrays and leaves. */
import { z } from 'zod';
import { type LeafMeta, leaves } from './leaves.js';

export type Node =
  | { kind: 'leaf'; meta: LeafMeta }
  | { kind: 'object'; shape: Readonly<Record<string, z.core.$ZodType>> }
  | { kind: 'array'; element: z.core.$ZodType }
  | { kind: 'other' };

/** What a schema is once its wrappers are looked through. */
export function nodeOf(schema: z.core.$ZodType): Node {
  let s: z.core.$ZodType = schema;
  for (;;) {
    const meta = leaves.get(s);
    if (meta) return { kind: 'leaf', meta };
    if (s instanceof z.ZodObject) return { kind: 'object', shape: s.shape };
    if (s instanceof z.ZodArray) return { kind: 'array', element: s.element };
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodPipe) s = s.in;
    else return { kind: 'other' };
  }
}

/**
 * Follows `path` from `schema` and stops early at a leaf (an issue inside an array of strings is
 * the whole key's). Returns the node reached and how much of the path it took.
 */
export function follow(schema: z.core.$ZodType, path: readonly PropertyKey[]): { node: Node; depth: number } {
  let node = nodeOf(schema);
  let depth = 0;
  for (const seg of path) {
    if (node.kind === 'object' && typeof seg === 'string' && node.shape[seg] !== undefined) node = nodeOf(node.shape[seg]);
    else if (node.kind === 'array' && typeof seg === 'number') node = nodeOf(node.element);
    else break;
    depth++;
    if (node.kind === 'leaf') break;
  }
  return { node, depth };
}

/** `channel.namespaces[0].name` */
export function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out;
}

/** The value at `path` in plain data, or undefined. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}
