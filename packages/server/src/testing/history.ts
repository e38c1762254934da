import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { EpochMismatchError, type HistoryStore } from '../history.js';
import type { HistoryOptions, Publication } from '../types.js';
import { uniqueChannel, waitFor } from './util.js';

export interface HistoryHarness {
  readonly store: HistoryStore;
  /** Another instance on the same backend (another node), when the store can be shared. */
  another?: () => Promise<HistoryStore>;
  /** Releases everything the harness made (stores, connections, keys). */
  close(): Promise<void>;
}

const OPTS: HistoryOptions = { size: 100, ttlMs: 60_000 };

function pub(n: number, extra: Partial<Publication> = {}): Publication {
  return { data: JSON.stringify({ n }), ...extra };
}

function ns(pubs: readonly Publication[]): number[] {
  return pubs.map((p) => (JSON.parse(p.data) as { n: number }).n);
}

/**
 * Registers node:test tests checking every clause of the HistoryStore contract (history.ts).
 * `factory` is called once per test; expiry tests use TTLs of a few hundred milliseconds.
 */
export function historyConformance(name: string, factory: () => Promise<HistoryHarness>): void {
  const it = (title: string, fn: (h: HistoryHarness, t: TestContext) => Promise<void>) =>
    void test(`${name} history: ${title}`, async (t) => {
      const h = await factory();
      try {
        await fn(h, t);
      } finally {
        await h.close();
      }
    });

  it('an unknown channel has offset 0 and a fixed, non-empty epoch', async ({ store }) => {
    const ch = uniqueChannel('h');
    const a = await store.position(ch);
    assert.equal(a.offset, 0);
    assert.equal(typeof a.epoch, 'string');
    assert.ok(a.epoch.length > 0);
    const b = await store.position(ch);
    assert.deepEqual(b, a);
    const r = await store.read(ch, { limit: -1 });
    assert.deepEqual(r.publications, []);
    assert.deepEqual(r.position, a);
  });

  it('append assigns gapless offsets from 1 in the stream epoch and keeps the publication', async ({ store }) => {
    const ch = uniqueChannel('h');
    const before = await store.position(ch);
    const info = { user: 'u1', client: 'c1', connInfo: '{"a":1}', chanInfo: '{"b":2}' };
    const p1 = await store.append(ch, pub(1, { info, tags: { k: 'v' }, time: 1234 }), OPTS);
    const p2 = await store.append(ch, pub(2), OPTS);
    const p3 = await store.append(ch, pub(3), OPTS);
    assert.deepEqual([p1.offset, p2.offset, p3.offset], [1, 2, 3]);
    assert.equal(p1.epoch, before.epoch, 'append keeps the epoch position() created');
    assert.equal(p2.epoch, p1.epoch);
    assert.equal(p3.epoch, p1.epoch);
    const r = await store.read(ch, { limit: -1 });
    assert.deepEqual(ns(r.publications), [1, 2, 3]);
    assert.deepEqual(r.position, { offset: 3, epoch: p1.epoch });
    assert.deepEqual(
      r.publications.map((p) => [p.offset, p.epoch]),
      [
        [1, p1.epoch],
        [2, p1.epoch],
        [3, p1.epoch],
      ],
    );
    const first = r.publications[0]!;
    assert.deepEqual(first.info, info);
    assert.deepEqual(first.tags, { k: 'v' });
    assert.equal(first.time, 1234);
    assert.equal(first.data, '{"n":1}', 'data is kept as the exact JSON text');
    assert.deepEqual(await store.position(ch), { offset: 3, epoch: p1.epoch });
  });

  it('the first append to an unknown channel creates the stream at offset 1', async ({ store }) => {
    const ch = uniqueChannel('h');
    const p = await store.append(ch, pub(1), OPTS);
    assert.equal(p.offset, 1);
    assert.ok(p.epoch.length > 0);
    assert.deepEqual(await store.position(ch), p);
  });

  it('delivery targeting is never stored', async ({ store }) => {
    const ch = uniqueChannel('h');
    await store.append(ch, pub(1, { delivery: { exceptClient: 'x', originClient: 'y' } }), OPTS);
    const r = await store.read(ch, { limit: -1 });
    assert.equal(r.publications.length, 1);
    assert.equal(r.publications[0]!.delivery, undefined);
  });

  it('concurrent appends get distinct, gapless offsets', async ({ store, another }) => {
    const ch = uniqueChannel('h');
    const other = another ? await another() : store;
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? other : store).append(ch, pub(i), OPTS)));
    const offsets = results.map((r) => r.offset).sort((a, b) => a - b);
    assert.deepEqual(offsets, Array.from({ length: 60 }, (_, i) => i + 1));
    assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
    const r = await store.read(ch, { limit: -1 });
    assert.deepEqual(
      r.publications.map((p) => p.offset),
      offsets,
      'read returns offset order',
    );
    // each stored publication is the one whose append returned that offset
    const byOffset = new Map(results.map((res, i) => [res.offset, i]));
    for (const p of r.publications) assert.equal(ns([p])[0], byOffset.get(p.offset!));
  });

  it('limit 0 gives only the position, N at most N oldest first, -1 all', async ({ store }) => {
    const ch = uniqueChannel('h');
    for (let i = 1; i <= 5; i++) await store.append(ch, pub(i), OPTS);
    const zero = await store.read(ch, { limit: 0 });
    assert.deepEqual(zero.publications, []);
    assert.equal(zero.position.offset, 5);
    assert.deepEqual(ns((await store.read(ch, { limit: 2 })).publications), [1, 2]);
    assert.deepEqual(ns((await store.read(ch, { limit: -1 })).publications), [1, 2, 3, 4, 5]);
    assert.deepEqual(ns((await store.read(ch, { limit: 50 })).publications), [1, 2, 3, 4, 5]);
  });

  it('since returns what follows a position; at the top it returns nothing', async ({ store }) => {
    const ch = uniqueChannel('h');
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = (await store.append(ch, pub(i), OPTS)).epoch;
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 2, epoch }, limit: -1 })).publications), [3, 4, 5]);
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 2, epoch }, limit: 2 })).publications), [3, 4]);
    const top = await store.read(ch, { since: { offset: 5, epoch }, limit: -1 });
    assert.deepEqual(top.publications, []);
    assert.deepEqual(top.position, { offset: 5, epoch });
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 0, epoch }, limit: -1 })).publications), [1, 2, 3, 4, 5]);
  });

  it('an empty epoch in since matches any epoch', async ({ store }) => {
    const ch = uniqueChannel('h');
    for (let i = 1; i <= 3; i++) await store.append(ch, pub(i), OPTS);
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 1, epoch: '' }, limit: -1 })).publications), [2, 3]);
  });

  it('reverse gives newest first, before since when given', async ({ store }) => {
    const ch = uniqueChannel('h');
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = (await store.append(ch, pub(i), OPTS)).epoch;
    assert.deepEqual(ns((await store.read(ch, { limit: -1, reverse: true })).publications), [5, 4, 3, 2, 1]);
    assert.deepEqual(ns((await store.read(ch, { limit: 2, reverse: true })).publications), [5, 4]);
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 4, epoch }, limit: -1, reverse: true })).publications), [3, 2, 1]);
    assert.deepEqual(ns((await store.read(ch, { since: { offset: 4, epoch }, limit: 2, reverse: true })).publications), [3, 2]);
    const r = await store.read(ch, { since: { offset: 4, epoch }, limit: 0, reverse: true });
    assert.deepEqual(r.publications, []);
    assert.equal(r.position.offset, 5);
  });

  it('since with another epoch throws EpochMismatchError carrying the current position', async ({ store }) => {
    const ch = uniqueChannel('h');
    const p = await store.append(ch, pub(1), OPTS);
    await assert.rejects(
      store.read(ch, { since: { offset: 0, epoch: `${p.epoch}x` }, limit: -1 }),
      (err: unknown) => {
        assert.ok(err instanceof EpochMismatchError, `expected EpochMismatchError, got ${String(err)}`);
        assert.deepEqual(err.position, { offset: 1, epoch: p.epoch });
        return true;
      },
    );
  });

  it('append trims to size, oldest first, keeping the top offset', async ({ store }) => {
    const ch = uniqueChannel('h');
    const small = { size: 3, ttlMs: 60_000 };
    for (let i = 1; i <= 7; i++) await store.append(ch, pub(i), small);
    const r = await store.read(ch, { limit: -1 });
    assert.deepEqual(ns(r.publications), [5, 6, 7]);
    assert.deepEqual(
      r.publications.map((p) => p.offset),
      [5, 6, 7],
    );
    assert.equal(r.position.offset, 7);
    // a client at offset 2 cannot get 3 and 4 any more: what is returned starts later (the caller sees the gap)
    assert.equal((await store.read(ch, { since: { offset: 2, epoch: r.position.epoch }, limit: -1 })).publications[0]!.offset, 5);
  });

  it('publications expire after their TTL while the stream keeps its epoch and top', async ({ store }) => {
    const ch = uniqueChannel('h');
    const a = await store.append(ch, pub(1), { size: 10, ttlMs: 250 });
    const b = await store.append(ch, pub(2), { size: 10, ttlMs: 30_000 });
    await waitFor(async () => (await store.read(ch, { limit: -1 })).publications.length < 2, 5000, 'the short-lived publication to expire');
    const r = await store.read(ch, { limit: -1 });
    assert.deepEqual(ns(r.publications), [2], 'only the expired publication is gone');
    assert.deepEqual(r.position, { offset: 2, epoch: a.epoch });
    assert.equal(b.epoch, a.epoch);
    const next = await store.append(ch, pub(3), { size: 10, ttlMs: 30_000 });
    assert.deepEqual(next, { offset: 3, epoch: a.epoch }, 'offsets go on after expiry');
  });

  it('a stream whose metadata expired starts a new epoch at offset 0', async ({ store }) => {
    const ch = uniqueChannel('h');
    const a = await store.append(ch, pub(1), { size: 10, ttlMs: 100, metaTtlMs: 300 });
    await waitFor(async () => (await store.position(ch)).epoch !== a.epoch, 5000, 'the stream metadata to expire');
    const p = await store.position(ch);
    assert.equal(p.offset, 0);
    assert.deepEqual((await store.read(ch, { limit: -1 })).publications, []);
  });

  it('remove drops the stream: the next position or append starts a new epoch', async ({ store }) => {
    const ch = uniqueChannel('h');
    const a = await store.append(ch, pub(1), OPTS);
    await store.append(ch, pub(2), OPTS);
    await store.remove(ch);
    const p = await store.position(ch);
    assert.equal(p.offset, 0);
    assert.notEqual(p.epoch, a.epoch);
    assert.deepEqual((await store.read(ch, { limit: -1 })).publications, []);
    const n = await store.append(ch, pub(3), OPTS);
    assert.deepEqual(n, { offset: 1, epoch: p.epoch });
    await store.remove(ch);
    const q = await store.append(ch, pub(4), OPTS);
    assert.equal(q.offset, 1);
    assert.notEqual(q.epoch, p.epoch);
    await store.remove(uniqueChannel('never'));
  });

  it('channels are independent', async ({ store }) => {
    const a = uniqueChannel('h');
    const b = uniqueChannel('h');
    await store.append(a, pub(1), OPTS);
    await store.append(a, pub(2), OPTS);
    const pb = await store.append(b, pub(9), OPTS);
    assert.equal(pb.offset, 1);
    assert.deepEqual(ns((await store.read(b, { limit: -1 })).publications), [9]);
    await store.remove(b);
    assert.equal((await store.position(a)).offset, 2);
  });

  it('another instance on the same backend sees the same stream', async ({ store, another }, t) => {
    if (!another) return t.skip('a single-process store');
    const other = await another();
    const ch = uniqueChannel('h');
    const p = await store.append(ch, pub(1), OPTS);
    assert.deepEqual(await other.position(ch), p);
    const q = await other.append(ch, pub(2), OPTS);
    assert.deepEqual(q, { offset: 2, epoch: p.epoch });
    assert.deepEqual(ns((await store.read(ch, { limit: -1 })).publications), [1, 2]);
  });
}
