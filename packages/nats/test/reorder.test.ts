import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { connect, headers } from 'nats';
import { NatsBroker, NatsLink } from '../src/index.js';
import { H } from '../src/codec.js';
import { OffsetReorder } from '../src/reorder.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const pub = (offset: number, epoch = 'e1'): Publication => ({ data: JSON.stringify({ offset }), offset, epoch });

function recorder(holdMs = 60_000, max = Infinity) {
  const got: [string, number, string][] = [];
  const r = new OffsetReorder(holdMs, (ch, p) => got.push([ch, p.offset ?? 0, p.epoch ?? '']), max);
  return { r, got, offsets: (ch = 'c') => got.filter((g) => g[0] === ch).map((g) => g[1]) };
}

test('OffsetReorder: in order passes at once; ahead of a missing offset waits for it; repeats, new epochs and other channels are not held', () => {
  const { r, got, offsets } = recorder();
  try {
    r.push('c', pub(1));
    r.push('c', pub(2));
    assert.deepEqual(offsets(), [1, 2]);
    r.push('c', pub(4));
    r.push('c', pub(5));
    r.push('other', pub(7)); // first seen on its channel: passes
    assert.deepEqual(offsets(), [1, 2], '4 and 5 wait for 3');
    assert.deepEqual(offsets('other'), [7]);
    assert.equal(r.heldCount, 2);
    r.push('c', pub(3));
    assert.deepEqual(offsets(), [1, 2, 3, 4, 5]);
    assert.equal(r.heldCount, 0);
    r.push('c', pub(5)); // a repeat: the node judges it
    assert.deepEqual(offsets(), [1, 2, 3, 4, 5, 5]);
    r.push('c', pub(9));
    r.push('c', pub(1, 'e2')); // a new epoch: what was held goes first, in order, then the new stream
    assert.deepEqual(got.filter((g) => g[0] === 'c').slice(-2), [
      ['c', 9, 'e1'],
      ['c', 1, 'e2'],
    ]);
    r.push('c', pub(2, 'e2'));
    assert.deepEqual(offsets().slice(-2), [1, 2]);
  } finally {
    r.close();
  }
});

test('OffsetReorder: a missing offset that never comes: what is held is handed on in offset order after the hold', async () => {
  const { r, offsets } = recorder(50);
  try {
    r.push('c', pub(1));
    r.push('c', pub(4));
    r.push('c', pub(3)); // 2 is lost
    assert.deepEqual(offsets(), [1]);
    await waitFor(() => offsets().length === 3, 5000, 'the held publications after the hold');
    assert.deepEqual(offsets(), [1, 3, 4]);
    r.push('c', pub(5));
    assert.deepEqual(offsets(), [1, 3, 4, 5], 'and the stream goes on from the last one handed on');
  } finally {
    r.close();
  }
});

test('OffsetReorder: channels beyond the bound forget the oldest one with nothing held; forget drops a channel', () => {
  const { r, offsets } = recorder(60_000, 2);
  try {
    r.push('a', pub(1));
    r.push('a', pub(3)); // held: a is kept
    r.push('b', pub(1));
    r.push('c', pub(1)); // evicts b (nothing held), not a
    assert.equal(r.channelCount, 2);
    r.push('a', pub(2));
    assert.deepEqual(offsets('a'), [1, 2, 3]);
    r.forget('a');
    assert.equal(r.channelCount, 1);
    assert.equal(r.heldCount, 0);
  } finally {
    r.close();
  }
});

const available = await natsAvailable();
test('nats broker: history publications republished out of order reach the node in offset order', { skip: !available && `no NATS at ${NATS_URL}` }, async (t) => {
  const prefix = testPrefix('reorder');
  const link = new NatsLink({ servers: NATS_URL, prefix });
  const broker = new NatsBroker({ link, reorderHoldMs: 30_000 });
  const rec = new Recorder();
  const raw = await connect({ servers: NATS_URL });
  t.after(async () => {
    await broker.close();
    await raw.close();
    await dropPrefix(prefix);
  });
  await broker.start(rec);
  const ch = 'orders:1';
  await broker.subscribe(ch);
  // What the stream's republish sends (offset and epoch headers), in the order a swap under load gives.
  const send = (offset: number) => {
    const h = headers();
    h.set(H.offset, String(offset));
    h.set(H.epoch, 'ep');
    raw.publish(link.names.client(ch), new TextEncoder().encode(JSON.stringify({ d: JSON.stringify({ offset }) })), { headers: h });
  };
  for (const o of [1, 2, 4, 3, 5, 7, 6, 8]) send(o);
  await raw.flush();
  await waitFor(() => rec.pubs(ch).length === 8, 10_000, 'the eight publications');
  assert.deepEqual(
    rec.pubs(ch).map((p) => p.offset),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(
    rec.pubs(ch).map((p) => JSON.parse(p.data).offset),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
});
