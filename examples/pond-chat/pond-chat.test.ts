import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { token, until } from '../../packages/server/test/helpers.js';
import { ChannelState, ConnectionState, connected, join, pond, stopAll, waitFor } from '../../packages/server/test/pond-helpers.js';
import { runExample } from '../run-example.js';

const SECRET = 'pond-chat-example-secret';
afterEach(() => stopAll());

function presenceOf(ch: object): { user: string; chan_info?: { nickname: string; typing: boolean } }[] {
  return (ch as unknown as { presence: never[] }).presence;
}

test('pond-chat example: token auth, rooms by path, presence, typing indicators to all but the typist, messages, dms', async () => {
  const ex = await runExample(fileURLToPath(new URL('./server.ts', import.meta.url)), { SECRET });
  const url = `ws://127.0.0.1:${ex.port}/api/socket`;
  const tok = (sub: string, info?: unknown) => token({ sub, ...(info ? { info } : {}) }, { secret: SECRET });
  try {
    // A wrong token never connects.
    const intruder = pond(url, { token: await token({ sub: 'x' }, { secret: 'wrong' }) });
    let errored = false;
    intruder.onError(() => (errored = true));
    intruder.connect();
    await until(() => errored, 5000, 'intruder refused');
    assert.notEqual(intruder.getState(), ConnectionState.CONNECTED);

    const alice = pond(url, { token: await tok('alice') });
    const bob = pond(url, { token: await tok('bob') });
    await connected(alice);
    await connected(bob);
    const A = await join(alice, '/chat/lobby', { nickname: 'Al' });
    assert.deepEqual((await waitFor(A.msgs, 'welcome')).payload, { room: 'lobby', nickname: 'Al' });
    const B = await join(bob, '/chat/lobby', { nickname: 'Bobby' });
    await until(() => presenceOf(A.ch).length === 2, 5000, 'alice sees bob');

    // Typing: alice sees it, bob (the typist) only gets his acknowledgement.
    assert.deepEqual(await B.ch.sendForResponse('typing' as never, { typing: true } as never), {});
    assert.deepEqual((await waitFor(A.msgs, 'typing')).payload, { from: 'Bobby', typing: true });
    await until(() => presenceOf(A.ch).some((p) => p.user === 'bob' && p.chan_info?.typing === true), 5000, 'typing in presence');
    assert.equal(B.msgs.filter((m) => m.event === 'typing').length, 0);

    B.ch.sendMessage('message' as never, { text: 'hello all' });
    for (const M of [A, B]) assert.equal((await waitFor(M.msgs, 'message')).payload['text'], 'hello all');
    const bad = (await B.ch.sendForResponse('message' as never, { text: '' } as never)) as Record<string, unknown>;
    assert.equal(bad['message'], 'text must be 1..2000 characters');

    assert.deepEqual(await A.ch.sendForResponse('dm' as never, { to: ['bob'], text: 'psst' } as never), { to: ['bob'] });
    assert.deepEqual((await waitFor(B.msgs, 'dm')).payload, { from: 'Al', text: 'psst' });
    assert.equal(A.msgs.filter((m) => m.event === 'dm').length, 0);

    // Staff rooms: declined for members, open to staff.
    const S = await join(bob, '/chat/staff-room');
    assert.equal(S.ch.channelState, ChannelState.DECLINED);
    const carol = pond(url, { token: await tok('carol', { role: 'staff' }) });
    await connected(carol);
    assert.equal((await join(carol, '/chat/staff-room')).ch.channelState, ChannelState.JOINED);

    B.ch.leave();
    await until(() => presenceOf(A.ch).length === 1, 5000, 'bob left');
  } finally {
    stopAll();
    await ex.stop();
  }
});
