import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { StateStore } from '../cluster/state.js';
import { waitFor } from './util.js';

export interface StateHarness {
  readonly store: StateStore;
  /** Another instance on the same backend (another node). */
  readonly another: StateStore;
  close(): Promise<void>;
}

const id = (tag: string) => `${tag}-${randomUUID().slice(0, 8)}`;

/** Registers node:test tests checking the StateStore contract (cluster/state.ts) on two instances of one backend. */
export function stateConformance(name: string, factory: () => Promise<StateHarness>): void {
  const it = (title: string, fn: (h: StateHarness) => Promise<void>) =>
    void test(`${name} state: ${title}`, async () => {
      const h = await factory();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });

  it('join says first for the first member only, leave says last for the last only; seq increases', async ({ store, another }) => {
    const g = id('c:g');
    const a = await store.join(g, 'm1', 'n1', '{}');
    const b = await another.join(g, 'm2', 'n2', '{}');
    assert.equal(a.first, true);
    assert.equal(b.first, false);
    assert.ok(b.seq > a.seq);
    assert.deepEqual(await store.counts([g, id('c:none')]), [2, 0]);
    assert.equal(a.added && b.added, true);
    const again = await store.join(g, 'm1', 'n1', '{}');
    assert.equal(again.first, false, 'joining an existing member changes nothing');
    assert.equal(again.added, false);
    const l1 = await another.leave(g, 'm1');
    assert.deepEqual([l1.removed, l1.last], [true, false]);
    assert.ok(l1.seq > b.seq);
    const absent = await store.leave(g, 'm1');
    assert.deepEqual([absent.removed, absent.last], [false, false]);
    const l2 = await store.leave(g, 'm2');
    assert.deepEqual([l2.removed, l2.last], [true, true]);
    const c = await store.join(g, 'm3', 'n1', '{}');
    assert.equal(c.first, true, 'an emptied group starts over');
    assert.ok(c.seq > l2.seq);
    await store.leave(g, 'm3');
  });

  it('of concurrent joins to an empty group from two nodes exactly one is first; of concurrent leaves exactly one is last', async ({ store, another }) => {
    for (let round = 0; round < 5; round++) {
      const g = id('c:race');
      const joins = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : another).join(g, `m${i}`, i % 2 ? 'n1' : 'n2', '{}')));
      assert.equal(joins.filter((j) => j.first).length, 1);
      assert.equal(new Set(joins.map((j) => j.seq)).size, 20, 'every change has its own seq');
      const leaves = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? another : store).leave(g, `m${i}`)));
      assert.equal(leaves.filter((l) => l.last).length, 1);
      assert.equal(leaves.filter((l) => l.removed).length, 20);
    }
  });

  it("a dead node's members are reaped exactly once, channel ranks first; the node learns it lapsed", async ({ store, another }) => {
    const dead = id('dead');
    const g1 = id('c:ch');
    const g2 = id('u:user');
    assert.equal((await store.heartbeat(dead, 300)).lapsed, true, 'an unknown node has no lease');
    await store.join(g2, 'conn1', dead, '{"user":"x"}', 1);
    await store.join(g1, 'conn1', dead, '{"user":"x"}', 0);
    await another.join(g1, 'conn2', 'alive', '{}');
    assert.equal((await store.heartbeat(dead, 300)).lapsed, false);
    const reaped: Awaited<ReturnType<StateStore['reap']>> = [];
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([store.reap(100), another.reap(100)]);
        reaped.push(...a.filter((r) => r.node === dead), ...b.filter((r) => r.node === dead));
        return reaped.length >= 2;
      },
      10_000,
      'the dead node to be reaped',
    );
    assert.deepEqual(
      reaped.map((r) => [r.group, r.member, r.last]),
      [
        [g1, 'conn1', false],
        [g2, 'conn1', true],
      ],
    );
    assert.equal(reaped[1]!.data, '{"user":"x"}');
    assert.deepEqual(await store.counts([g1, g2]), [1, 0]);
    assert.equal((await store.reap(100)).filter((r) => r.node === dead).length, 0, 'never twice');
    assert.equal((await store.heartbeat(dead, 300)).lapsed, true, 'the reaped node is told');
    await another.leave(g1, 'conn2');
    await store.forgetNode(dead);
  });

  it('revocations are shared, merged and forgotten after their expiry', async ({ store, another }) => {
    const jti = id('jti');
    const user = id('user');
    const soon = Date.now() + 800;
    await store.revoke({ kind: 'jti', jti, expireAt: Date.now() + 60_000 });
    await store.revoke({ kind: 'user', user, issuedBefore: 100, expireAt: soon });
    await another.revoke({ kind: 'user', user, issuedBefore: 50, expireAt: Date.now() + 60_000 });
    const got = await another.revocations();
    assert.ok(got.some((r) => r.kind === 'jti' && r.jti === jti));
    const u = got.find((r) => r.kind === 'user' && r.user === user);
    assert.ok(u && u.kind === 'user');
    assert.equal(u.issuedBefore, 100, 'the later cut wins');
    assert.ok(u.expireAt > soon, 'the later expiry wins');
    const short = id('jti');
    await store.revoke({ kind: 'jti', jti: short, expireAt: Date.now() + 200 });
    await waitFor(async () => !(await another.revocations()).some((r) => r.kind === 'jti' && r.jti === short), 10_000, 'the expired revocation to go');
  });

  it('last seen keeps the latest time per user', async ({ store, another }) => {
    const u = id('u');
    await store.setLastSeen(u, 2000);
    await another.setLastSeen(u, 1000);
    assert.deepEqual(await another.lastSeen([u, id('nobody')]), [2000, undefined]);
    await another.setLastSeen(u, 3000);
    assert.deepEqual(await store.lastSeen([u]), [3000]);
  });

  it('webhook journals (where the engine has them): append in order, remove, a dead node\'s entries claimed exactly once, oldest first', async ({ store, another }) => {
    if (!store.webhookJournal || !another.webhookJournal) return;
    const hook = id('hook');
    const [live, dead, c1, c2] = [id('live'), id('dead'), id('claimer1'), id('claimer2')];
    for (const n of [live, c1, c2]) await store.heartbeat(n, 60_000);
    // alive for the setup and the first check however slow the machine is; it dies right after
    await another.heartbeat(dead, 60_000);
    const jLive = store.webhookJournal(hook, live);
    const jDead = another.webhookJournal(hook, dead);
    await jLive.append('l1');
    const keys = [];
    for (const e of ['d1', 'd2', 'd3', 'd4']) keys.push(await jDead.append(e));
    await jDead.remove([keys[1]!]);
    assert.equal(await jDead.size(), 3);
    await jDead.remove(['0-1']); // unknown keys are ignored
    const j1 = store.webhookJournal(hook, c1);
    const j2 = another.webhookJournal(hook, c2);
    const other = store.webhookJournal(id('other-hook'), c1);
    assert.deepEqual(await j1.claim(100), [], 'nothing is claimable while its node is alive');
    await another.heartbeat(dead, 300);
    const got: { by: string; entry: string }[] = [];
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([j1.claim(2), j2.claim(2)]);
        got.push(...a.map((x) => ({ by: 'c1', entry: x.entry })), ...b.map((x) => ({ by: 'c2', entry: x.entry })));
        return got.length >= 3;
      },
      10_000,
      "the dead node's entries to be claimed",
    );
    assert.deepEqual(got.map((g) => g.entry).sort(), ['d1', 'd3', 'd4'], 'each once, the removed one not at all');
    for (const by of ['c1', 'c2']) {
      const mine = got.filter((g) => g.by === by).map((g) => g.entry);
      assert.deepEqual(mine, [...mine].sort(), `${by} got them oldest first`);
    }
    assert.deepEqual([await j1.claim(100), await j2.claim(100)], [[], []], 'never twice');
    assert.deepEqual(await other.claim(100), [], 'journals of other webhooks are apart');
    assert.equal(await jLive.size(), 1, "the live node's journal is untouched");
    assert.equal((await j1.size()) + (await j2.size()), 3, 'claimed entries move into the claimer\'s journal');
    // a claimer that dies in turn: its claimed entries go to the next survivor
    await store.heartbeat(c1, 300);
    const n1 = await j1.size();
    const moved: string[] = [];
    await waitFor(async () => (moved.push(...(await j2.claim(100)).map((x) => x.entry)), moved.length >= n1), 10_000, "the dead claimer's entries to move on");
    assert.equal(await j2.size(), 3);
  });

  it('webhook journals: appends issued at once (not awaited one by one) are stored, and claimed, in the order issued', async ({ store, another }) => {
    if (!store.webhookJournal || !another.webhookJournal) return;
    const hook = id('hook-order');
    const [dead, claimer] = [id('dead'), id('claimer')];
    await store.heartbeat(claimer, 60_000);
    await another.heartbeat(dead, 60_000);
    const j = another.webhookJournal(hook, dead);
    const entries = Array.from({ length: 60 }, (_, i) => `e${String(i).padStart(2, '0')}`);
    const keys = await Promise.all(entries.map((e) => j.append(e)));
    assert.equal(new Set(keys).size, entries.length, 'a key per entry');
    await another.heartbeat(dead, 300);
    const c = store.webhookJournal(hook, claimer);
    const got: string[] = [];
    await waitFor(async () => (got.push(...(await c.claim(25)).map((x) => x.entry)), got.length >= entries.length), 10_000, "the dead node's entries to be claimed");
    assert.deepEqual(got, entries, 'claimed in the order the appends were issued');
  });
}
