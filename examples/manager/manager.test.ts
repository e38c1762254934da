import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { RawClient, token, until } from '../../packages/server/test/helpers.js';
import { runExample } from '../run-example.js';

const SECRET = 'manager-example-secret';

function logLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('manager example: action routing, pushes to subscribers, hooks and middleware logging, exceptions recovered', async () => {
  const ex = await runExample(fileURLToPath(new URL('./server.ts', import.meta.url)), { SECRET });
  const url = (user: string) => token({ sub: user }, { secret: SECRET }).then((t) => `ws://127.0.0.1:${ex.port}/ws?token=${t}`);
  const ann = new RawClient(await url('ann'));
  const ben = new RawClient(await url('ben'));
  try {
    await ann.opened;
    await ben.opened;
    ben.send({ type: 'subscribe', channel: 'tasks:board', id: 's' });
    await ben.next((m) => m['id'] === 's');

    ann.send({ action: 'tasks.create', data: { title: ' write docs ' }, id: 1 });
    const created = await ann.next((m) => m['id'] === 1);
    assert.deepEqual(created['data'], { id: 1, title: 'write docs', done: false, by: 'ann' });
    const push = await ben.next((m) => m['channel'] === 'tasks:board');
    assert.equal(push['type'], 'created');
    assert.deepEqual(push['data'], { id: 1, title: 'write docs', done: false, by: 'ann' });

    ann.send({ action: 'tasks.complete', data: { id: 1 }, id: 2 });
    assert.equal(((await ann.next((m) => m['id'] === 2))['data'] as { done: boolean }).done, true);
    assert.equal((await ben.next((m) => m['channel'] === 'tasks:board'))['type'], 'completed');

    ann.send({ action: 'tasks.create', data: { title: '' }, id: 3 });
    assert.deepEqual(await ann.next((m) => m['id'] === 3), { type: 'error', code: 4000, message: 'title must be 1..200 characters', id: 3, action: 'tasks.create' });
    ann.send({ action: 'debug.crash', id: 4 });
    const crash = await ann.next((m) => m['id'] === 4);
    assert.equal(crash['code'], 100);
    ann.send({ action: 'nope', id: 5 });
    assert.equal((await ann.next((m) => m['id'] === 5))['code'], 104);
    // still working after all that
    ann.send({ action: 'tasks.list', id: 6 });
    assert.equal(((await ann.next((m) => m['id'] === 6))['data'] as unknown[]).length, 1);
    ann.send({ action: 'who.online', id: 7 });
    assert.deepEqual((await ann.next((m) => m['id'] === 7))['data'], ['ben']);

    ben.close();
    await until(() => logLines(ex.output()).some((l) => l['msg'] === 'disconnected' && l['user'] === 'ben'), 5000, 'disconnect hook');
    const lines = logLines(ex.output());
    const has = (pred: (l: Record<string, unknown>) => boolean) => lines.some(pred);
    assert.ok(has((l) => l['msg'] === 'connected' && l['user'] === 'ann' && l['protocol'] === 'plain'), 'connect hook');
    assert.ok(has((l) => l['msg'] === 'subscribed' && l['channel'] === 'tasks:board'), 'subscribe hook');
    assert.ok(has((l) => l['msg'] === 'command' && l['kind'] === 'rpc' && l['method'] === 'tasks.create'), 'logging middleware');
    assert.ok(has((l) => l['msg'] === 'handler exception recovered' && l['level'] === 'error'), 'recovery middleware');
    assert.ok(has((l) => l['msg'] === 'command failed' && l['code'] === 4000), 'failures logged with their code');
  } finally {
    ann.close();
    ben.close();
    await ex.stop();
  }
});
