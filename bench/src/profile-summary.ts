/** `node --import tsx src/profile-summary.ts <file.cpuprofile> [top]`: self time by function. */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
export function summarize(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[] };
  const self = new Map<string, number>();
  let total = 0;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const id of p.samples) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/(packages|bench)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    total++;
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n');
}
if (process.argv[2]) console.log(summarize(process.argv[2], Number(process.argv[3] ?? 25)));
