/** `node --import tsx src/heap-summary.ts <file.heapsnapshot> [divisor]`: self size by constructor. */
import { readFileSync } from 'node:fs';

const file = process.argv[2]!;
const per = Number(process.argv[3] ?? 1);
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
const rows = [...by].sort((a, b) => b[1].size - a[1].size).slice(0, 40);
for (const [k, v] of rows) console.log(`${(v.size / per).toFixed(0).padStart(8)} B  ${(v.n / per).toFixed(2).padStart(7)}×  ${k}`);
