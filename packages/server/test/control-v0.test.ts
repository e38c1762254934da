// Rolling upgrade, the direction control-plane.test.ts cannot show on today's code: a version-0
// node (before the typed control plane) receiving what today's encoder writes. The version-0
// acceptance rule is copied from the old code into fixtures/control-v0.ts (commit named there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROL_VERSION, decodeControl, encodeControl, type ControlMessage } from '../src/index.js';
import { readV0 } from './fixtures/control-v0.js';

const FROM = 'node-new';
const info = { uid: 'u1', name: 'n', version: '1.0.0', num_clients: 1, num_users: 1, num_subs: 2, num_channels: 1, uptime: 5 };
const client = { client: 'c1', user: 'alice', info: { name: 'Alice' } };

// Every message a version-0 node had, with what its handler must read from today's encoding.
const known: { message: ControlMessage; reads: Record<string, unknown> }[] = [
  { message: { op: 'subscribe', sel: { user: 'alice' }, channel: 'chat:a' }, reads: { sel: { user: 'alice' }, channel: 'chat:a' } },
  { message: { op: 'unsubscribe', sel: { client: 'c1' }, channel: 'chat:a', code: 2000, reason: 'server unsubscribe' }, reads: { sel: { client: 'c1' }, channel: 'chat:a', code: 2000, reason: 'server unsubscribe' } },
  { message: { op: 'disconnect', sel: { user: 'alice' }, code: 3503, reason: 'force disconnect', whitelist: ['c2'] }, reads: { sel: { user: 'alice' }, whitelist: ['c2'], code: 3503, reason: 'force disconnect' } },
  { message: { op: 'refresh', sel: { user: 'alice' }, expireAt: 1_900_000_000, info: { x: 1 } }, reads: { sel: { user: 'alice' }, expireAt: 1_900_000_000, info: { x: 1 } } },
  { message: { op: 'refresh', sel: { user: 'alice' }, expired: true }, reads: { sel: { user: 'alice' }, expired: true } },
  { message: { op: 'presence-update', channel: 'chat:a', info: client }, reads: { channel: 'chat:a', info: client } },
  { message: { op: 'node', info }, reads: { info } },
  { message: { op: 'survey', kind: 'channels', id: 's1' }, reads: { kind: 'channels', id: 's1', from: FROM } },
  { message: { op: 'survey-reply', id: 's1', to: 'node-old', data: { 'chat:a': 2 } }, reads: { to: 'node-old', id: 's1', data: { 'chat:a': 2 }, from: FROM } },
];

test('rolling upgrade: a version-0 node reads every message it knew from what today\'s encoder writes, the "v" field ignored', () => {
  for (const { message, reads } of known) {
    const text = encodeControl(message, FROM);
    assert.equal((JSON.parse(text) as { v?: unknown }).v, CONTROL_VERSION, 'today\'s messages carry the version');
    assert.deepEqual(readV0(text), { op: message.op, reads }, `${message.op}: the version-0 handler takes its branch and reads the same values`);
    // and today's decoder accepts its own encoding (the same message both ways)
    const decoded = decodeControl(text);
    assert.ok(decoded.ok, `${message.op}: ${decoded.ok ? '' : decoded.reason}`);
  }
  // The rule itself can fail: a renamed field or another op would not be read the same way.
  assert.notDeepEqual(readV0(JSON.stringify({ v: 1, op: 'subscribe', sel: {}, chan: 'chat:a', from: FROM })), { op: 'subscribe', reads: { sel: {}, channel: 'chat:a' } });
  assert.equal(readV0('{"v":1,"op":"subscribe-user","from":"x"}'), undefined);
});

test('rolling upgrade: messages added after version 0 (route, route-reply, revoke) are ignored by a version-0 node, not misread', () => {
  const later: ControlMessage[] = [
    { op: 'route', id: 'r1', to: 'node-old', kind: 'k', session: 's', data: 'x' },
    { op: 'route-reply', id: 'r1', to: 'node-old', outcome: 'ok' },
    { op: 'revoke', revocation: { kind: 'jti', jti: 'j1', expireAt: Date.now() + 60_000 } },
  ];
  for (const m of later) assert.equal(readV0(encodeControl(m, FROM)), undefined, `${m.op} falls through the version-0 switch`);
});
