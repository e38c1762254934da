/** `--scenario density|storm [--render <saved.json>]`: run (or re-render a saved run), write the JSON, print and (unless --no-update) update RESULTS.md. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DENSITY_DEFAULTS, openFilesLimit, runDensity, runStorm, type DensityConfig, type DensityResult } from './density.js';
import { densityMarkdown } from './density-report.js';
import { updateResultsFile } from './report.js';

export async function densityCli(scenario: 'density' | 'storm', argv: string[]): Promise<void> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const cfg: DensityConfig = {
    ...DENSITY_DEFAULTS,
    levels: (opt('--n') ?? (scenario === 'density' ? '10000,50000,100000' : '50000')).split(',').map(Number),
    ...(opt('--systems') ? { systems: opt('--systems')!.split(',') } : {}),
    ...(opt('--idle-ms') ? { idleWindowMs: Number(opt('--idle-ms')) } : {}),
    ...(opt('--spread') ? { spreadMs: Number(opt('--spread')) } : {}),
    ...(opt('--sources') ? { sources: Number(opt('--sources')) } : {}),
    ...(argv.includes('--heap-snapshots') ? { heapSnapshots: true } : {}),
    log: (s) => console.log(s),
  };
  // --render <results/….json>: regenerate the tables and RESULTS.md section from a saved run.
  const render = opt('--render');
  if (render) {
    const saved = JSON.parse(readFileSync(render, 'utf8')) as DensityResult;
    const md = densityMarkdown(saved);
    console.log(md);
    if (!argv.includes('--no-update')) updateResultsFile(`npm run bench -- --scenario ${scenario} --n ${saved.meta.config.levels.join(',')}`, md, saved.meta.scenario);
    return;
  }
  if (cfg.levels.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--n wants positive integers, got ${opt('--n')}`);
  const limit = openFilesLimit();
  if (limit < Math.max(...cfg.levels) + 1024) console.warn(`warning: open files limit ${limit}: levels above ${limit - 512} connections cannot run (raise the hard limit: ulimit -Hn)`);
  const started = Date.now();
  const result = scenario === 'density' ? await runDensity(cfg) : await runStorm(cfg);
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${scenario}-${result.meta.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(result, null, 1));
  const md = densityMarkdown(result);
  console.log(`\n${md}\nraw results: ${file}`);
  if (!argv.includes('--no-update')) {
    updateResultsFile(`npm run bench -- ${argv.join(' ')}`, md, scenario);
    console.log('bench/RESULTS.md updated');
  }
  console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
