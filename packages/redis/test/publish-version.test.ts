// Centrifugo's publish `version` / `version_epoch` across nodes on Redis: the version is checked and
// kept by the publishing script in the channel's meta hash, so a stale publication from any node is
// dropped, whichever node published the newer one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication } from '@switchboard/server';
import { createSwitchboard } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { createRedisEngine, RedisBroker, RedisHistoryStore, RedisShards } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const pub = (v: unknown): Publication => ({ data: JSON.stringify(v), time: Date.now() });

test('versioned publications on Redis: a version published by one node makes older and equal ones stale on another', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const opts = { addresses: [REDIS_ADDRESS], prefix: testPrefix('version') };
  const a = new RedisBroker({ shards: new RedisShards(opts) });
  const b = new RedisBroker({ shards: new RedisShards(opts) });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await dropPrefix(opts.prefix);
  });
  assert.equal(a.versionedPublish, true);
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  const history = { size: 100, ttlMs: 60_000 };
  const stale: string[] = [];
  const v = (version: number, epoch: string, tag: string) => ({ version, epoch, stale: () => stale.push(tag) });

  const p1 = await a.publish('h', pub({ v: 2 }), { history, version: v(2, 'e', 'a2') });
  assert.deepEqual(await b.publish('h', pub({ v: 1 }), { history, version: v(1, 'e', 'b1') }), p1, 'stale: answered with the top');
  assert.deepEqual(await b.publish('h', pub({ v: 2 }), { history, version: v(2, '', 'b2') }), p1, 'an empty epoch matches');
  await b.publish('h', pub({ v: 3 }), { history, version: v(3, 'e', 'b3') });
  // another epoch starts over
  await a.publish('h', pub({ v: 1, epoch: 'f' }), { history, version: v(1, 'f', 'a1f') });
  // shuffled versions from both nodes at once: delivered ones go up strictly
  const versions = [7, 4, 10, 5, 9, 6, 8];
  await Promise.all(versions.map((n, i) => (i % 2 === 0 ? a : b).publish('h', pub({ v: n, race: true }), { history, version: v(n, 'f', `race${n}`) })));
  // with an idempotency key too: the key first, then the version
  await a.publish('h', pub({ v: 11 }), { history, version: v(11, 'f', 'a11'), idempotent: { key: 'k11', ttlMs: 60_000 } });
  await b.publish('h', pub({ v: 11 }), { history, version: v(11, 'f', 'dup11'), idempotent: { key: 'k11', ttlMs: 60_000 } });
  await b.publish('h', pub({ v: 11, again: true }), { history, version: v(11, 'f', 'b11'), idempotent: { key: 'k11b', ttlMs: 60_000 } });
  // without a version: not checked
  const last = await a.publish('h', pub({ end: true }), { history });
  await waitFor(() => rec.data('h').some((d) => (d as { end?: boolean }).end === true), 10_000, 'the last publication');
  const got = rec.data('h') as { v?: number; race?: boolean; end?: boolean }[];
  assert.deepEqual(got.slice(0, 3), [{ v: 2 }, { v: 3 }, { v: 1, epoch: 'f' }]);
  const race = got.filter((d) => d.race === true).map((d) => d.v!);
  assert.ok(race.every((n, i) => i === 0 || n > race[i - 1]!), `strictly increasing: ${race.join(',')}`);
  assert.equal(race.at(-1), 10);
  assert.deepEqual(got.slice(-2), [{ v: 11 }, { end: true }]);
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    Array.from({ length: got.length }, (_, i) => i + 1),
    'offsets gapless: nothing stale was appended',
  );
  assert.equal(last?.offset, got.length);
  assert.ok(stale.includes('b1') && stale.includes('b2') && stale.includes('b11') && !stale.includes('dup11'), stale.join(','));
  assert.equal(stale.filter((s) => s.startsWith('race')).length, versions.length - race.length);

  // a new stream (history removed) forgets the version
  const store = new RedisHistoryStore({ shards: new RedisShards(opts) });
  t.after(() => store.close());
  await store.remove('h');
  const fresh = await a.publish('h', pub({ v: 1, fresh: true }), { history, version: v(1, 'f', 'fresh') });
  assert.equal(fresh?.offset, 1);
  assert.ok(!stale.includes('fresh'));

  // the same script without a version: a key alone, with and without history, as before
  let dups = 0;
  const idem = { key: 'only-key', ttlMs: 60_000, duplicate: () => dups++ };
  const k1 = await a.publish('h', pub({ k: 1 }), { history, idempotent: idem });
  assert.deepEqual(await b.publish('h', pub({ k: 1 }), { history, idempotent: idem }), k1);
  assert.equal(await a.publish('plain', pub({ k: 1 }), { idempotent: idem }), undefined);
  assert.equal(await b.publish('plain', pub({ k: 1 }), { idempotent: idem }), undefined);
  assert.equal(dups, 2);
  assert.equal((await store.read('h', { limit: -1 })).publications.length, 2, 'v1 fresh and k1, once');
});

test('two Switchboard nodes on Redis: the API version check holds across nodes', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('version-nodes');
  const node = (name: string) =>
    createSwitchboard({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }), name, namespaces: { state: { historySize: 10, historyTtlMs: 60_000 }, live: {} } });
  const a = node('A');
  const b = node('B');
  t.after(async () => {
    await a.shutdown({ timeoutMs: 500 });
    await b.shutdown({ timeoutMs: 500 });
    await dropPrefix(prefix);
  });
  let stale = 0;
  const first = await a.publish('state:x', { v: 5 }, { version: 5 });
  assert.deepEqual(await b.publish('state:x', { v: 4 }, { version: 4, stale: () => stale++ }), first);
  assert.equal(stale, 1);
  await b.publish('state:x', { v: 6 }, { version: 6 });
  await a.publish('state:x', { v: 6, again: true }, { version: 6, stale: () => stale++ });
  assert.equal(stale, 2);
  const h = await a.history('state:x', { limit: -1 });
  assert.deepEqual(
    h.publications.map((p) => JSON.parse(p.data) as unknown),
    [{ v: 5 }, { v: 6 }],
  );
  await assert.rejects(a.publish('live:x', { v: 1 }, { version: 1 }), /version needs history in the channel/);
});
