import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication, StreamPosition } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { RedisBroker, RedisShards } from '../src/index.js';
import { REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const pub = (n: unknown): Publication => ({ data: JSON.stringify({ n }), time: Date.now() });

test('idempotent publications on Redis: a key published by one node is not published again by another, with or without history', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const opts = { addresses: [REDIS_ADDRESS], prefix: testPrefix('idem') };
  const a = new RedisBroker({ shards: new RedisShards(opts) });
  const b = new RedisBroker({ shards: new RedisShards(opts) });
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.equal(a.idempotentPublish, true);
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  await b.subscribe('plain');
  const hist = { size: 100, ttlMs: 60_000 };
  const dups: string[] = [];
  const idem = (key: string, tag: string) => ({ key, ttlMs: 60_000, duplicate: () => dups.push(tag) });

  const first = await a.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'a1') });
  const again = await b.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'b1') });
  assert.deepEqual(again, first, 'the retry on another node answers the first position');
  // the same key at the same time from both nodes, with a plain publication among them
  const [x, y] = await Promise.all([
    a.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'a2') }),
    b.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'b2') }),
    a.publish('h', pub(3), { history: hist }),
  ]);
  assert.deepEqual(x, y);
  // without history: published once, no position
  assert.equal(await a.publish('plain', pub(1), { idempotent: idem('p', 'ap') }), undefined);
  assert.equal(await b.publish('plain', pub(1), { idempotent: idem('p', 'bp') }), undefined);
  const last: StreamPosition | undefined = await a.publish('h', pub('end'), { history: hist });
  await b.publish('plain', pub('end'));
  await waitFor(() => rec.data('h').length >= 4 && rec.data('plain').length >= 2, 10_000, 'the last publications');
  assert.deepEqual(rec.data('h'), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'end' }]);
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    [1, 2, 3, 4],
  );
  assert.deepEqual(rec.data('plain'), [{ n: 1 }, { n: 'end' }]);
  assert.equal(last?.offset, 4);
  // one duplicate per repeated key: b1, bp, and one of the two concurrent k2 publications
  assert.equal(dups.length, 3, dups.join(','));
  assert.ok(dups.includes('b1') && dups.includes('bp') && dups.includes('a2') !== dups.includes('b2'), dups.join(','));
});
