import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication, StreamPosition } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { JetStreamHistoryStore, NatsBroker, NatsLink } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const pub = (n: unknown): Publication => ({ data: JSON.stringify({ n }), time: Date.now() });

test('idempotent publications with history on NATS: a key published by one node is not published again by another (Nats-Msg-Id)', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS at ${NATS_URL}`);
  const prefix = testPrefix('idem');
  // two nodes, each with its own connection, as in separate processes
  const node = () => {
    const link = new NatsLink({ servers: NATS_URL, prefix });
    const history = new JetStreamHistoryStore({ link });
    return { broker: new NatsBroker({ link, history }), history };
  };
  const a = node();
  const b = node();
  t.after(async () => {
    await Promise.all([a.broker.close(), b.broker.close(), a.history.close(), b.history.close()]);
    await dropPrefix(prefix);
  });
  assert.equal(a.broker.idempotentPublish, true);
  const core = new NatsBroker({ servers: NATS_URL, prefix });
  assert.equal(core.idempotentPublish, false, 'core NATS alone does not claim it');
  await core.close();
  const rec = new Recorder();
  await a.broker.start(new Recorder());
  await b.broker.start(rec);
  await b.broker.subscribe('h');
  const hist = { size: 100, ttlMs: 60_000 };
  const dups: string[] = [];
  const idem = (key: string, tag: string) => ({ key, ttlMs: 60_000, duplicate: () => dups.push(tag) });

  const first = await a.broker.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'a1') });
  assert.equal(first?.offset, 1);
  const again = await b.broker.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'b1') });
  assert.deepEqual(again, first, 'the retry on another node answers the first position');
  // the same key at the same time from both nodes, with a plain publication among them
  const [x, y] = await Promise.all([
    a.broker.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'a2') }),
    b.broker.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'b2') }),
    a.broker.publish('h', pub(3), { history: hist }),
  ]);
  assert.deepEqual(x, y);
  // a key is per channel: the same key on another channel appends
  assert.equal((await b.broker.publish('other', pub(1), { history: hist, idempotent: idem('k1', 'ok1') }))?.offset, 1);
  const last: StreamPosition | undefined = await a.broker.publish('h', pub('end'), { history: hist });
  await waitFor(() => rec.data('h').length >= 4, 15_000, 'the last publication');
  const h = rec.data('h') as { n: unknown }[];
  assert.equal(h.length, 4, JSON.stringify(h));
  assert.deepEqual(h[0], { n: 1 });
  assert.deepEqual(
    h
      .slice(1, 3)
      .map((p) => p.n)
      .sort(),
    [2, 3],
  );
  assert.deepEqual(h[3], { n: 'end' });
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    [1, 2, 3, 4],
  );
  assert.equal(last?.offset, 4);
  const stored = await a.history.read('h', { limit: -1 });
  assert.deepEqual(
    stored.publications.map((p) => p.offset),
    [1, 2, 3, 4],
    'history holds each once',
  );
  assert.equal(dups.length, 2, dups.join(','));
  assert.ok(dups.includes('b1') && dups.includes('a2') !== dups.includes('b2'), dups.join(','));

  // without history (core NATS): deduplicated on the node that saw the key, not across nodes (as documented)
  await b.broker.subscribe('plain');
  assert.equal(await a.broker.publish('plain', pub(1), { idempotent: idem('p', 'ap1') }), undefined);
  assert.equal(await a.broker.publish('plain', pub(1), { idempotent: idem('p', 'ap2') }), undefined);
  assert.equal(await b.broker.publish('plain', pub(1), { idempotent: idem('p', 'bp') }), undefined);
  await b.broker.publish('plain', pub('end'));
  await waitFor(() => rec.data('plain').length >= 3, 15_000, 'the plain publications');
  assert.deepEqual(rec.data('plain'), [{ n: 1 }, { n: 1 }, { n: 'end' }], 'once from A (its repeat dropped), once more from B');
  assert.deepEqual(dups.slice(2), ['ap2']);
});
