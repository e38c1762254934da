import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { historyConformance } from '@switchboard/server/testing';
import { SqliteHistoryStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-conf-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

// one file per test, on disk (not :memory:), with the sweep on a short timer as in production
historyConformance('sqlite', async () => {
  const store = new SqliteHistoryStore({ path: join(dir, `h${++n}.db`), sweepIntervalMs: 100 });
  return { store, close: () => store.close() };
});
