#!/usr/bin/env node
// The `switchboard` command. It lives in the repository, not in dist/, so npm links it on the very
// first `npm install` of a fresh clone (npm links workspace bins before the root `prepare` script
// builds dist/cli.js). It runs the built CLI, or says how to build it.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('switchboard: apps/server is not built yet: run `npm run build` at the repository root (npm install does it)\n');
  process.exit(1);
}
await import(cli.href);
