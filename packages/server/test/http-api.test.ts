import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiHandler, createSwitchboard } from '../src/index.js';
import { SECRET, once, sdk, token } from './helpers.js';

test('createApiHandler mounts the server API in an embedding app, next to its own routes', async () => {
  const sb = createSwitchboard({ token: { hmacSecret: SECRET }, namespaces: { room: { allowSubscribeForClient: true, presence: true } } });
  const observed: [string, number][] = [];
  const api = createApiHandler(sb, { key: 'k', prefix: '/rt/api', observe: (m, c) => observed.push([m, c]) });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end('the app');
    });
  });
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const c = sdk(`${base.replace('http', 'ws')}/connection/websocket`, { token: await token({ sub: '9' }) });
  try {
    assert.equal(await (await fetch(`${base}/other`)).text(), 'the app');
    assert.equal(await (await fetch(`${base}/rt/apiary`)).text(), 'the app');
    const post = (method: string, body: unknown, key = 'k') =>
      fetch(`${base}/rt/api/${method}`, { method: 'POST', headers: { 'x-api-key': key }, body: JSON.stringify(body) });
    assert.equal((await post('info', {}, 'bad')).status, 401);

    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const sub = c.newSubscription('room:1');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const got = once<{ data: unknown }>(sub, 'publication');
    // The data is serialised once by the handler and handed to the core as JSON text.
    assert.deepEqual(await (await post('publish', { channel: 'room:1', data: { a: [1, { b: null }] } })).json(), { result: { subscribers: 1 } });
    assert.deepEqual((await got).data, { a: [1, { b: null }] });
    assert.deepEqual(await (await post('presence_stats', { channel: 'room:1' })).json(), { result: { num_clients: 1, num_users: 1 } });
    // Library errors keep their codes: history is off in this namespace (108).
    assert.deepEqual(await (await post('history', { channel: 'room:1' })).json(), { error: { code: 108, message: 'not available' } });
    assert.deepEqual(observed, [
      ['publish', 0],
      ['presence_stats', 0],
      ['history', 108],
    ]);
    assert.throws(() => createApiHandler(sb, {}), /API key/);
  } finally {
    c.disconnect();
    await sb.shutdown({ timeoutMs: 1000 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});
