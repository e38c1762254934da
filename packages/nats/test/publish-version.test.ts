// Centrifugo's publish `version` / `version_epoch` across nodes on NATS: the channel's last version
// rides in the headers of its top JetStream history message, and an append expects that top
// (Nats-Expected-Last-Subject-Sequence), so the check is atomic with the append whichever node
// publishes; what the stream holds is what it republishes, so offsets and delivery agree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Broker, Publication } from '@switchboard/server';
import { createSwitchboard, MAX_VERSION_EPOCH_LENGTH } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { createNatsEngine } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const pub = (v: unknown): Publication => ({ data: JSON.stringify(v), time: Date.now() });

/** Which node publishes the even-indexed versions of a race channel (varied per channel). */
const k2 = (ch: string): number => ch.charCodeAt(ch.length - 1) % 2;

/** 1..n in a shuffled order, the same on every run (a small LCG). */
function shuffled(n: number, seed: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i + 1);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('versioned publications on NATS: a version appended by one node makes older and equal ones stale on another', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('version');
  const a = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  const b = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await dropPrefix(prefix);
  });
  assert.equal(a.broker.versionedPublish, true);
  const plainEngine = createNatsEngine({ servers: NATS_URL, prefix, history: false, presence: false, state: false });
  assert.equal(plainEngine.broker.versionedPublish, false, 'without JetStream history the node checks');
  await plainEngine.close();
  assert.equal((a.broker as Broker).idempotentPublish, true, 'idempotency keys with history are checked by JetStream (Nats-Msg-Id)');
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
  // another epoch starts over
  const f1 = await a.broker.publish('h', pub({ v: 1, epoch: 'f' }), { history, version: v(1, 'f', 'a1f') });
  // b's last append left it a top with (3, 'e'), where (1, 'f') would pass: its append expects that
  // top, fails, and the real top (a's) makes it stale
  assert.deepEqual(await b.broker.publish('h', pub({ v: 1, epoch: 'f', b: true }), { history, version: v(1, 'f', 'b1f') }), f1);
  // shuffled versions from both nodes at once: what is appended (and so delivered) goes up strictly
  const versions = shuffled(30, 7).map((n) => n + 1);
  await Promise.all(versions.map((n, i) => (i % 2 === 0 ? a : b).broker.publish('h', pub({ v: n, race: true }), { history, version: v(n, 'f', `race${n}`) })));
  // without a version: not checked, and the stored version stays
  const plain = await a.broker.publish('h', pub({ plain: true }), { history });
  assert.deepEqual(await b.broker.publish('h', pub({ v: 31 }), { history, version: v(31, 'f', 'b31') }), plain, 'the version outlives a plain publication');
  const last = await b.broker.publish('h', pub({ v: 32, end: true }), { history, version: v(32, 'f', 'b32') });
  await waitFor(() => rec.data('h').some((d) => (d as { end?: boolean }).end === true), 10_000, 'the last publication');
  const got = rec.data('h') as { v?: number; race?: boolean; end?: boolean }[];
  assert.deepEqual(got.slice(0, 3), [{ v: 2 }, { v: 3 }, { v: 1, epoch: 'f' }]);
  const race = got.filter((d) => d.race === true).map((d) => d.v!);
  assert.ok(race.length >= 1 && race.every((n, i) => i === 0 || n > race[i - 1]!), `strictly increasing: ${race.join(',')}`);
  assert.equal(race.at(-1), 31, 'the highest version got in');
  assert.deepEqual(got.slice(-2), [{ plain: true }, { v: 32, end: true }]);
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    Array.from({ length: got.length }, (_, i) => i + 1),
    'offsets gapless: nothing stale was appended',
  );
  assert.equal(last?.offset, got.length);
  const stored = await b.history!.read('h', { limit: -1 });
  assert.deepEqual(
    stored.publications.map((p) => [p.offset, p.data]),
    rec.pubs('h').map((p) => [p.offset, p.data]),
    'history holds exactly what was delivered, in the same order',
  );
  assert.ok(stale.includes('b1') && stale.includes('b2') && stale.includes('b1f') && stale.includes('b31'), stale.join(','));
  t.diagnostic(`delivered of the race: ${race.join(',')}`);
  assert.ok(!stale.includes('a2') && !stale.includes('b3') && !stale.includes('a1f') && !stale.includes('b32'), stale.join(','));
  assert.equal(stale.filter((s) => s.startsWith('race')).length, versions.length - race.length);

  // a new stream (history removed, by either node) forgets the version: b's cached top is stale too
  await a.history!.remove('h');
  const fresh = await b.broker.publish('h', pub({ v: 1, fresh: true }), { history, version: v(1, 'f', 'fresh') });
  assert.equal(fresh?.offset, 1);
  assert.notEqual(fresh?.epoch, last?.epoch);
  assert.ok(!stale.includes('fresh'));
  assert.deepEqual(await a.broker.publish('h', pub({ v: 1 }), { history, version: v(1, 'f', 'fresh-again') }), fresh);
  assert.ok(stale.includes('fresh-again'));

  // more races, on several channels at once: in each, what is delivered goes up and ends at the top
  const channels = ['r0', 'r1', 'r2'];
  for (const ch of channels) await b.broker.subscribe(ch);
  const rounds = channels.map((ch, k) => ({ ch, versions: shuffled(40, 101 + k) }));
  await Promise.all(
    rounds.flatMap(({ ch, versions: vs }) => vs.map((n, i) => (i % 2 === k2(ch) ? a : b).broker.publish(ch, pub({ v: n }), { history, version: { version: n, epoch: '' } }))),
  );
  for (const { ch } of rounds) {
    await waitFor(() => rec.data(ch).some((d) => (d as { v: number }).v === 40), 10_000, `version 40 on ${ch}`);
    const seen = (rec.data(ch) as { v: number }[]).map((d) => d.v);
    assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), `${ch} strictly increasing: ${seen.join(',')}`);
    t.diagnostic(`delivered on ${ch}: ${seen.join(',')}`);
    assert.deepEqual(
      rec.pubs(ch).map((p) => p.offset),
      Array.from({ length: seen.length }, (_, i) => i + 1),
    );
    assert.equal((await a.history!.read(ch, { limit: -1 })).publications.length, seen.length, `${ch}: history holds what was delivered`);
  }

  // bad input: a version without history is refused, and nothing is published
  await assert.rejects(a.broker.publish('x', pub({}), { version: v(1, '', 'nohist') }), /needs history/);
  assert.equal((await a.history!.read('x', { limit: -1 })).position.offset, 0);
});

