import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { once, sdk, until } from '../../packages/server/test/helpers.js';
import { runExample } from '../run-example.js';

test('the README library example runs: an anonymous SDK client subscribes, calls RPC and receives the result', async () => {
  const ex = await runExample(fileURLToPath(new URL('./server.ts', import.meta.url)));
  try {
    const c = sdk(`ws://127.0.0.1:${ex.port}/connection/websocket`);
    c.connect();
    const sub = c.newSubscription('chat:lobby');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const pub = once<{ data: unknown }>(sub, 'publication');
    const r = await c.rpc('shout', { text: 'hello' });
    assert.deepEqual(r.data, { ok: true });
    assert.deepEqual((await pub).data, { text: 'HELLO', from: 'anonymous' });
    c.disconnect();
    await until(() => /disconnect /.test(ex.output()), 5000, 'disconnect hook');
  } finally {
    await ex.stop();
  }
});
