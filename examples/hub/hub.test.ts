import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { RawClient, token } from '../../packages/server/test/helpers.js';
import { runExample } from '../run-example.js';

const SECRET = 'hub-example-secret';

test('hub example: a service notifies one channel and everyone (*); raw WebSocket clients receive plain JSON', async () => {
  const ex = await runExample(fileURLToPath(new URL('./server.ts', import.meta.url)), { API_KEY: 'k-123', SECRET });
  const base = `http://127.0.0.1:${ex.port}`;
  const notify = (body: unknown, key = 'k-123') =>
    fetch(`${base}/notify`, { method: 'POST', headers: { authorization: `apikey ${key}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const subscriber = new RawClient(`ws://127.0.0.1:${ex.port}/ws`);
  const bystander = new RawClient(`ws://127.0.0.1:${ex.port}/ws?token=${await token({ sub: 'u7' }, { secret: SECRET })}`);
  try {
    await subscriber.opened;
    await bystander.opened;
    await subscriber.next((m) => m['type'] === 'connected');
    // The signed-in bystander is put in its personal channel at connect.
    assert.deepEqual(await bystander.next((m) => m['type'] === 'subscribed'), { type: 'subscribed', channel: 'user:#u7' });
    subscriber.send({ type: 'subscribe', channel: 'notifications:deploys', id: 1 });
    assert.equal((await subscriber.next((m) => m['id'] === 1))['type'], 'subscribed');

    let r = await notify({ channel: 'notifications:deploys', event: 'deployed', payload: { version: '1.2.3' } });
    assert.equal(r.status, 200);
    const got = await subscriber.next((m) => m['channel'] === 'notifications:deploys');
    assert.equal(got['type'], 'deployed');
    assert.deepEqual(got['data'], { version: '1.2.3' });

    r = await notify({ channel: 'user:#u7', event: 'mention', payload: { by: 'ann' } });
    assert.equal(r.status, 200);
    assert.deepEqual((await bystander.next((m) => m['channel'] === 'user:#u7'))['data'], { by: 'ann' });

    r = await notify({ channel: '*', event: 'maintenance', payload: { at: '22:00' } });
    assert.equal(r.status, 200);
    for (const c of [subscriber, bystander]) {
      const m = await c.next((x) => x['channel'] === '*');
      assert.equal(m['type'], 'maintenance');
      assert.deepEqual(m['data'], { at: '22:00' });
    }
    // The bystander got nothing from the topic it did not subscribe to.
    assert.equal(bystander.messages.filter((m) => (m as Record<string, unknown>)['channel'] === 'notifications:deploys').length, 0);

    // Clients cannot publish to notification topics; services with a bad key or body are refused.
    subscriber.send({ type: 'publish', channel: 'notifications:deploys', data: { fake: true }, id: 2 });
    assert.equal((await subscriber.next((m) => m['id'] === 2))['code'], 103);
    assert.equal((await notify({ channel: '*', event: 'x' }, 'wrong')).status, 401);
    assert.equal((await notify('{oops')).status, 400);
    assert.equal((await notify({ channel: 'nope:x', event: 'x' })).status, 404);
    assert.equal((await notify({ channel: 'notifications:deploys' })).status, 400);
  } finally {
    subscriber.close();
    bystander.close();
    await ex.stop();
  }
});