test('version epochs on NATS: any string up to the limit is kept exactly (header values are trimmed and refuse CR/LF)', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('vepoch');
  const a = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  const b = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await dropPrefix(prefix);
  });
  await a.broker.start(new Recorder());
  await b.broker.start(new Recorder());
  const history = { size: 10, ttlMs: 60_000 };
  const odd = [' spaced ', 'line\r\nbreak', 'é ü 🙂', '%41', 'x'.repeat(MAX_VERSION_EPOCH_LENGTH)];
  for (const [i, epoch] of odd.entries()) {
    const ch = `odd${i}`;
    let stale = 0;
    const first = await a.broker.publish(ch, pub({ epoch }), { history, version: { version: 5, epoch } });
    // b has no cached top: it reads the epoch back from the stored headers
    assert.deepEqual(await b.broker.publish(ch, pub({ epoch, again: true }), { history, version: { version: 5, epoch, stale: () => stale++ } }), first, JSON.stringify(epoch));
    assert.equal(stale, 1, JSON.stringify(epoch));
    // a near miss is another epoch: it starts over
    const near = epoch.trim() === epoch ? `${epoch} ` : epoch.trim();
    const other = await b.broker.publish(ch, pub({ near }), { history, version: { version: 1, epoch: near, stale: () => stale++ } });
    assert.equal(stale, 1, `${JSON.stringify(near)} is not ${JSON.stringify(epoch)}`);
    assert.equal(other?.offset, 2);
  }
});

