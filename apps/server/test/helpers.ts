/**
 * Runs the standalone server the way the README says (`switchboard serve --config FILE --port N`)
 * as a child process, from source through tsx so a stale build can never be what is tested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { Centrifuge, type Options as CentrifugeOptions } from 'centrifuge';
import { waitFor, waitForEvent, type EventSource } from '@switchboard/server/testing';

export const ROOT = new URL('../../../', import.meta.url).pathname;

/** Every source file has an up-to-date build next to it (per file: tsc -b rewrites only what changed). */
function buildIsFresh(): boolean {
  for (const pkg of ['packages/server', 'apps/server']) {
    const walk = (dir: string): boolean => {
      for (const name of readdirSync(join(ROOT, pkg, 'src', dir))) {
        const rel = join(dir, name);
        const src = join(ROOT, pkg, 'src', rel);
        if (statSync(src).isDirectory()) {
          if (!walk(rel)) return false;
        } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
          const out = join(ROOT, pkg, 'dist', rel.replace(/\.ts$/, '.js'));
          if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) return false;
        }
      }
      return true;
    };
    if (!walk('')) return false;
  }
  return true;
}

/**
 * The CLI as the README runs it (`node apps/server/dist/cli.js`, what `npm start` does) when the
 * build is up to date, which it is in CI (npm ci builds); from source through tsx otherwise, so a
 * stale build is never what is tested.
 */
export const FROM_DIST = buildIsFresh();
const NODE_ARGS = FROM_DIST ? [join(ROOT, 'apps/server/dist/cli.js')] : ['--conditions=source', '--import', 'tsx', join(ROOT, 'apps/server/src/cli.ts')];

export const SECRET = 'standalone-test-hmac-secret-0123456789';
export const API_KEY = 'standalone-test-api-key';
export const ADMIN_PASSWORD = 'admin-test-password';

/** A config like a production one: tokens, API key, admin password, the demo chat namespace. */
export function testConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client: { token: { hmac_secret_key: SECRET } },
    http_api: { key: API_KEY },
    admin: { enabled: true, password: ADMIN_PASSWORD, secret: 'admin-cookie-signing-secret-xyz' },
    demo: { enabled: true, channel: 'chat:lobby' },
    log: { level: 'debug' },
    shutdown: { timeout: '5s' },
    channel: {
      without_namespace: { allow_subscribe_for_client: true },
      namespaces: [
        {
          name: 'chat',
          presence: true,
          join_leave: true,
          force_push_join_leave: true,
          history_size: 50,
          history_ttl: '300s',
          force_recovery: true,
          allow_subscribe_for_client: true,
          allow_publish_for_subscriber: true,
          allow_presence_for_subscriber: true,
          allow_history_for_subscriber: true,
        },
      ],
    },
    ...extra,
  };
}

export function writeConfig(config: unknown, name = 'config.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const file = join(dir, name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion (bounded). */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchboard ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment without SWITCHBOARD_* variables, so the caller's shell cannot change a test. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SWITCHBOARD_')) env[k] = v;
  return env;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  base: string;
  wsUrl: string;
  /** Every log line (JSON) the server wrote so far. */
  logs: Record<string, unknown>[];
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** `switchboard serve --config FILE --port 0`, resolved once the server logs where it listens. */
export async function startServerProcess(configFile: string | undefined, env: Record<string, string> = {}, extraArgs: string[] = []): Promise<ServerProcess> {
  const args = ['serve', ...(configFile ? ['--config', configFile] : []), '--port', '0', ...extraArgs];
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  let buffered = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind (it would keep the test process alive).
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 45 s:\n${raw}`));
    }, 45_000);
    child.stderr.on('data', (d: Buffer) => (raw += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      raw += d.toString();
      buffered += d.toString();
      let i;
      while ((i = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry['msg'] === 'switchboard listening') {
            clearTimeout(timer);
            resolve(entry['port'] as number);
          }
        } catch {
          /* not a log line */
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${raw}`));
    });
  });
  return {
    child,
    port,
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    logs,
    output: () => raw,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function gentoken(configFile: string, user: string, ttl = 3600): Promise<string> {
  const r = await runCli(['gentoken', '--config', configFile, '--user', user, '--ttl', String(ttl)]);
  if (r.code !== 0) throw new Error(`gentoken failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A connection token signed in-process with the test config's secret (what gentoken prints). */
export function signToken(user: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: user, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

export function sdk(url: string, options: Partial<CentrifugeOptions> = {}): Centrifuge {
  return new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000, ...options });
}

/** The next `event` on `emitter` (the shared bounded wait, 10 s here: a child-process server is slower). */
export function once<T = unknown>(emitter: EventSource, event: string, ms = 10_000): Promise<T> {
  return waitForEvent<T>(emitter, event, ms);
}

/** The shared polling helper, 10 s here. */
export function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  return waitFor(check, ms, what);
}

/** POST /api/<method> with the API key. */
export async function api(base: string, method: string, body: unknown, headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(`${base}/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}
