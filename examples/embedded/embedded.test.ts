import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once, sdk, until } from '../../packages/server/test/helpers.js';

test('the README library example runs: an anonymous SDK client subscribes, calls RPC and receives the result', async () => {
  const file = fileURLToPath(new URL('./server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    await until(() => /listening on \d+/.test(out), 15_000, 'example to listen');
    const port = /listening on (\d+)/.exec(out)![1];
    const c = sdk(`ws://127.0.0.1:${port}/connection/websocket`);
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
    await until(() => /disconnect /.test(out), 5000, 'disconnect hook');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
