import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signToken, once, sdk, startServerProcess, testConfig, writeConfig } from './helpers.js';

test('SIGTERM drains: connected clients are told to reconnect (3001) and the process exits within the shutdown timeout', async () => {
  const configFile = writeConfig(testConfig({ shutdown: { timeout: '4s' } }));
  const srv = await startServerProcess(configFile);
  const token = await signToken('drain-user');
  const clients = [sdk(srv.wsUrl, { token }), sdk(srv.wsUrl, { token })];
  try {
    const seen: { code: number; reason: string }[] = [];
    for (const c of clients) {
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      c.newSubscription('chat:drain').subscribe();
    }
    // After the drain the server is gone: stop the SDKs' reconnect loops at their first attempt.
    const reconnecting = clients.map(
      (c) =>
        new Promise<void>((resolve) =>
          c.once('connecting', (ctx: { code: number; reason: string }) => {
            seen.push({ code: ctx.code, reason: ctx.reason });
            c.disconnect();
            resolve();
          }),
        ),
    );
    const exited = srv.exited;
    srv.child.kill('SIGTERM');
    const outcome = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 4000 + 3000).unref())]);
    assert.notEqual(outcome, 'timeout', 'the process did not exit within the shutdown timeout');
    assert.deepEqual(outcome, { code: 0, signal: null });
    await Promise.all(reconnecting);
    assert.deepEqual(seen, [
      { code: 3001, reason: 'shutdown' },
      { code: 3001, reason: 'shutdown' },
    ]);
    const msgs = srv.logs.map((l) => l['msg']);
    assert.ok(msgs.includes('signal received'));
    assert.ok(msgs.includes('shutdown complete'));
    // Nothing secret reaches the logs.
    assert.ok(!srv.output().includes(token));
    assert.ok(!srv.output().includes('standalone-test-hmac-secret'));
  } finally {
    for (const c of clients) c.disconnect();
    await srv.stop();
  }
});
