import { defineConfig, defaultClientConditions } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./'),
  // Workspace packages are built from their TypeScript sources ("source" export condition), so the
  // pages never bundle a stale dist.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  define: { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    reportCompressedSize: false,
    rollupOptions: { input: { react: here('./react.html'), vue: here('./vue.html') } },
  },
  logLevel: 'warn',
});
