// The StateStore contract (cluster/state.ts) on SQLite: one file, one connection (the engine is one
// process per file), two store instances on it standing for two nodes; and the point of it on a
// single node: what the state holds survives a restart on the same file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stateConformance, waitFor } from '@switchboard/server/testing';
import { SqliteHistoryStore, SqliteStateStore } from '../src/index.js';

stateConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-state-'));
  const history = new SqliteHistoryStore({ path: join(dir, 'state.db') });
  const db = history.database;
  assert.ok(db, 'a new history store is open');
  return {
    store: new SqliteStateStore(db),
    another: new SqliteStateStore(db),
    close: async () => {
      await history.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('sqlite state: revocations, last seen, memberships and webhook journals survive closing and reopening the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db');
  const h1 = new SqliteHistoryStore({ path });
  const db1 = h1.database;
  assert.ok(db1, 'h1 is open');
  const s1 = new SqliteStateStore(db1);
  await s1.heartbeat('old', 200);
  await s1.revoke({ kind: 'jti', jti: 'j1', expireAt: Date.now() + 60_000 });
  await s1.setLastSeen('ann', 1234);
  await s1.join('u:ann', 'conn1', 'old', '{"user":"ann"}', 1);
  const key = await s1.webhookJournal('hook', 'old').append('{"id":"e1"}');
  assert.match(key, /^\d+$/);
  await h1.close(); // the process goes away (its lease lapses in 200 ms)

  const h2 = new SqliteHistoryStore({ path });
  t.after(() => h2.close());
  const db2 = h2.database;
  assert.ok(db2, 'h2 is open');
  const s2 = new SqliteStateStore(db2);
  await s2.heartbeat('new', 60_000);
  assert.deepEqual(await s2.revocations(), [{ kind: 'jti', jti: 'j1', expireAt: (await s2.revocations())[0]!.expireAt }]);
  assert.deepEqual(await s2.lastSeen(['ann']), [1234]);
  assert.deepEqual(await s2.counts(['u:ann']), [1]);
  let reaped: Awaited<ReturnType<SqliteStateStore['reap']>> = [];
  await waitFor(async () => (reaped = await s2.reap(10)).length > 0, 5000, "the old process's lease to lapse and its members to be reaped");
  assert.deepEqual(
    reaped.map((r) => [r.node, r.group, r.member, r.last]),
    [['old', 'u:ann', 'conn1', true]],
    "the old process's connection is reaped by the new one",
  );
  assert.deepEqual(
    (await s2.webhookJournal('hook', 'new').claim(10)).map((c) => c.entry),
    ['{"id":"e1"}'],
    "the old process's undelivered webhook event is claimed",
  );
});
