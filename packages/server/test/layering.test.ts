import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Rules of the core's shape (docs/design.md §3, issue 12), checked over the sources themselves.

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const MAX_LINES = 600;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const rel = (p: string): string => relative(SRC, p).split(sep).join('/');

/** Every module specifier a file imports or re-exports (static `from '…'`, side-effect `import '…'`, dynamic `import('…')`). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

const importsNodeClass = (text: string): boolean => importsOf(text).some((s) => /(^|\/)switchboard\.js$/.test(s));

test('layering: the import scanner sees every form of import (so the rules below can fail)', () => {
  assert.ok(importsNodeClass(`import type { Switchboard } from '../../switchboard.js';`));
  assert.ok(importsNodeClass(`import {\n  Switchboard,\n} from "../switchboard.js";`));
  assert.ok(importsNodeClass(`export { Switchboard } from './switchboard.js';`));
  assert.ok(importsNodeClass(`const m = await import('../switchboard.js');`));
  assert.ok(importsNodeClass(`import './switchboard.js';`));
  assert.ok(!importsNodeClass(`import type { SessionHost } from '../protocol.js';`));
  assert.ok(!importsNodeClass(`import { x } from './switchboard-helpers.js';`));
});

test('layering: no protocol file (src/protocols/**, src/protocol.ts) imports the node class; they use SessionHost / RequestTransportHost', () => {
  const files = [...sources(join(SRC, 'protocols')), join(SRC, 'protocol.ts')];
  assert.ok(files.length >= 10, `found only ${files.length} protocol files: the walk is broken`);
  const offenders = files.filter((f) => importsNodeClass(readFileSync(f, 'utf8'))).map(rel);
  assert.deepEqual(offenders, [], `these protocol files import switchboard.js: ${offenders.join(', ')}`);
});

test('layering: protocol.ts does not import connection.ts (connection.ts imports protocol.ts: that would be a cycle, even type-only)', () => {
  assert.ok(importsOf(readFileSync(join(SRC, 'connection.ts'), 'utf8')).includes('./protocol.js'), 'connection.ts no longer imports protocol.ts: revisit this rule');
  const back = importsOf(readFileSync(join(SRC, 'protocol.ts'), 'utf8')).filter((s) => s === './connection.js');
  assert.deepEqual(back, [], 'protocol.ts imports ./connection.js');
});

test(`layering: every file under packages/server/src has at most ${MAX_LINES} lines`, () => {
  const files = sources(SRC);
  assert.ok(files.length >= 50, `found only ${files.length} source files: the walk is broken`);
  const over = files
    .map((f) => ({ file: rel(f), lines: readFileSync(f, 'utf8').split('\n').length }))
    .filter((x) => x.lines > MAX_LINES)
    .map((x) => `${x.file} (${x.lines})`);
  assert.deepEqual(over, [], `over ${MAX_LINES} lines: ${over.join(', ')}; split it by concept (docs/design.md §3)`);
});
