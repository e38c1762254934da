// The typed control plane on the memory engine: bad control messages are dropped and logged, the
// node keeps serving its clients, and version-0 messages (nodes before the typed format) still apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlPlaneScenario, RecordingLogger } from '../src/testing/index.js';
import { decodeControl, encodeControl } from '../src/index.js';
import { startServer } from './helpers.js';
import { connectNative, command, takePubs } from './reliability/native.js';

test('control plane (memory): malformed and future-version messages are dropped and logged, the node keeps serving', async () => {
  const log = new RecordingLogger();
  const srv = await startServer({ logger: log, namespaces: { chat: { allowSubscribeForClient: true } } });
  try {
    const { c } = await connectNative(srv.url, 'alice');
    assert.equal((await command(c, 'subscribe', { channel: 'chat:a' })).error, undefined);
    await controlPlaneScenario(srv.sb, srv.sb, log, 'mem');
    // A disconnect for alice with a code of the wrong type, and one from a future version: neither applies.
    await srv.sb.broker.publishControl(JSON.stringify({ op: 'disconnect', sel: { user: 'alice' }, code: '3503', reason: 'x', whitelist: [], from: 'n' }));
    await srv.sb.broker.publishControl(JSON.stringify({ v: 2, op: 'disconnect', sel: { user: 'alice' }, code: 3503, reason: 'x', whitelist: [], from: 'n' }));
    // The node keeps serving: alice gets a publication and answers a command.
    await srv.sb.publish('chat:a', { n: 1 });
    assert.equal((await command(c, 'ping', {})).error, undefined);
    assert.deepEqual(takePubs(c, 'chat:a').map((p) => p.data), [{ n: 1 }]);
    assert.equal(c.closed, undefined);
    // A valid version-0 disconnect (what a node of the previous version sends) still applies.
    await srv.sb.broker.publishControl(JSON.stringify({ op: 'disconnect', sel: { user: 'alice' }, code: 3503, reason: 'force disconnect', whitelist: [], from: 'old' }));
    assert.equal((await c.waitClose()).code, 3503);
  } finally {
    await srv.close();
  }
});

test('control messages: the encoder writes the version, the decoder round-trips every op and names what is wrong', () => {
  const sel = { user: 'u' };
  const all = [
    { op: 'subscribe', sel, channel: 'c' },
    { op: 'unsubscribe', sel, channel: 'c', code: 2000, reason: 'r' },
    { op: 'disconnect', sel, code: 3503, reason: 'r', whitelist: ['x'] },
    { op: 'refresh', sel, expireAt: 5, info: { a: 1 } },
    { op: 'presence-update', channel: 'c', info: { user: 'u', client: 'k', chanInfo: '{}' } },
    { op: 'presence-update', channel: 'c', info: { user: 'u', client: 'k', chanInfo: '{}', rev: 3 } },
    { op: 'node', info: { uid: 'n', name: 'n', version: '1', num_clients: 1, num_users: 1, num_subs: 1, num_channels: 1, uptime: 1 } },
    { op: 'survey', kind: 'channels', id: 'i' },
    { op: 'survey-reply', id: 'i', to: 'n', data: { c: 1 } },
  ] as const;
  for (const m of all) {
    const text = encodeControl(m, 'me');
    assert.equal(JSON.parse(text).v, 1);
    assert.deepEqual(decodeControl(text), { ok: true, message: { ...m, from: 'me' } });
  }
  assert.deepEqual(decodeControl('{"op":"subscribe","sel":{},"channel":7,"from":"n"}'), { ok: false, reason: 'channel must be a string', op: 'subscribe' });
  assert.deepEqual(decodeControl('{"op":"presence-update","channel":"c","info":{"user":"u","client":"k","rev":-1},"from":"n"}'), {
    ok: false,
    reason: 'rev must be a non-negative integer',
    op: 'presence-update',
  });
  assert.deepEqual(decodeControl('{"v":2,"op":"subscribe","sel":{},"channel":"c","from":"n"}'), { ok: false, reason: 'version 2 is newer than 1', op: 'subscribe' });
});
