/**
 * `node --import tsx src/heap-summary.ts <file.heapsnapshot> [divisor]`: self size by constructor.
 * `node --import tsx src/heap-summary.ts <before.heapsnapshot> <after.heapsnapshot> <divisor>`:
 * what grew between the two, per unit (per connection added between the snapshots).
 */
import { readFileSync } from 'node:fs';

function byConstructor(file: string): Map<string, { n: number; size: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const nf = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const by = new Map<string, { n: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${snap.strings[snap.nodes[i + iName]!]}` : `(${type})`;
    const e = by.get(name) ?? { n: 0, size: 0 };
    e.n++;
    e.size += snap.nodes[i + iSize]!;
    by.set(name, e);
  }
  return by;
}

const [a, b, c] = process.argv.slice(2);
const diff = b !== undefined && b.endsWith('.heapsnapshot');
const per = Number((diff ? c : b) ?? 1);
const after = byConstructor(diff ? b : a!);
const before = diff ? byConstructor(a!) : new Map<string, { n: number; size: number }>();
const rows = [...after].map(([k, v]) => [k, { n: v.n - (before.get(k)?.n ?? 0), size: v.size - (before.get(k)?.size ?? 0) }] as const);
rows.sort((x, y) => y[1].size - x[1].size);
let total = 0;
for (const [, v] of rows) total += v.size;
for (const [k, v] of rows.slice(0, 40)) console.log(`${(v.size / per).toFixed(0).padStart(8)} B  ${(v.n / per).toFixed(2).padStart(7)}×  ${k}`);
console.log(`${(total / per).toFixed(0).padStart(8)} B  in all`);
