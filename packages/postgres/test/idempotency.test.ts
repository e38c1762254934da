import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication, StreamPosition } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import postgres from 'postgres';
import { Database, PostgresBroker } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema, twoNodes } from './pg-env.js';

const pub = (n: unknown): Publication => ({ data: JSON.stringify({ n }), time: Date.now() });

test('idempotent publications on PostgreSQL: a key published by one node is not published again by another, with or without history', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('idem');
  const admin = postgres(PG_DSN, { max: 1, onnotice: () => {} });
  const a = new PostgresBroker({ db: new Database({ dsn: PG_DSN, schema, poolSize: 3 }) });
  const b = new PostgresBroker({ db: new Database({ dsn: PG_DSN, schema, poolSize: 3 }) });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await admin.end({ timeout: 1 });
    await dropSchema(schema);
  });
  assert.equal(a.idempotentPublish, true);
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  await b.subscribe('plain');
  const hist = { size: 100, ttlMs: 60_000 };
  const dups: string[] = [];
  const idem = (key: string, tag: string, ttlMs = 60_000) => ({ key, ttlMs, duplicate: () => dups.push(tag) });

  const first = await a.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'a1') });
  assert.equal(first?.offset, 1);
  const again = await b.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'b1') });
  assert.deepEqual(again, first, 'the retry on another node answers the first position');
  // the same key at the same time from both nodes, with a plain publication among them
  const [x, y] = await Promise.all([
    a.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'a2') }),
    b.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'b2') }),
    a.publish('h', pub(3), { history: hist }),
  ]);
  assert.deepEqual(x, y);
  // without history: published once, no position, also when both nodes claim the key at once
  assert.equal(await a.publish('plain', pub(1), { idempotent: idem('p', 'ap') }), undefined);
  assert.equal(await b.publish('plain', pub(1), { idempotent: idem('p', 'bp') }), undefined);
  await Promise.all([a.publish('plain', pub(2), { idempotent: idem('q', 'aq') }), b.publish('plain', pub(2), { idempotent: idem('q', 'bq') })]);
  // a key is per channel: the same key on another channel publishes
  assert.equal((await b.publish('plain', pub(3), { idempotent: idem('k1', 'bk1') })), undefined);
  const last: StreamPosition | undefined = await a.publish('h', pub('end'), { history: hist });
  await b.publish('plain', pub('end'));
  await waitFor(() => rec.data('h').length >= 4 && rec.data('plain').length >= 4, 20_000, 'the last publications');
  const h = rec.data('h') as { n: unknown }[];
  assert.deepEqual(h[0], { n: 1 });
  assert.deepEqual(
    h
      .slice(1, 3)
      .map((p) => p.n)
      .sort(),
    [2, 3],
    'k2 once and the plain publication once',
  );
  assert.deepEqual(h[3], { n: 'end' });
  assert.equal(h.length, 4, JSON.stringify(h));
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    [1, 2, 3, 4],
  );
  assert.deepEqual(rec.data('plain'), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'end' }]);
  assert.equal(last?.offset, 4);
  // one duplicate per repeated key: b1, bp, and one of each concurrent pair
  assert.equal(dups.length, 4, dups.join(','));
  assert.ok(dups.includes('b1') && dups.includes('bp'), dups.join(','));
  assert.ok(dups.includes('a2') !== dups.includes('b2') && dups.includes('aq') !== dups.includes('bq'), dups.join(','));

  // a key whose TTL passed publishes again (the janitor's delete is not needed: reads skip expired keys)
  const short = await a.publish('h', pub('s1'), { history: hist, idempotent: idem('short', 's1', 300) });
  await waitFor(
    async () => (await admin.unsafe(`SELECT 1 FROM "${schema}".idempotency WHERE key = 'short' AND expires_at <= now()`)).length === 1,
    10_000,
    'the key to expire',
  );
  const renewed = await b.publish('h', pub('s2'), { history: hist, idempotent: idem('short', 's2', 300) });
  assert.equal(renewed!.offset, short!.offset + 1, 'published again after the key expired');
  assert.ok(!dups.includes('s2'));
  await waitFor(() => rec.data('h').length >= 6, 20_000, 'the renewed publication');
  assert.deepEqual(rec.data('h').slice(4), [{ n: 's1' }, { n: 's2' }], 'both publications of the expired key delivered, once each');
  assert.deepEqual(
    rec.pubs('h').slice(4).map((p) => p.offset),
    [short!.offset, renewed!.offset],
  );
});

test('idempotency keys on two Switchboard nodes on PostgreSQL: a retry through the other node is answered, not published; a stale version keeps no key', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const [a, b] = twoNodes(t, 'idem_nodes', { chat: { historySize: 10, historyTtlMs: 60_000 } });
  const first = await a.publish('chat:x', { m: 1 }, { idempotencyKey: 'order-17' });
  assert.deepEqual(await b.publish('chat:x', { m: 1, retry: true }, { idempotencyKey: 'order-17' }), first);
  // a versioned publication that is stale keeps no key: the same key with a newer version publishes
  await a.publish('chat:x', { v: 5 }, { version: 5 });
  let stale = 0;
  await b.publish('chat:x', { v: 4 }, { version: 4, idempotencyKey: 'v', stale: () => stale++ });
  assert.equal(stale, 1);
  const v6 = await a.publish('chat:x', { v: 6 }, { version: 6, idempotencyKey: 'v' });
  assert.deepEqual(await b.publish('chat:x', { v: 6 }, { version: 6, idempotencyKey: 'v' }), v6, 'the key kept by the accepted one');
  const h = await b.history('chat:x', { limit: -1 });
  assert.deepEqual(
    h.publications.map((p) => JSON.parse(p.data) as unknown),
    [{ m: 1 }, { v: 5 }, { v: 6 }],
  );
});
