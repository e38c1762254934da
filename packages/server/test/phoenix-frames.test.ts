// Unit tests of the Phoenix V2 frame helpers (PROTOCOL-phoenix.md §2, §8, §14): what each
// publication, presence change and join param becomes on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as f from '../src/protocols/phoenix/frames.js';

const parse = (s: string): unknown => JSON.parse(s);

test('phoenix frames: publicationFrame maps {event, payload} to that event, reserved names and everything else to message', () => {
  const pub = (data: unknown, extra: { offset?: number; epoch?: string } = {}) => ({ data: JSON.stringify(data), ...extra });
  assert.deepEqual(parse(f.publicationFrame('t', pub({ event: 'news', payload: { n: 1 } }))), [null, null, 't', 'news', { n: 1 }]);
  // A non-object payload is wrapped, a missing one is {}.
  assert.deepEqual(parse(f.publicationFrame('t', pub({ event: 'news', payload: 'hi' }))), [null, null, 't', 'news', { data: 'hi' }]);
  assert.deepEqual(parse(f.publicationFrame('t', pub({ event: 'news' }))), [null, null, 't', 'news', {}]);
  for (const event of ['phx_close', 'phx_error', 'phx_reply', 'phx_join', 'chan_reply_3', 'presence_state', 'presence_diff', 'heartbeat']) {
    const data = { event, payload: { x: 1 } };
    assert.deepEqual(parse(f.publicationFrame('t', pub(data))), [null, null, 't', 'message', data], event);
  }
  // Not an event envelope: the whole data as message; scalars and arrays wrapped as {data}.
  assert.deepEqual(parse(f.publicationFrame('t', pub({ event: 7 }))), [null, null, 't', 'message', { event: 7 }]);
  assert.deepEqual(parse(f.publicationFrame('t', pub(42))), [null, null, 't', 'message', { data: 42 }]);
  assert.deepEqual(parse(f.publicationFrame('t', pub([1, 2]))), [null, null, 't', 'message', { data: [1, 2] }]);
  assert.deepEqual(parse(f.publicationFrame('t', pub(null))), [null, null, 't', 'message', { data: null }]);
  // A positioned publication carries "<offset>:<epoch>" in the ref slot; offset 0 (no history) does not.
  assert.deepEqual(parse(f.publicationFrame('t', pub({ a: 1 }, { offset: 7, epoch: 'ep' }))), [null, '7:ep', 't', 'message', { a: 1 }]);
  assert.deepEqual(parse(f.publicationFrame('t', pub({ a: 1 }, { offset: 0, epoch: 'ep' }))), [null, null, 't', 'message', { a: 1 }]);
});

test('phoenix frames: decode accepts V2 arrays only', () => {
  assert.deepEqual(f.decode('["1","2","t","e",{"a":1}]'), { joinRef: '1', ref: '2', topic: 't', event: 'e', payload: { a: 1 } });
  assert.deepEqual(f.decode('[null,null,"t","e",5]'), { joinRef: null, ref: null, topic: 't', event: 'e', payload: 5 });
  for (const bad of ['', 'nope', '{}', '[]', '["1","2","t","e"]', '[1,"2","t","e",{}]', '["1",2,"t","e",{}]', '["1","2",3,"e",{}]', '["1","2","t",null,{}]']) {
    assert.equal(f.decode(bad), undefined, bad);
  }
});

test('phoenix frames: recoverParam reads "offset:epoch" and {offset, epoch}, refuses anything else', () => {
  assert.deepEqual(f.recoverParam({ recover: '12:abc' }), { offset: 12, epoch: 'abc' });
  assert.deepEqual(f.recoverParam({ recover: '0:a:b' }), { offset: 0, epoch: 'a:b' });
  assert.deepEqual(f.recoverParam({ recover: { offset: 3, epoch: 'e' } }), { offset: 3, epoch: 'e' });
  for (const bad of [undefined, null, 5, 'x', {}, { recover: 7 }, { recover: ':e' }, { recover: 'x:e' }, { recover: '-1:e' }, { recover: '1.5:e' }, { recover: { offset: '1', epoch: 'e' } }, { recover: { offset: -1, epoch: 'e' } }, { recover: { offset: 1 } }]) {
    assert.equal(f.recoverParam(bad), undefined, JSON.stringify(bad));
  }
});

test('phoenix frames: presence state and diffs keyed by user (client id when anonymous), one meta per client, updates as leave+join', () => {
  const alice1 = { user: 'alice', client: 'c1', connInfo: '{"device":"phone"}' };
  const alice2 = { user: 'alice', client: 'c2', chanInfo: '{"s":"here"}' };
  const anon = { user: '', client: 'c3' };
  assert.deepEqual(parse(f.presenceState([alice1, alice2, anon])), {
    alice: {
      metas: [
        { phx_ref: 'c1', user: 'alice', client: 'c1', conn_info: { device: 'phone' } },
        { phx_ref: 'c2', user: 'alice', client: 'c2', chan_info: { s: 'here' } },
      ],
    },
    c3: { metas: [{ phx_ref: 'c3', user: '', client: 'c3' }] },
  });
  assert.deepEqual(parse(f.presenceDiff('t', 'join', alice1)), [null, null, 't', 'presence_diff', { joins: { alice: { metas: [{ phx_ref: 'c1', user: 'alice', client: 'c1', conn_info: { device: 'phone' } }] } }, leaves: {} }]);
  assert.deepEqual(parse(f.presenceDiff('t', 'leave', anon)), [null, null, 't', 'presence_diff', { joins: {}, leaves: { c3: { metas: [{ phx_ref: 'c3', user: '', client: 'c3' }] } } }]);
  // The second update (rev 2): new ref c2.2 with phx_ref_prev c2.1, and c2.1 left.
  assert.deepEqual(parse(f.presenceDiff('t', 'update', { ...alice2, chanInfo: '{"s":"away"}', rev: 2 })), [
    null,
    null,
    't',
    'presence_diff',
    {
      joins: { alice: { metas: [{ phx_ref: 'c2.2', user: 'alice', client: 'c2', chan_info: { s: 'away' }, phx_ref_prev: 'c2.1' }] } },
      leaves: { alice: { metas: [{ phx_ref: 'c2.1', user: 'alice', client: 'c2' }] } },
    },
  ]);
  // The first update replaces the entry whose ref is the bare client id.
  const first = parse(f.presenceDiff('t', 'update', { ...alice2, rev: 1 })) as [null, null, string, string, { joins: { alice: { metas: { phx_ref_prev: string }[] } } }];
  assert.equal(first[4].joins.alice.metas[0]!.phx_ref_prev, 'c2');
});

test('phoenix frames: binaryHeader reads the refs and topic of a kind-0 push, nothing else', () => {
  const push = Buffer.concat([Buffer.from([0, 1, 2, 3, 1]), Buffer.from('j12topE'), Buffer.from([9])]);
  assert.deepEqual(f.binaryHeader(push), { joinRef: 'j', ref: '12', topic: 'top' });
  assert.equal(f.binaryHeader(Buffer.from([1, 1, 1, 1, 1, 65, 65, 65, 65])), undefined, 'kind 1');
  assert.equal(f.binaryHeader(Buffer.from([0, 9, 1, 1, 1, 65])), undefined, 'lengths beyond the frame');
  assert.equal(f.binaryHeader(Buffer.from([0, 1])), undefined, 'too short');
});
