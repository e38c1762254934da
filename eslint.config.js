// Lint for every TypeScript file: typescript-eslint's recommended-type-checked rules over one
// program (tsconfig.lint.json). Run by `npm run lint` and by `npm test` before the tests.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/.hmr-*/**', '**/node_modules/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.lint.json'], tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] }],
      // a binding assigned once after a closure that reads it was made cannot be const
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off: an async function that does not await still turns a throw into a rejection, which the
      // engine interfaces (Promise-returning methods of the memory stores) rely on.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a parameter or binding kept on purpose (a callback's position, a rest sibling)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests read JSON off the wire (HTTP API bodies, WebSocket frames, page state): typing every
    // such value would be noise, so `any` is allowed there; everything else stays on.
    files: ['**/test/**', 'examples/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // type tests call through deliberate type errors (@ts-expect-error)
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