test('a NATS stream whose history metadata expired is renewed without a version', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('vexpire');
  const a = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  const b = createNatsEngine({ servers: NATS_URL, prefix, presence: false, state: false });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await dropPrefix(prefix);
  });
  await a.broker.start(new Recorder());
  await b.broker.start(new Recorder());
  const short = { size: 10, ttlMs: 60_000, metaTtlMs: 300 };
  const old = await a.broker.publish('short', pub({ v: 5 }), { history: short, version: { version: 5, epoch: '' } });
  let renewed: { offset: number; epoch: string } | undefined;
  await waitFor(
    async () => {
      let wasStale = false;
      const r = await b.broker.publish('short', pub({ v: 1 }), { history: short, version: { version: 1, epoch: '', stale: () => (wasStale = true) } });
      if (wasStale) assert.deepEqual(r, old, 'stale until then, answered with the old top');
      else renewed = r;
      return !wasStale;
    },
    10_000,
    'the stream to expire and forget its version',
  );
  assert.equal(renewed?.offset, 1);
  assert.notEqual(renewed?.epoch, old?.epoch);
});

test('two Switchboard nodes on NATS: the version check holds across nodes, with idempotency keys too', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('version_nodes');
  const engines: ReturnType<typeof createNatsEngine>[] = [];
  const node = (name: string) => {
    const e = createNatsEngine({ servers: NATS_URL, prefix });
    engines.push(e);
    return createSwitchboard({
      broker: e.broker,
      history: e.history!,
      presence: e.presence!,
      state: e.state!,
      presenceRefreshMs: e.presenceRefreshMs,
      name,
      namespaces: { state: { historySize: 10, historyTtlMs: 60_000 }, live: {} },
    });
  };
  const a = node('A');
  const b = node('B');
  t.after(async () => {
    await a.shutdown({ timeoutMs: 500 });
    await b.shutdown({ timeoutMs: 500 });
    for (const e of engines) await e.acks?.close(); // the rest closes with its node
    await dropPrefix(prefix);
  });
  let stale = 0;
  const first = await a.publish('state:x', { v: 5 }, { version: 5 });
  assert.deepEqual(await b.publish('state:x', { v: 4 }, { version: 4, stale: () => stale++ }), first);
  assert.equal(stale, 1);
  const six = await b.publish('state:x', { v: 6 }, { version: 6, idempotencyKey: 'k6' });
  // the same key on the same node: a duplicate, answered with the first result
  assert.deepEqual(await b.publish('state:x', { v: 6 }, { version: 6, idempotencyKey: 'k6', stale: () => stale++ }), six);
  assert.equal(stale, 1, 'a duplicate is not stale');
  // the retry reaching another node: JetStream knows the key (Nats-Msg-Id), so it is a duplicate too
  assert.deepEqual(await a.publish('state:x', { v: 6 }, { version: 6, idempotencyKey: 'k6', stale: () => stale++ }), six);
  assert.equal(stale, 1, 'a duplicate on another node is not stale');
  await a.publish('state:x', { v: 6, again: true }, { version: 6, stale: () => stale++ });
  assert.equal(stale, 2);
  // a stale publication with a key never used: stale (the duplicate probe stores nothing), on both nodes
  assert.deepEqual(await b.publish('state:x', { v: 4 }, { version: 4, idempotencyKey: 'fresh', stale: () => stale++ }), six);
  assert.deepEqual(await a.publish('state:x', { v: 4 }, { version: 4, idempotencyKey: 'fresh', stale: () => stale++ }), six);
  assert.equal(stale, 4);
  const h = await a.history('state:x', { limit: -1 });
  assert.deepEqual(
    h.publications.map((p) => JSON.parse(p.data) as unknown),
    [{ v: 5 }, { v: 6 }],
  );
  // bad input: refused with nothing published
  await assert.rejects(a.publish('live:x', { v: 1 }, { version: 1 }), /version needs history in the channel/);
  await assert.rejects(a.publish('state:x', { v: 7 }, { version: -1 }), /version must be a non-negative integer/);
  await assert.rejects(a.publish('state:x', { v: 7 }, { version: 7, versionEpoch: 'x'.repeat(MAX_VERSION_EPOCH_LENGTH + 1) }), /version epoch must be a string/);
  await assert.rejects(a.publish('state:x', { v: 7 }, { version: 7, skipHistory: true }), /version needs the publication to go to history/);
  assert.equal((await b.history('state:x', { limit: 0 })).position.offset, 2);
});
