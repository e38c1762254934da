import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { PresenceStore } from '../presence.js';
import type { ClientInfo } from '../types.js';
import { sleep, uniqueChannel, waitFor } from './util.js';

export interface PresenceHarness {
  readonly store: PresenceStore;
  /** Another instance on the same backend (another node), when the store can be shared. */
  another?: () => Promise<PresenceStore>;
  close(): Promise<void>;
}

/** The TTL the expiry tests ask for: short, so they do not wait long. */
export const CONFORMANCE_PRESENCE_TTL_MS = 400;

function info(user: string, client: string, chanInfo?: string): ClientInfo {
  return { user, client, connInfo: `{"name":"${user || 'anon'}"}`, ...(chanInfo !== undefined ? { chanInfo } : {}) };
}

/**
 * Registers node:test tests checking every clause of the PresenceStore contract (presence.ts).
 * `factory({ ttlMs })` must return a store whose entries expire `ttlMs` after their last `add`.
 */
export function presenceConformance(name: string, factory: (options: { ttlMs: number }) => Promise<PresenceHarness>): void {
  const it = (title: string, ttlMs: number, fn: (h: PresenceHarness, t: TestContext) => Promise<void>) =>
    void test(`${name} presence: ${title}`, async (t) => {
      const h = await factory({ ttlMs });
      try {
        await fn(h, t);
      } finally {
        await h.close();
      }
    });

  it('an empty channel has no entries', 60_000, async ({ store }) => {
    const ch = uniqueChannel('p');
    assert.equal((await store.get(ch)).size, 0);
    assert.deepEqual(await store.stats(ch), { numClients: 0, numUsers: 0 });
  });

  it('get lists every entry by client id; stats counts clients and distinct users, anonymous as one', 60_000, async ({ store }) => {
    const ch = uniqueChannel('p');
    const entries = [info('u1', 'c1', '{"x":1}'), info('u1', 'c2'), info('u2', 'c3'), info('', 'c4'), info('', 'c5')];
    for (const e of entries) await store.add(ch, e.client, e);
    const got = await store.get(ch);
    assert.equal(got.size, 5);
    for (const e of entries) assert.deepEqual(got.get(e.client), e);
    assert.deepEqual(await store.stats(ch), { numClients: 5, numUsers: 3 });
  });

  it('add replaces the entry of a client', 60_000, async ({ store }) => {
    const ch = uniqueChannel('p');
    await store.add(ch, 'c1', info('u1', 'c1', '{"v":1}'));
    await store.add(ch, 'c1', info('u1', 'c1', '{"v":2}'));
    const got = await store.get(ch);
    assert.equal(got.size, 1);
    assert.equal(got.get('c1')?.chanInfo, '{"v":2}');
    assert.deepEqual(await store.stats(ch), { numClients: 1, numUsers: 1 });
  });

  it('remove deletes an entry; removing an absent one is harmless', 60_000, async ({ store }) => {
    const ch = uniqueChannel('p');
    await store.add(ch, 'c1', info('u1', 'c1'));
    await store.add(ch, 'c2', info('u2', 'c2'));
    await store.remove(ch, 'c1');
    await store.remove(ch, 'c1');
    await store.remove(ch, 'nobody');
    await store.remove(uniqueChannel('never'), 'nobody');
    assert.deepEqual([...(await store.get(ch)).keys()], ['c2']);
    assert.deepEqual(await store.stats(ch), { numClients: 1, numUsers: 1 });
    await store.remove(ch, 'c2');
    assert.equal((await store.get(ch)).size, 0);
    assert.deepEqual(await store.stats(ch), { numClients: 0, numUsers: 0 });
  });

  it('channels are independent', 60_000, async ({ store }) => {
    const a = uniqueChannel('p');
    const b = uniqueChannel('p');
    await store.add(a, 'c1', info('u1', 'c1'));
    await store.add(b, 'c2', info('u2', 'c2'));
    assert.deepEqual([...(await store.get(a)).keys()], ['c1']);
    assert.deepEqual([...(await store.get(b)).keys()], ['c2']);
  });

  it('an entry that is not refreshed expires after the TTL', CONFORMANCE_PRESENCE_TTL_MS, async ({ store }) => {
    const ch = uniqueChannel('p');
    await store.add(ch, 'c1', info('u1', 'c1'));
    assert.equal((await store.get(ch)).size, 1);
    await waitFor(async () => (await store.get(ch)).size === 0, 5000, 'the entry to expire');
    assert.deepEqual(await store.stats(ch), { numClients: 0, numUsers: 0 });
  });

  it('refreshing by add keeps an entry past the TTL while a stale one expires', CONFORMANCE_PRESENCE_TTL_MS, async ({ store }) => {
    const ch = uniqueChannel('p');
    await store.add(ch, 'live', info('u1', 'live'));
    await store.add(ch, 'stale', info('u2', 'stale'));
    const started = Date.now();
    let refreshedFor = 0;
    // refresh 'live' every TTL/4 until 'stale' has expired, and for at least two TTLs
    for (;;) {
      await sleep(CONFORMANCE_PRESENCE_TTL_MS / 4);
      await store.add(ch, 'live', info('u1', 'live'));
      refreshedFor = Date.now() - started;
      const got = await store.get(ch);
      assert.ok(got.has('live'), 'a refreshed entry never expires');
      if (!got.has('stale') && refreshedFor > 2 * CONFORMANCE_PRESENCE_TTL_MS) break;
      if (refreshedFor > 10_000) assert.fail('the stale entry never expired');
    }
    assert.deepEqual(await store.stats(ch), { numClients: 1, numUsers: 1 });
  });

  it('another instance on the same backend sees and removes the same entries', 60_000, async ({ store, another }, t) => {
    if (!another) return t.skip('a single-process store');
    const other = await another();
    const ch = uniqueChannel('p');
    await store.add(ch, 'c1', info('u1', 'c1'));
    await other.add(ch, 'c2', info('u2', 'c2'));
    assert.deepEqual([...(await other.get(ch)).keys()].sort(), ['c1', 'c2']);
    assert.deepEqual(await store.stats(ch), { numClients: 2, numUsers: 2 });
    await other.remove(ch, 'c1');
    assert.deepEqual([...(await store.get(ch)).keys()], ['c2']);
  });
}
