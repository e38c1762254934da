// Browser test harness: bundles page entries once per test file with Vite (workspace packages from
// their TypeScript sources), launches Debian's Chromium once, and serves the pages next to a
// Switchboard node with a token endpoint and the HTTP API, on an ephemeral port on 127.0.0.1.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, defaultClientConditions, type PluginOption } from 'vite';
import { createSwitchboard, createApiHandler, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import { waitFor } from '@switchboard/server/testing';
import { signConnectionToken } from '@switchboard/client/server';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
/** Under CI a missing Chromium fails the suite; elsewhere it is skipped with the reason. */
export const skipBrowser: string | false = !present && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false;

export const API_KEY = 'browser-harness-api-key';
export const SECRET = 'browser-harness-secret-0123456789abcdef';

/** Bundles each entry (name → absolute path of a .ts/.tsx file) into `<outDir>/<name>.js`. */
export async function bundle(entries: Record<string, string>, plugins: PluginOption[] = []): Promise<{ dir: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-pages-'));
  await build({
    configFile: false,
    logLevel: 'error',
    plugins,
    resolve: { conditions: ['source', ...defaultClientConditions] },
    define: { 'process.env.NODE_ENV': '"production"', __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
    esbuild: { jsx: 'automatic' },
    build: {
      outDir: dir,
      emptyOutDir: true,
      reportCompressedSize: false,
      minify: false,
      modulePreload: false,
      rollupOptions: { input: entries, output: { entryFileNames: '[name].js', chunkFileNames: 'chunk-[hash].js' }, preserveEntrySignatures: 'strict' },
    },
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Registers this test file's `before`/`after`: bundles `entries` once and launches Chromium once
 * (nothing when skipped); the getters are valid inside tests.
 */
export function browserPages(entries: Record<string, string>, plugins: PluginOption[] = []): { dir(): string; browser(): Browser } {
  let pages: { dir: string; remove(): void } | undefined;
  let browser: Browser | undefined;
  before(async () => {
    if (skipBrowser) return;
    pages = await bundle(entries, plugins);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    pages?.remove();
  });
  return { dir: () => pages!.dir, browser: () => browser! };
}

export async function launch(): Promise<Browser> {
  if (!present) throw new Error(`Chromium is required under CI (looked for ${CHROMIUM})`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
}

export interface PageServer {
  sb: Switchboard;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  wsUrl: string;
  /** Token requests answered, by the `tab` query parameter ('' when none). */
  tokenRequests: string[];
  close(): Promise<void>;
}

export interface PageServerOptions {
  staticDir: string;
  switchboard?: SwitchboardOptions;
  /** Lifetime of minted tokens in seconds (default one hour). */
  tokenTtl?: number;
  port?: number;
  /** Extra routes (return true when handled). */
  route?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

/**
 * Serves `/<name>.html` (a page that loads `/<name>.js` as a module), the bundles, `GET
 * /token?user=&tab=` (a connection JWT) and the HTTP API at `/api`, with a Switchboard node at
 * `/connection/websocket`.
 */
export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const sb = createSwitchboard({ token: { hmacSecret: SECRET }, ...options.switchboard });
  const api = createApiHandler(sb, { key: API_KEY });
  const tokenRequests: string[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await api(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (options.route && (await options.route(req, res, url))) return;
    if (url.pathname === '/token') {
      tokenRequests.push(url.searchParams.get('tab') ?? '');
      const token = await signConnectionToken({ sub: url.searchParams.get('user') ?? 'u1', expiresIn: options.tokenTtl ?? 3600 }, SECRET);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ token }));
      return;
    }
    const m = /^\/([\w-]+)\.(html|js)$/.exec(url.pathname);
    if (m && m[2] === 'html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${m[1]}</title></head><body><div id="app"></div><script type="module" src="/${m[1]}.js"></script></body></html>`);
      return;
    }
    const file = /^\/([\w.-]+\.js)$/.exec(url.pathname);
    if (file && existsSync(join(options.staticDir, file[1]!))) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(readFileSync(join(options.staticDir, file[1]!)));
      return;
    }
    res.writeHead(404).end('not found');
  }
  sb.attach(server, { path: '/connection/websocket' });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    sb,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    tokenRequests,
    async close() {
      await sb.shutdown({ timeoutMs: 1000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `check` holds (the shared polling helper), failing with `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  let lastErr: unknown;
  // the shared polling helper; a check that throws (the page is navigating) counts as not yet
  const tolerant = async () => {
    try {
      return await check();
    } catch (err) {
      lastErr = err;
      return false;
    }
  };
  try {
    await waitFor(tolerant, ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}${lastErr ? ` (last error: ${lastErr instanceof Error ? lastErr.message : JSON.stringify(lastErr)})` : ''}`);
  }
}

/** Collects uncaught page errors, so a test can assert there were none. */
export function pageErrors(page: Page): string[] {
  const out: string[] = [];
  page.on('pageerror', (e) => out.push(String(e)));
  return out;
}
