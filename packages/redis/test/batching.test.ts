import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { RedisBroker, RedisHistoryStore, RedisShards } from '../src/index.js';
import { RedisProcess } from './cluster.js';
import { redisAvailable } from './redis-env.js';

/** Calls of each command since the Redis started (INFO commandstats), on a Redis only this test uses. */
async function commandCalls(port: number): Promise<Record<string, number>> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0 });
  try {
    const out: Record<string, number> = {};
    for (const m of (await c.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
    return out;
  } finally {
    c.disconnect();
  }
}

test('writes of one turn are batched per channel, in call order, with the offsets and delivery order of one call per write', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const redis = await RedisProcess.start();
  const opts = { addresses: [redis.address], prefix: 'batch' };
  const a = new RedisBroker({ shards: new RedisShards(opts) });
  const b = new RedisBroker({ shards: new RedisShards(opts) });
  const history = new RedisHistoryStore(opts);
  t.after(async () => {
    await Promise.all([a.close(), b.close(), history.close()]);
    await redis.stop();
  });
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  await b.subscribe('plain');
  const before = await commandCalls(redis.port);

  await t.test('300 history publications made in one turn: offsets 1..300 in call order, delivered in that order', async () => {
    const hist = { size: 1000, ttlMs: 60_000 };
    const positions = await Promise.all(Array.from({ length: 300 }, (_, i) => a.publish('h', { data: JSON.stringify({ i }) }, { history: hist })));
    assert.deepEqual(
      positions.map((p) => p!.offset),
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    assert.equal(new Set(positions.map((p) => p!.epoch)).size, 1);
    await waitFor(() => rec.pubs('h').length === 300, 10_000, 'every publication on the other node');
    assert.deepEqual(
      rec.pubs('h').map((p) => [p.offset, JSON.parse(p.data).i]),
      Array.from({ length: 300 }, (_, i) => [i + 1, i]),
    );
    const read = await history.read('h', { limit: -1 });
    assert.deepEqual(
      read.publications.map((p) => [p.offset, JSON.parse(p.data).i]),
      Array.from({ length: 300 }, (_, i) => [i + 1, i]),
    );
    const calls = await commandCalls(redis.port);
    const scripts = (calls['evalsha'] ?? 0) + (calls['eval'] ?? 0) - (before['evalsha'] ?? 0) - (before['eval'] ?? 0);
    assert.ok(scripts >= 1 && scripts <= 3, `300 publications took ${scripts} script calls (batched: a handful)`);
  });

  await t.test('publications, joins and leaves without history keep their order within a batch', async () => {
    const info = (user: string) => ({ client: `c-${user}`, user });
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) sent.push(a.publish('plain', { data: String(i) }));
    sent.push(a.publishJoin('plain', info('joiner')));
    for (let i = 10; i < 20; i++) sent.push(a.publish('plain', { data: String(i) }));
    sent.push(a.publishLeave('plain', info('joiner')));
    sent.push(a.publish('plain', { data: '20' }));
    await Promise.all(sent);
    await waitFor(() => rec.pubs('plain').length === 21, 10_000, 'the 21 publications');
    const seq = rec.events.flatMap((e) => (e.kind === 'control' || e.channel !== 'plain' ? [] : [e.kind === 'pub' ? e.pub.data : `${e.kind}:${e.info.user}`]));
    assert.deepEqual(seq, [...Array.from({ length: 10 }, (_, i) => String(i)), 'join:joiner', ...Array.from({ length: 10 }, (_, i) => String(i + 10)), 'leave:joiner', '20']);
    const calls = await commandCalls(redis.port);
    assert.ok((calls['publish'] ?? 0) - (before['publish'] ?? 0) <= 10, 'frames of one turn share PUBLISH calls');
  });

  await t.test('a change of history size within a turn starts a new script call; the last size is what is kept', async () => {
    const writes = [
      ...Array.from({ length: 5 }, (_, i) => history.append('sized', { data: String(i) }, { size: 100, ttlMs: 60_000 })),
      ...Array.from({ length: 5 }, (_, i) => history.append('sized', { data: String(i + 5) }, { size: 3, ttlMs: 60_000 })),
    ];
    const positions = await Promise.all(writes);
    assert.deepEqual(
      positions.map((p) => p.offset),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    const read = await history.read('sized', { limit: -1 });
    assert.deepEqual(
      read.publications.map((p) => p.offset),
      [8, 9, 10],
    );
  });

  await t.test('a turn larger than the history size: every publication delivered with its offset, only the kept ones written, targeting kept', async () => {
    const hist = { size: 10, ttlMs: 60_000 };
    await b.subscribe('big');
    const xaddBefore = (await commandCalls(redis.port))['xadd'] ?? 0;
    const positions = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        a.publish('big', { data: JSON.stringify({ i }), ...(i === 150 ? { delivery: { toUsers: ['u1'] } } : {}) }, { history: hist }),
      ),
    );
    assert.deepEqual(
      positions.map((p) => p!.offset),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    await waitFor(() => rec.pubs('big').length === 200, 10_000, 'all 200 publications on the other node');
    assert.deepEqual(
      rec.pubs('big').map((p) => [p.offset, JSON.parse(p.data).i]),
      Array.from({ length: 200 }, (_, i) => [i + 1, i]),
    );
    assert.deepEqual(rec.pubs('big')[150]!.delivery, { toUsers: ['u1'] });
    assert.equal(rec.pubs('big')[149]!.delivery, undefined);
    const read = await history.read('big', { limit: -1 });
    assert.deepEqual(
      read.publications.map((p) => [p.offset, JSON.parse(p.data).i]),
      Array.from({ length: 10 }, (_, i) => [191 + i, 190 + i]),
    );
    const xadds = ((await commandCalls(redis.port))['xadd'] ?? 0) - xaddBefore;
    assert.ok(xadds < 200, `publications trimmed in the same call are not written (${xadds} XADD for 200 publications, size 10)`);
  });

  await t.test('a bad history size is refused before it reaches Redis', async () => {
    await assert.rejects(a.publish('h', { data: '1' }, { history: { size: 0, ttlMs: 1000 } }), /history size and ttl must be positive/);
  });
});
