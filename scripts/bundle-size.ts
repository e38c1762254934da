// Browser bundle size of every client-side entry point: each is bundled alone with esbuild
// (minified ESM, browser conditions, from the TypeScript sources), frameworks and sibling
// @switchboard packages external, so a number is what that entry adds to an app. Gzip level 9.
//
//   node --import tsx scripts/bundle-size.ts            # print the table and check the budget
//   node --import tsx scripts/bundle-size.ts --write    # also rewrite docs/bundle-sizes.md
//
// The budget (scripts/size-budget.json, gzip bytes per entry) is checked in CI by
// packages/client/test/bundle-size.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

export interface EntrySize {
  entry: string;
  /** What the entry includes besides its own code. */
  includes: string;
  minified: number;
  /** Minified bytes from node_modules (the official SDK, for the client). */
  thirdParty: number;
  gzip: number;
}

const FRAMEWORKS = ['react', 'react-dom', 'react/jsx-runtime', 'vue', 'svelte', 'solid-js', '@tanstack/react-query', '@tanstack/vue-query'];

/** entry → [import specifier, packages bundled in, extra externals] */
const ENTRIES: [string, string, string[]][] = [
  ['@switchboard/client', 'centrifuge, @switchboard/contract', []],
  ['@switchboard/client/channels', '', []],
  ['@switchboard/contract', '', []],
  ['@switchboard/react', '', ['@switchboard/client']],
  ['@switchboard/vue', '', ['@switchboard/client']],
  ['@switchboard/svelte', '', ['@switchboard/client']],
  ['@switchboard/solid', '', ['@switchboard/client']],
  ['@switchboard/tanstack-query', '', ['@switchboard/client']],
  ['@switchboard/tanstack-query/react', '', ['@switchboard/client', '@switchboard/react']],
  ['@switchboard/tanstack-query/vue', '', ['@switchboard/client', '@switchboard/vue']],
];

export async function measure(): Promise<EntrySize[]> {
  const out: EntrySize[] = [];
  for (const [entry, includes, externals] of ENTRIES) {
    const specifier = entry;
    const r = await build({
      stdin: { contents: `export * from '${specifier}';`, resolveDir: root, loader: 'js' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['source'],
      external: [...FRAMEWORKS, ...externals],
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
      metafile: true,
    });
    const code = r.outputFiles[0]!.contents;
    const inputs = Object.values(r.metafile.outputs)[0]?.inputs ?? {};
    const thirdParty = Object.entries(inputs).reduce((n, [path, i]) => (path.includes('node_modules/') ? n + i.bytesInOutput : n), 0);
    out.push({ entry, includes, minified: code.length, thirdParty, gzip: gzipSync(code, { level: 9 }).length });
  }
  return out;
}

export function budget(): Record<string, number> {
  return JSON.parse(readFileSync(new URL('./size-budget.json', import.meta.url), 'utf8')) as Record<string, number>;
}

/** Entries over budget (or without one), as messages. */
export function overBudget(sizes: EntrySize[], limits = budget()): string[] {
  const problems: string[] = [];
  for (const s of sizes) {
    const max = limits[s.entry];
    if (max === undefined) problems.push(`${s.entry}: no budget in scripts/size-budget.json`);
    else if (s.gzip > max) problems.push(`${s.entry}: ${s.gzip} B gzip is over its budget of ${max} B`);
  }
  return problems;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

function table(sizes: EntrySize[], limits: Record<string, number>): string {
  const rows = sizes.map((s) => `| \`${s.entry}\` | ${s.includes || '—'} | ${kb(s.minified)} | ${s.thirdParty ? kb(s.thirdParty) : '—'} | ${kb(s.gzip)} | ${limits[s.entry] === undefined ? '—' : kb(limits[s.entry]!)} |`);
  return ['| entry | bundles in | minified | of which from node_modules | gzip | budget (gzip) |', '| --- | --- | ---: | ---: | ---: | ---: |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await measure();
  const limits = budget();
  const t = table(sizes, limits);
  console.log(t);
  if (process.argv.includes('--write')) {
    const doc = `# Bundle sizes

What each client-side entry point adds to a browser app: bundled alone with esbuild (minified ESM,
browser conditions), with React, Vue, Svelte, Solid, TanStack Query and the other \`@switchboard\`
packages it imports left external (they are counted in their own rows). Gzip level 9.
\`@switchboard/client\` includes the official \`centrifuge\` SDK, which is most of it, and
\`@switchboard/contract\` (its own row shows its share).

${t}

Measured with \`npm run size\` (\`scripts/bundle-size.ts\`); the budget is \`scripts/size-budget.json\` and
\`packages/client/test/bundle-size.test.ts\` fails CI when an entry grows past it.
`;
    writeFileSync(new URL('../docs/bundle-sizes.md', import.meta.url), doc);
  }
  const problems = overBudget(sizes, limits);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exitCode = 1;
  }
}
