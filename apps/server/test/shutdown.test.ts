import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FROM_DIST, signToken, once, sdk, startServerProcess, testConfig, writeConfig } from './helpers.js';

test('SIGTERM drains: connected clients are told to reconnect (3001) and the process exits within the shutdown timeout', { timeout: 90_000 }, async () => {
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

// `npm start` runs the build: locally, after editing sources without rebuilding, this test would
// exercise old code, so it waits for `npm run build`; in CI (a fresh `npm ci` build) it always runs.
const stale = !FROM_DIST && process.env['CI'] !== 'true' ? 'the build is older than the sources: run `npm run build`' : false;

test('npm start, as the README says; Ctrl-C (SIGINT to the whole process group) drains once and exits 0', { timeout: 90_000, skip: stale }, async () => {
  const { spawn } = await import('node:child_process');
  const { ROOT } = await import('./helpers.js');
  assert.ok(FROM_DIST, 'apps/server/dist is missing or older than the sources: run `npm install` (or `npm run build`) first');
  const configFile = writeConfig(testConfig({ shutdown: { timeout: '4s' } }));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SWITCHBOARD_')) env[k] = v;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const child = spawn(npm, ['start', '--', '--config', configFile, '--port', '0'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not listen in 30 s:\n${out}`)), 30_000);
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"port":(\d+).*"msg":"switchboard listening"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const c = sdk(`ws://127.0.0.1:${port}/connection/websocket`, { token: await signToken('ctrl-c') });
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const reconnecting = new Promise<{ code: number }>((resolve) =>
      c.once('connecting', (ctx: { code: number }) => {
        c.disconnect();
        resolve(ctx);
      }),
    );
    process.kill(-child.pid!, 'SIGINT');
    const ended = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref())]);
    assert.notEqual(ended, 'timeout', out);
    // npm itself ends by the SIGINT it was sent (or 0); the server process drained and exited 0.
    assert.ok((ended as { code: number | null }).code === 0 || (ended as { signal: string | null }).signal === 'SIGINT', JSON.stringify(ended));
    assert.equal((await reconnecting).code, 3001);
    assert.match(out, /"msg":"shutdown complete"/);
    assert.doesNotMatch(out, /second signal/);
    assert.equal(out.match(/"msg":"signal received"/g)?.length, 1);
    assert.doesNotMatch(out, /npm error/);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await exited;
  }
});
