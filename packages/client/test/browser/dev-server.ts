// A Vite dev server (with HMR) over a temporary copy of page sources, for fast refresh / HMR tests.
// The copy lives inside the calling package (so `react`, `vue` and the workspace packages resolve
// from the repository's node_modules, from their TypeScript sources) and is removed on close.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, defaultClientConditions, type PluginOption, type ViteDevServer } from 'vite';

const nodeModules = fileURLToPath(new URL('../../../../node_modules/', import.meta.url));

export interface DevServer {
  /** http://127.0.0.1:<port> */
  url: string;
  vite: ViteDevServer;
  /** Rewrites `file` (relative to the page root) with `replace` applied to its current text; throws if it changes nothing. */
  edit(file: string, replace: (text: string) => string): void;
  close(): Promise<void>;
}

/**
 * Copies `sourceDir` into a fresh `<parentDir>/.hmr-XXXXXX` and serves it with `plugins` (Vite in
 * middleware mode on our own http server on an ephemeral port of 127.0.0.1, its HMR WebSocket on
 * the same server). Dependencies that need pre-bundling are listed in `optimize` (discovery is off,
 * so Vite never reloads the page mid-test for a dependency it found late).
 */
export async function startDevServer(options: { sourceDir: string; parentDir: string; plugins: PluginOption[]; optimize: string[] }): Promise<DevServer> {
  const root = mkdtempSync(join(options.parentDir, '.hmr-'));
  // Pre-bundled dependencies go under node_modules as Vite's own cache does (so plugins that skip
  // node_modules, like plugin-react's Babel pass, skip them too), one folder per run.
  const cacheDir = mkdtempSync(join(nodeModules, '.vite-hmr-'));
  const http = createHttpServer();
  let vite: ViteDevServer | undefined;
  const close = async () => {
    try {
      await vite?.close();
    } finally {
      http.closeAllConnections();
      if (http.listening) await new Promise<void>((resolve) => http.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  };
  try {
    cpSync(options.sourceDir, root, { recursive: true });
    vite = await createServer({
      configFile: false,
      root,
      cacheDir,
      logLevel: 'error',
      clearScreen: false,
      appType: 'spa',
      plugins: options.plugins,
      resolve: { conditions: ['source', ...defaultClientConditions] },
      define: { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
      optimizeDeps: { include: options.optimize, noDiscovery: true },
      server: { middlewareMode: true, hmr: { server: http } },
    });
    http.on('request', vite.middlewares);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', resolve);
    });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const dev = vite;
    return {
      url,
      vite: dev,
      edit(file, replace) {
        const path = join(root, file);
        const before = readFileSync(path, 'utf8');
        const after = replace(before);
        if (after === before) throw new Error(`editing ${file} changed nothing`);
        writeFileSync(path, after);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
