// A new user's first hour, as a test: clone the repository (its committed HEAD) into a temporary
// folder, run the README's install command once, then every command line of the READMEs'
// standalone sections (README.md "The standalone server", apps/server/README.md "Run it"), read
// from the READMEs themselves. After the install, npm is offline and pointed at a dead registry,
// so a command that would fetch our own tool from a registry fails instead of passing by luck.
// Heavy (an install and a build): one test, bounded, and every process it starts is killed. Beside
// it, a quick scan: no committed document or example says `npx switchboard`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../packages/server/test/helpers.js';
import { waitFor } from '@switchboard/server/testing';
import { ROOT } from './helpers.js';

const TIMEOUT_MS = 18 * 60_000;
const groups = new Set<number>();
let dir: string | undefined;

/** The fenced ```sh block right after `heading` in a markdown file, as command lines (continuations joined, comments dropped). */
export function shellBlock(markdown: string, heading: string): string[] {
  const at = markdown.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `heading "${heading}" not found`);
  const m = /```sh\n([\s\S]*?)```/.exec(markdown.slice(at));
  assert.ok(m, `no sh block after "${heading}"`);
  return m[1]!
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function run(cmd: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // At a lower CPU priority: the install builds every workspace while other suites run beside it.
    const child = spawn('nice', ['-n', '10', 'bash', '-c', cmd], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    groups.add(child.pid!);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => killGroup(child.pid!), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

after(async () => {
  // Servers started by the script run in their own process groups (setsid); the script writes them
  // to pids.txt. Stop them and the script's own group, and wait until they are gone.
  if (dir) {
    let pids: number[] = [];
    try {
      pids = readFileSync(join(dir, 'repo', 'pids.txt'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      /* none started */
    }
    for (const p of [...pids, ...groups]) killGroup(p);
    // bounded; whatever is still alive after it is named by the assertion below
    await waitFor(() => ![...pids, ...groups].some(alive), 10_000, 'every process to exit').catch(() => {});
    assert.deepEqual([...pids, ...groups].filter(alive), [], 'no process is left behind');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every committed markdown file and every file under examples/: the documents a new user copies commands from. */
export function documentedFiles(root: string): string[] {
  const r = spawnSync('git', ['ls-files', '-z', '--', '*.md', 'examples/'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').filter((f) => f !== '' && !f.includes('node_modules/'));
}

// `npx switchboard` works only after a second install (the bin is linked before the build) and,
// where it is not linked, asks the registry for whatever is published under that name. The
// READMEs say `npm run switchboard -- …`; this keeps every document and example that way.
test('no document or example tells a user to run `npx switchboard`', () => {
  const files = documentedFiles(ROOT);
  assert.ok(files.includes('README.md') && files.includes('examples/echo-chat/README.md'), `the scan sees the READMEs (${files.length} files)`);
  const offending: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, f), 'utf8');
    } catch {
      continue; // deleted in the working tree
    }
    text.split('\n').forEach((line, i) => {
      if (/\bnpx\s+(--?\S+\s+)*switchboard\b/.test(line)) offending.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offending, [], 'use `npm run switchboard -- …` instead');
});

test('fresh clone: the README install once, then every standalone command line of the READMEs', { timeout: TIMEOUT_MS }, async (t) => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-clone-'));
  const repo = join(dir, 'repo');
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_') || k.startsWith('npm_')) delete env[k];

  const clone = await run(`git clone --quiet --no-hardlinks ${JSON.stringify(ROOT)} ${JSON.stringify(repo)}`, dir, env, 120_000);
  assert.equal(clone.code, 0, clone.out);

  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const install = shellBlock(readme, '## Quick start')[0]!.split('&&')[0]!.trim();
  assert.equal(install, 'npm install', "the README's install command");
  // The package install is the only step allowed to use the network; the npm cache serves what it has.
  const installed = await run(`${install} --prefer-offline --no-audit --no-fund`, repo, env, 13 * 60_000); // better-sqlite3 compiles from source where its prebuilt binary cannot be fetched
  assert.equal(installed.code, 0, installed.out.slice(-4000));

  const blocks = [
    { file: 'README.md', lines: shellBlock(readme, '## The standalone server') },
    { file: 'apps/server/README.md', lines: shellBlock(readFileSync(join(repo, 'apps/server/README.md'), 'utf8'), '## Run it') },
  ];
  // Every literal port of the READMEs gets a free one (a machine running tests in parallel).
  const ports = new Map<string, number>();
  for (const p of ['8000', '9000']) ports.set(p, await freePort());
  const withPorts = (line: string) => line.replace(/\b(8000|9000)\b/g, (p) => String(ports.get(p)));

  // One bash script per README block, so `KEY=$(…)` carries to the next line as in a terminal.
  // `npm start` lines run in the background in their own process group; the next line waits for
  // /health. A server is stopped before the next one starts.
  const script: string[] = [
    'set -euo pipefail',
    `stop_servers() { if [ -f pids.txt ]; then while read -r p; do kill -TERM -- "-$p" 2>/dev/null || true; done < pids.txt; ` +
      `for p in $(cat pids.txt); do for _ in $(seq 1 200); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.05; done; done; fi; }`,
  ];
  for (const block of blocks) {
    script.push(`echo "=== ${block.file}"`, 'rm -f config.json');
    for (const raw of block.lines) {
      const line = withPorts(raw);
      if (/^npm install\b/.test(line)) continue; // done once above
      script.push(`echo "\\$ ${line.replace(/["\\$`]/g, '\\$&')}"`);
      if (/^npm start\b/.test(line)) {
        const port = /--port (\d+)/.exec(line)?.[1] ?? String(ports.get('8000'));
        script.push(
          'stop_servers',
          `SWITCHBOARD_HTTP_SERVER_PORT=${ports.get('8000')} setsid bash -c ${JSON.stringify(line)} > "server-${port}.log" 2>&1 < /dev/null & echo $! >> pids.txt`,
          `for _ in $(seq 1 600); do curl -sf http://127.0.0.1:${port}/health > /dev/null && break; sleep 0.1; done`,
          `curl -sf http://127.0.0.1:${port}/health > /dev/null || { echo "server on ${port} did not start:"; cat "server-${port}.log"; exit 1; }`,
        );
      } else script.push(line, 'echo');
    }
  }
  script.push('stop_servers');
  writeFileSync(join(repo, 'first-hour.sh'), `${script.join('\n')}\n`);
  const offline = {
    ...env,
    npm_config_offline: 'true',
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_update_notifier: 'false',
  };
  const r = await run('bash first-hour.sh', repo, offline, 4 * 60_000);
  t.diagnostic(r.out.slice(-3000));
  assert.equal(r.code, 0, r.out);
  // What the commands printed: a valid config, JWTs, and the publish result.
  assert.match(r.out, /configuration config\.json is valid/);
  assert.match(r.out, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/m, 'gentoken printed a JWT alone on its line');
  assert.match(r.out, /\{"result":\{"subscribers":0\}\}/, 'the curl publish succeeded and says it reached nobody');
  assert.match(r.out, /^switchboard \d+\.\d+\.\d+/m, 'version');
  // genconfig wrote secrets into the clone's root: git must not offer to commit them.
  assert.ok(existsSync(join(repo, 'config.json')), 'genconfig wrote config.json at the root');
  const ignored = spawnSync('git', ['check-ignore', '-q', 'config.json'], { cwd: repo });
  assert.equal(ignored.status, 0, 'config.json is git-ignored');
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: repo, encoding: 'utf8' });
  assert.equal(status.status, 0, status.stderr);
  assert.doesNotMatch(status.stdout, /config\.(json|ya?ml)/, 'git status lists no generated config');
});
