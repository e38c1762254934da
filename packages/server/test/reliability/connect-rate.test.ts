// The node-wide connect rate limit: a burst of upgrades past maxConnectsPerSecond gets HTTP 503
// "connect rate limit" with Retry-After before any authentication work; later connects get in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, until } from '../helpers.js';

type Attempt = { ws: WebSocket; ok: boolean; status?: number; retryAfter?: string; body?: string };

function attempt(url: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws, ok: true }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ ws, ok: false, status: res.statusCode!, retryAfter: res.headers['retry-after'], body }));
    });
    ws.once('error', () => {});
  });
}

test('maxConnectsPerSecond refuses a connect burst past the rate with 503 + Retry-After; later connects get in', { timeout: 60_000 }, async () => {
  // One connect per second, burst of one: 60 simultaneous upgrades cannot all fit unless they take a minute.
  const srv = await startServer({ allowAnonymous: true, limits: { maxConnectsPerSecond: 1 } });
  const all: Attempt[] = [];
  try {
    all.push(...(await Promise.all(Array.from({ length: 60 }, () => attempt(srv.url)))));
    const ok = all.filter((r) => r.ok);
    const refused = all.filter((r) => !r.ok);
    assert.ok(ok.length >= 1, 'the burst allowance let the first connect in');
    assert.ok(refused.length >= 1, 'connects past the rate were refused');
    assert.equal(ok.length + refused.length, 60);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.equal(r.retryAfter, '1');
      assert.deepEqual(JSON.parse(r.body!), { error: { code: 503, message: 'connect rate limit' } });
    }
    assert.equal(srv.sb.counts().connections, ok.length, 'refused upgrades never became connections');
    // The bucket refills: a client retrying with backoff gets in.
    await until(
      async () => {
        const a = await attempt(srv.url);
        all.push(a);
        return a.ok;
      },
      20_000,
      'a later connect got in',
    );
    // Without the limit (the default), the same burst is not refused for its rate.
    const other = await startServer({ allowAnonymous: true });
    try {
      const burst = await Promise.all(Array.from({ length: 60 }, () => attempt(other.url)));
      all.push(...burst);
      assert.equal(burst.filter((r) => r.ok).length, 60);
    } finally {
      await other.close();
    }
  } finally {
    for (const r of all) r.ws.terminate();
    await srv.close();
  }
});
