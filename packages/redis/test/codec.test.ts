import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { Publication } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { decodeBatch, decodeMessage, decodePub, encodeStored, encodeWire, pubMessage } from '../src/codec.js';
import { RedisBroker, RedisHistoryStore, RedisShards } from '../src/index.js';
import { keys } from '../src/shards.js';
import { redisAvailable } from './redis-env.js';

const info = { client: 'c1', user: 'u1', connInfo: '{"a":1}' };

test('stored forms: the plain form for data and time, the JSON form for the rest, both decoded to the same publication', () => {
  const cases: Publication[] = [
    { data: '{"x":1}', time: 1733366400000 },
    { data: '"a:b:c"' }, // colons in the data, no time
    { data: '[1,\n2]', time: 5 }, // a raw newline: the JSON form (the newline separates a batch's entries)
    { data: '{"y":"z"}', info, time: 7 },
    { data: '1', tags: { k: 'v' } },
    { data: '2', time: 1.5 }, // not a time Date.now() gives: the JSON form, so it reads back exact
  ];
  for (const pub of cases) {
    const stored = encodeStored(pub);
    const plain = pub.info === undefined && pub.tags === undefined && !pub.data.includes('\n') && (pub.time === undefined || Number.isInteger(pub.time));
    assert.equal(stored.startsWith('*'), plain, stored);
    assert.ok(!stored.includes('\n'), 'a stored form never holds a raw newline');
    assert.deepEqual(decodePub(stored, 0, ''), pub);
    assert.deepEqual(decodePub(stored, 9, 'ep'), { ...pub, offset: 9, epoch: 'ep' });
  }
  const targeted: Publication = { data: '{"x":1}', time: 3, delivery: { toUsers: ['u1'] } };
  assert.ok(encodeWire(targeted).startsWith('{'), 'delivery targeting travels in the JSON form');
  assert.deepEqual(decodePub(encodeWire(targeted), 0, ''), targeted);
  const m = decodeMessage(pubMessage({ data: '{"x":1}', time: 3 }));
  assert.deepEqual(m, { kind: 'pub', pub: { data: '{"x":1}', time: 3 } });
});

test('entries written before the plain form (JSON) decode as before, alone and in a batch mixed with plain ones', () => {
  const old = JSON.stringify({ d: '{"x":1}', m: 1733366400000 });
  assert.deepEqual(decodePub(old, 4, 'e'), { data: '{"x":1}', time: 1733366400000, offset: 4, epoch: 'e' });
  const batch = decodeBatch(`B10:ep:${old}\n*8:{"y":2}\n${encodeStored({ data: '3', info })}`);
  assert.deepEqual(batch, [
    { data: '{"x":1}', time: 1733366400000, offset: 10, epoch: 'ep' },
    { data: '{"y":2}', time: 8, offset: 11, epoch: 'ep' },
    { data: '3', info, offset: 12, epoch: 'ep' },
  ]);
});

test('malformed stored forms throw (the broker skips such a message, never delivers garbage)', () => {
  for (const bad of ['*123', '*12x:{"a":1}', '{}', '{"d":5}', 'not json', '']) {
    assert.throws(() => decodePub(bad, 1, 'e'), SyntaxError, bad);
  }
});

test('Redis: history written in the JSON form is read back beside new plain appends, offsets continuing', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const prefix = `codec-${randomUUID().slice(0, 8)}`;
  const opts = { addresses: ['127.0.0.1:6379'], prefix };
  const history = new RedisHistoryStore(opts);
  const raw = new Redis('127.0.0.1:6379');
  t.after(async () => {
    await history.close();
    const left = await raw.keys(`${prefix}.*`);
    if (left.length > 0) await raw.del(...left);
    raw.disconnect();
  });
  // what a node before the plain form left in Redis: two entries, epoch 'oldepoch', top 2
  const k = keys(prefix, 'chat');
  const expiry = String(Date.now() + 60_000);
  await raw.xadd(k.stream, '1-0', 'd', JSON.stringify({ d: '{"n":1}', m: 11 }), 'x', expiry);
  await raw.xadd(k.stream, '2-0', 'd', JSON.stringify({ d: '{"n":2}', i: info, m: 12 }), 'x', expiry);
  await raw.hset(k.meta, 'e', 'oldepoch', 's', 2);
  await raw.pexpire(k.stream, 60_000);
  const pos = await history.append('chat', { data: '{"n":3}', time: 13 }, { size: 10, ttlMs: 60_000 });
  assert.deepEqual(pos, { offset: 3, epoch: 'oldepoch' });
  assert.ok((await raw.xrange(k.stream, '3-0', '3-0'))[0]![1][1]!.startsWith('*'), 'the new entry is in the plain form');
  const r = await history.read('chat', { limit: -1 });
  assert.deepEqual(r.publications, [
    { data: '{"n":1}', time: 11, offset: 1, epoch: 'oldepoch' },
    { data: '{"n":2}', info, time: 12, offset: 2, epoch: 'oldepoch' },
    { data: '{"n":3}', time: 13, offset: 3, epoch: 'oldepoch' },
  ]);
});

test('Redis: one batch mixing plain and JSON forms (info, a raw newline) reaches the other node whole and in order', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const prefix = `codec-${randomUUID().slice(0, 8)}`;
  const opts = { addresses: ['127.0.0.1:6379'], prefix };
  const a = new RedisBroker({ shards: new RedisShards(opts) });
  const b = new RedisBroker({ shards: new RedisShards(opts) });
  const raw = new Redis('127.0.0.1:6379');
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    const left = await raw.keys(`${prefix}.*`);
    if (left.length > 0) await raw.del(...left);
    raw.disconnect();
  });
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  await b.subscribe('plain');
  const pubs: Publication[] = [
    { data: '{"n":1}', time: 1 },
    { data: '{\n"n": 2\n}', time: 2 },
    { data: '{"n":3}', info, time: 3 },
    { data: '{"n":4}' },
  ];
  // one turn: one script call (history) and one PUBLISH (without) per channel
  const hist = { size: 100, ttlMs: 60_000 };
  const positions = await Promise.all(pubs.map((p) => a.publish('h', p, { history: hist })));
  await Promise.all(pubs.map((p) => a.publish('plain', p)));
  assert.deepEqual(
    positions.map((p) => p?.offset),
    [1, 2, 3, 4],
  );
  await waitFor(() => rec.pubs('h').length === 4 && rec.pubs('plain').length === 4, 10_000, 'both channels delivered');
  const epoch = positions[0]!.epoch;
  assert.deepEqual(
    rec.pubs('h'),
    pubs.map((p, i) => ({ ...p, offset: i + 1, epoch })),
  );
  assert.deepEqual(rec.pubs('plain'), pubs);
});
