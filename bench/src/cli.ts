/**
 * `npm run bench [-- --quick] [--systems a,b] [--fan n] [--other <checkout dir>] [--profile <system id>]`
 * `npm run bench -- --scenario density [--n 10000,50000,100000] [--systems sb-native,ws-loop,socketio]`
 * `npm run bench -- --scenario storm [--n 50000] [--spread 5000]`
 * `npm run bench -- --scenario history-write [--seconds 3]`
 * `npm run bench -- --scenario wire-bytes [--n 1000,5000] [--pubs 200]`
 * `npm run bench -- --scenario patterns [--patterns 10000] [--fanout 1000] [--seconds 3]`
 * `npm run bench -- --scenario webhooks [--seconds 5] [--engine memory|redis] [--rounds 2]`
 * `npm run bench -- --scenario proxy [--connects 2000] [--subscribes 2000]`
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIGS, rerate, runBench, type BenchConfig, type BenchResult } from './run.js';
import { markdown, updateResultsFile } from './report.js';
import { densityCli } from './density-cli.js';

const argv = process.argv.slice(2);
const scenario = (() => {
  const i = argv.indexOf('--scenario');
  return i >= 0 ? argv[i + 1] : undefined;
})();
if (scenario === 'density' || scenario === 'storm') {
  await densityCli(scenario, argv);
  process.exit(0);
}
if (scenario === 'patterns') {
  await (await import('./patterns.js')).patternsCli(argv);
  process.exit(0);
}
if (scenario === 'webhooks') {
  await (await import('./webhooks.js')).webhooksCli(argv);
  process.exit(0);
}
if (scenario === 'wire-bytes') {
  await (await import('./wire-bytes.js')).wireBytesCli(argv);
  process.exit(0);
}
if (scenario === 'history-write') {
  await (await import('./history-write.js')).historyWriteCli(argv);
  process.exit(0);
}
if (scenario === 'proxy') {
  await (await import('./proxy-auth.js')).proxyAuthCli(argv);
  process.exit(0);
}
if (argv.includes('--render')) {
  // --render <results/….json>: regenerate the tables (and RESULTS.md) from a saved ladder run.
  const saved = rerate(JSON.parse(readFileSync(argv[argv.indexOf('--render') + 1]!, 'utf8')) as BenchResult);
  const md = markdown(saved);
  console.log(md);
  if (!argv.includes('--no-update')) updateResultsFile(`npm run bench${saved.meta.mode === 'quick' ? ' -- --quick' : ''}`, md);
  process.exit(0);
}
const mode: BenchConfig['mode'] = argv.includes('--tiny') ? 'tiny' : argv.includes('--quick') ? 'quick' : 'full';
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const cfg: BenchConfig = {
  mode,
  ...CONFIGS[mode],
  ...(opt('--systems') ? { systems: opt('--systems')!.split(',') } : {}),
  ...(opt('--profile') ? { profile: opt('--profile') } : {}),
  // --other <dir>: also run the native system from another checkout (system id sb-native-other).
  ...(opt('--other') ? { other: opt('--other') } : {}),
  // --fan 5000: one fan-out size (and as many connections), for before/after measurements.
  ...(opt('--fan') ? { fanSizes: opt('--fan')!.split(',').map(Number), total: Math.max(...opt('--fan')!.split(',').map(Number)) } : {}),
  ...(opt('--steps') ? { maxSteps: Number(opt('--steps')) } : {}),
  log: (s) => console.log(s),
};
// The server child holds one descriptor per connection: check the limit before a 10k storm.
try {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (m && Number(m[1]) < cfg.total + 1024) console.warn(`warning: open files limit ${m[1]} is below ${cfg.total + 1024}: raise it (ulimit -n 65536) or the storm will fail`);
} catch {
  // not Linux: nothing to check
}
const started = Date.now();
const result = await runBench(cfg);
const dir = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${mode}-${result.meta.date.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(result, null, 1));
const md = markdown(result);
console.log(`\n${md}`);
console.log(`raw results: ${file}`);
if (!argv.includes('--no-update') && mode !== 'tiny') {
  updateResultsFile(`npm run bench${mode === 'quick' ? ' -- --quick' : ''}`, md);
  console.log('bench/RESULTS.md updated');
}
console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
