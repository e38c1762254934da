import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { consumerKey, MAX_UNACKED, type AckStore } from '../acks.js';
import { waitFor } from './util.js';

export interface AckHarness {
  readonly store: AckStore;
  /** Another instance on the same backend (another node). */
  readonly another: AckStore;
  close(): Promise<void>;
}

const ch = (tag: string) => `acks:${tag}-${randomUUID().slice(0, 8)}`;
const TTL = 60_000;

/** Registers node:test tests checking the AckStore contract (acks.ts) on two instances of one backend. */
export function ackStoreConformance(name: string, factory: () => Promise<AckHarness>): void {
  const it = (title: string, fn: (h: AckHarness) => Promise<void>) =>
    void test(`${name} acks: ${title}`, async () => {
      const h = await factory();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });

  const alice = consumerKey('alice');
  const phone = consumerKey('alice', 'phone');
  const bob = consumerKey('bob');

  it('what one instance adds the other acknowledges; unknown offsets come back; who has not acknowledged, per consumer', async ({ store, another }) => {
    const c = ch('ack');
    await store.add(c, alice, 'e1', [1, 2, 3], Date.now() + TTL, TTL);
    await store.add(c, phone, 'e1', [2], Date.now() + TTL, TTL);
    await another.add(c, bob, 'e1', [2, 3], Date.now() + TTL, TTL);
    assert.deepEqual(await another.unacknowledged(c, 2), [phone, alice, bob].sort());
    assert.deepEqual(await another.ack(c, alice, [1, 2, 7]), { acked: 2, unknown: [7] });
    assert.deepEqual(await store.ack(c, alice, [2]), { acked: 0, unknown: [2] }, 'acknowledged once only');
    assert.deepEqual(await store.unacknowledged(c, 2), [phone, bob].sort());
    assert.deepEqual(await store.unacknowledged(c, 1), []);
    assert.deepEqual(await store.unacknowledged(c, 3), [alice, bob].sort());
    assert.deepEqual(await store.ack(ch('none'), alice, [1]), { acked: 0, unknown: [1] });
  });

  it('take returns what is due, ascending, moves it on, and says when the next is due; one instance at a time', async ({ store, another }) => {
    const c = ch('take');
    const now = Date.now();
    await store.add(c, alice, 'e1', [3, 1], now - 10, TTL);
    await store.add(c, alice, 'e1', [2], now + 5_000, TTL);
    const t = await another.take(c, alice, now, now + 10_000, 100);
    assert.deepEqual(t, { epoch: 'e1', offsets: [1, 3], next: now + 5_000 });
    assert.deepEqual((await store.take(c, alice, now, now + 10_000, 100)).offsets, [], 'taken ones are not due again until their new time');
    const all = await store.take(c, alice, Number.POSITIVE_INFINITY, now + 20_000, 100);
    assert.deepEqual(all.offsets, [1, 2, 3]);
    assert.equal(all.next, now + 20_000);
    assert.deepEqual((await store.take(c, alice, now, now, 1)).offsets, []);
    await store.add(c, bob, 'e1', [1, 2, 3], now - 1, TTL);
    assert.deepEqual((await store.take(c, bob, now, now + 1, 2)).offsets.length, 2, 'at most limit');
    assert.deepEqual(await store.take(c, consumerKey('nobody'), now, now, 10), { epoch: '', offsets: [], next: undefined });
  });

  it('two instances taking at once never both get an offset', async ({ store, another }) => {
    const c = ch('race');
    const now = Date.now();
    const all = Array.from({ length: 40 }, (_, i) => i + 1);
    await store.add(c, alice, 'e1', all, now - 10, TTL);
    const takes = await Promise.all([store, another, store, another].map((s) => s.take(c, alice, now, now + 60_000, 40)));
    const got = takes.flatMap((t) => t.offsets).sort((x, y) => x - y);
    assert.deepEqual(got, all, 'each offset taken exactly once');
  });

  it('drop forgets offsets; a new epoch forgets the old ones; beyond the bound the lowest offsets go', async ({ store, another }) => {
    const c = ch('drop');
    await store.add(c, alice, 'e1', [1, 2], Date.now(), TTL);
    await another.drop(c, alice, [1]);
    assert.deepEqual(await store.unacknowledged(c, 1), []);
    await store.add(c, alice, 'e2', [1], Date.now(), TTL);
    assert.deepEqual(await store.unacknowledged(c, 2), [], 'the old epoch forgotten');
    const t = await store.take(c, alice, Number.POSITIVE_INFINITY, Date.now(), 10);
    assert.deepEqual([t.epoch, t.offsets], ['e2', [1]]);
    const many = Array.from({ length: MAX_UNACKED + 5 }, (_, i) => i + 1);
    await store.add(c, bob, 'e2', many, Date.now(), TTL);
    assert.deepEqual(await store.unacknowledged(c, 5), [], 'offset 5 dropped for the bound');
    assert.deepEqual(await store.unacknowledged(c, 6), [bob]);
    assert.equal((await store.take(c, bob, Number.POSITIVE_INFINITY, Date.now(), MAX_UNACKED * 2)).offsets.length, MAX_UNACKED);
  });

  it('pending offsets are forgotten ttl after the last add', async ({ store }) => {
    const c = ch('ttl');
    // 2 s: long enough for the add and the first read on a loaded machine, short for the wait below
    await store.add(c, alice, 'e1', [1], Date.now() + 60_000, 2000);
    assert.deepEqual(await store.unacknowledged(c, 1), [alice]);
    await waitFor(async () => (await store.unacknowledged(c, 1)).length === 0, 10_000, 'the entry to expire');
    assert.deepEqual((await store.take(c, alice, Number.POSITIVE_INFINITY, Date.now(), 10)).offsets, []);
  });

  it('a consumer whose pending offsets expired is not listed, while another keeps the channel alive', async ({ store, another }) => {
    const c = ch('ttl2');
    await store.add(c, alice, 'e1', [1], Date.now() + 60_000, 2000);
    await another.add(c, bob, 'e1', [1], Date.now() + 60_000, TTL);
    assert.deepEqual(await store.unacknowledged(c, 1), [alice, bob].sort());
    await waitFor(async () => (await another.unacknowledged(c, 1)).length === 1, 10_000, "alice's entry to expire");
    assert.deepEqual(await store.unacknowledged(c, 1), [bob]);
    assert.deepEqual(await store.ack(c, alice, [1]), { acked: 0, unknown: [1] });
  });
}
