import { defineConfig, defaultClientConditions } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./'),
  // Workspace packages from their TypeScript sources ("source" export condition).
  resolve: { conditions: ['source', ...defaultClientConditions] },
  esbuild: { jsx: 'automatic' },
  build: { outDir: here('./dist'), emptyOutDir: true, reportCompressedSize: false },
  logLevel: 'warn',
});
