import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sdk, token, once } from './helpers.js';

test('the official SDK connects, subscribes and receives a server publication', async () => {
  const srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000, forceRecovery: true } } });
  const c = sdk(srv.url, { token: await token({ sub: '42' }) });
  try {
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    const ctx = await connected;
    assert.ok(ctx.client);
    const sub = c.newSubscription('chat:room1');
    const subscribed = once<{ streamPosition?: { epoch: string } }>(sub, 'subscribed');
    sub.subscribe();
    const s = await subscribed;
    assert.ok(s.streamPosition?.epoch);
    const pub = once<{ data: unknown; offset?: number }>(sub, 'publication');
    await srv.sb.publish('chat:room1', { text: 'hi' });
    const p = await pub;
    assert.deepEqual(p.data, { text: 'hi' });
    assert.equal(p.offset, 1);
  } finally {
    c.disconnect();
    await srv.close();
  }
});
