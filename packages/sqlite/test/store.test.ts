import assert from 'node:assert/strict';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteEngineError, SqliteHistoryStore } from '../src/index.js';

const OPTS = { size: 100, ttlMs: 60_000 };

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function refused(reason: SqliteEngineError['reason'], words: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SqliteEngineError, `expected SqliteEngineError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.match(err.message, words);
    return true;
  };
}

test('streams, positions and publications survive closing and reopening the file', async (t) => {
  const path = join(tempDir(t), 'h.db');
  const a = new SqliteHistoryStore({ path });
  const p1 = await a.append('chat:x', { data: '{"n":1}', info: { user: 'u', client: 'c' }, tags: { k: 'v' }, time: 5 }, OPTS);
  await a.append('chat:x', { data: '{"n":2}' }, OPTS);
  await a.position('chat:empty');
  await a.close();
  const b = new SqliteHistoryStore({ path });
  t.after(() => b.close());
  const r = await b.read('chat:x', { since: { offset: 0, epoch: p1.epoch }, limit: -1 });
  assert.deepEqual(r.position, { offset: 2, epoch: p1.epoch }, 'same epoch and top after reopening');
  assert.deepEqual(
    r.publications.map((p) => [p.data, p.offset]),
    [
      ['{"n":1}', 1],
      ['{"n":2}', 2],
    ],
  );
  assert.deepEqual(r.publications[0]!.info, { user: 'u', client: 'c' });
  assert.deepEqual(r.publications[0]!.tags, { k: 'v' });
  assert.equal((await b.append('chat:x', { data: '{"n":3}' }, OPTS)).offset, 3, 'offsets go on where they were');
  assert.equal((await b.position('chat:empty')).offset, 0);
});

test('a file another process (or store) holds is refused at open with "locked"', async (t) => {
  const path = join(tempDir(t), 'h.db');
  const a = new SqliteHistoryStore({ path });
  t.after(() => a.close());
  await a.append('c', { data: '1' }, OPTS);
  assert.throws(() => new SqliteHistoryStore({ path }), refused('locked', /is locked by another process.*one Switchboard server per file/));
  // the first store is undisturbed
  assert.equal((await a.append('c', { data: '2' }, OPTS)).offset, 2);
});

test('a file that is not a SQLite database is refused with "corrupt"', async (t) => {
  const path = join(tempDir(t), 'h.db');
  writeFileSync(path, 'this is not a database, just text that happens to be long enough to look like a header'.repeat(100));
  assert.throws(() => new SqliteHistoryStore({ path }), refused('corrupt', /is not a usable SQLite database.*restore it from a backup/));
});

test('a database whose pages are damaged is refused at open by the integrity check', async (t) => {
  const path = join(tempDir(t), 'h.db');
  const a = new SqliteHistoryStore({ path });
  for (let i = 0; i < 400; i++) await a.append(`c${i % 7}`, { data: JSON.stringify({ i, pad: 'x'.repeat(200) }) }, { size: 1000, ttlMs: 60_000 });
  await a.close();
  // overwrite the middle pages (the header and the first page stay intact)
  const size = statSync(path).size;
  assert.ok(size > 8 * 4096, `the file has pages to damage (${size} bytes)`);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4 * 4096, 0xa5), 0, 4 * 4096, 4096 * 2);
  closeSync(fd);
  assert.throws(() => new SqliteHistoryStore({ path }), refused('corrupt', /is not a usable SQLite database/));
});

test('a missing directory and a newer schema are refused with the reason', async (t) => {
  const dir = tempDir(t);
  assert.throws(() => new SqliteHistoryStore({ path: join(dir, 'nope', 'h.db') }), refused('cannot-open', /directory .* does not exist/));
  const path = join(dir, 'newer.db');
  const raw = new Database(path);
  raw.pragma('user_version = 99');
  raw.close();
  assert.throws(() => new SqliteHistoryStore({ path }), refused('newer-schema', /written by a newer Switchboard \(schema 99/));
});

test('the sweep deletes expired publications and streams from the file', async (t) => {
  const path = join(tempDir(t), 'h.db');
  let now = 1_000_000;
  const s = new SqliteHistoryStore({ path, now: () => now, sweepIntervalMs: 3_600_000 });
  t.after(() => s.close());
  await s.append('a', { data: '1' }, { size: 10, ttlMs: 100, metaTtlMs: 1000 });
  await s.append('b', { data: '1' }, { size: 10, ttlMs: 5000, metaTtlMs: 100_000 });
  assert.deepEqual(s.rows(), { streams: 2, publications: 2 });
  now += 2000;
  s.sweep();
  assert.deepEqual(s.rows(), { streams: 1, publications: 1 }, 'stream a and its publication are gone, b is kept');
  assert.equal((await s.read('b', { limit: -1 })).publications.length, 1);
  const a = await s.position('a');
  assert.equal(a.offset, 0, 'the expired stream was dropped: a new one starts');
});
