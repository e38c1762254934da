// Centrifugo's publish `version` / `version_epoch` across nodes on PostgreSQL: the channel row keeps
// the last version, checked and replaced under the row lock of the append.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { createPostgresEngine } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema, twoNodes } from './pg-env.js';

const pub = (v: unknown): Publication => ({ data: JSON.stringify(v), time: Date.now() });

test('versioned publications on PostgreSQL: a version appended by one node makes older and equal ones stale on another', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('version');
  const a = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 });
  const b = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 });
  t.after(async () => {
    for (const e of [a, b]) await Promise.all([e.broker.close(), e.history.close(), e.presence.close()]);
    await dropSchema(schema);
  });
  assert.equal(a.broker.versionedPublish, true);
  const rec = new Recorder();
  await a.broker.start(new Recorder());
  await b.broker.start(rec);
  await b.broker.subscribe('h');
  const history = { size: 100, ttlMs: 60_000 };
  const stale: string[] = [];
  const v = (version: number, epoch: string, tag: string) => ({ version, epoch, stale: () => stale.push(tag) });

  const p1 = await a.broker.publish('h', pub({ v: 2 }), { history, version: v(2, 'e', 'a2') });
  assert.deepEqual(await b.broker.publish('h', pub({ v: 1 }), { history, version: v(1, 'e', 'b1') }), p1, 'stale: answered with the top');
  assert.deepEqual(await b.broker.publish('h', pub({ v: 2 }), { history, version: v(2, '', 'b2') }), p1, 'an empty epoch matches');
  await b.broker.publish('h', pub({ v: 3 }), { history, version: v(3, 'e', 'b3') });
  await a.broker.publish('h', pub({ v: 1, epoch: 'f' }), { history, version: v(1, 'f', 'a1f') });
  // shuffled versions from both nodes at once: delivered ones go up strictly
  const versions = [7, 4, 10, 5, 9, 6, 8];
  await Promise.all(versions.map((n, i) => (i % 2 === 0 ? a : b).broker.publish('h', pub({ v: n, race: true }), { history, version: v(n, 'f', `race${n}`) })));
  // a plain publication through the batched path, not checked
  const last = await a.broker.publish('h', pub({ end: true }), { history });
  await waitFor(() => rec.data('h').some((d) => (d as { end?: boolean }).end === true), 10_000, 'the last publication');
  const got = rec.data('h') as { v?: number; race?: boolean; end?: boolean }[];
  assert.deepEqual(got.slice(0, 3), [{ v: 2 }, { v: 3 }, { v: 1, epoch: 'f' }]);
  const race = got.filter((d) => d.race === true).map((d) => d.v!);
  assert.ok(race.every((n, i) => i === 0 || n > race[i - 1]!), `strictly increasing: ${race.join(',')}`);
  assert.equal(race.at(-1), 10);
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    Array.from({ length: got.length }, (_, i) => i + 1),
    'offsets gapless: nothing stale was appended',
  );
  assert.equal(last?.offset, got.length);
  assert.ok(stale.includes('b1') && stale.includes('b2'), stale.join(','));
  assert.equal(stale.filter((s) => s.startsWith('race')).length, versions.length - race.length);
  await assert.rejects(a.broker.publish('x', pub({}), { version: v(1, '', 'nohist') }), /needs history/);

  // a stream whose metadata expired is renewed with a new epoch and without a version
  const short = { size: 10, ttlMs: 60_000, metaTtlMs: 300 };
  const old = await a.broker.publish('short', pub({ v: 5 }), { history: short, version: v(5, '', 'short5') });
  let renewed: { offset: number; epoch: string } | undefined;
  await waitFor(
    async () => {
      let wasStale = false;
      const r = await b.broker.publish('short', pub({ v: 1 }), { history: short, version: { version: 1, epoch: '', stale: () => (wasStale = true) } });
      if (!wasStale) renewed = r;
      return !wasStale;
    },
    10_000,
    'the stream to expire and forget its version',
  );
  assert.equal(renewed?.offset, 1);
  assert.notEqual(renewed?.epoch, old?.epoch);
});

test('two Switchboard nodes on PostgreSQL: the version check holds across nodes', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const [a, b] = twoNodes(t, 'version_nodes', { state: { historySize: 10, historyTtlMs: 60_000 } });
  let stale = 0;
  const first = await a.publish('state:x', { v: 5 }, { version: 5 });
  assert.deepEqual(await b.publish('state:x', { v: 4 }, { version: 4, stale: () => stale++ }), first);
  await b.publish('state:x', { v: 6 }, { version: 6, idempotencyKey: 'k6' });
  await a.publish('state:x', { v: 6, again: true }, { version: 6, stale: () => stale++ });
  assert.equal(stale, 2);
  const h = await a.history('state:x', { limit: -1 });
  assert.deepEqual(
    h.publications.map((p) => JSON.parse(p.data) as unknown),
    [{ v: 5 }, { v: 6 }],
  );
});
