// Centrifugo's idempotency_key on publish and broadcast: a retried publication is not published
// twice, and the retry gets the first one's result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiHandler, createSwitchboard, IdempotencyCache, MAX_IDEMPOTENCY_KEY_LENGTH } from '../src/index.js';
import { SECRET, once, sdk, token, until } from './helpers.js';

test('idempotency_key: a repeated publish or broadcast is published once and answered with the first result; bad keys are refused', async () => {
  const sb = createSwitchboard({
    token: { hmacSecret: SECRET },
    namespaces: { room: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 }, live: { allowSubscribeForClient: true } },
  });
  const api = createApiHandler(sb, { key: 'k', prefix: '/api' });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const c = sdk(`${base.replace('http', 'ws')}/connection/websocket`, { token: await token({ sub: '1' }) });
  const post = async (method: string, body: unknown) =>
    (await (await fetch(`${base}/api/${method}`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: JSON.stringify(body) })).json()) as {
      result?: Record<string, unknown>;
      error?: { code: number; message: string };
    };
  try {
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const got = new Map<string, unknown[]>();
    for (const ch of ['room:1', 'room:2', 'live:1']) {
      const sub = c.newSubscription(ch);
      got.set(ch, []);
      sub.on('publication', (ctx) => got.get(ch)!.push(ctx.data));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
    }

    // with history: the retry answers the first offset and epoch
    const first = await post('publish', { channel: 'room:1', data: { n: 1 }, idempotency_key: 'order-1' });
    assert.equal(typeof first.result?.['offset'], 'number');
    const again = await post('publish', { channel: 'room:1', data: { n: 1 }, idempotency_key: 'order-1' });
    assert.deepEqual({ offset: again.result?.['offset'], epoch: again.result?.['epoch'] }, { offset: first.result?.['offset'], epoch: first.result?.['epoch'] });
    // five retries at once: still one publication
    await Promise.all(Array.from({ length: 5 }, () => post('publish', { channel: 'room:1', data: { n: 2 }, idempotency_key: 'order-2' })));
    // the same key on another channel is another publication (keys are per channel)
    await post('publish', { channel: 'room:2', data: { n: 1 }, idempotency_key: 'order-1' });
    // without history
    await post('publish', { channel: 'live:1', data: { n: 1 }, idempotency_key: 'x' });
    await post('publish', { channel: 'live:1', data: { n: 1 }, idempotency_key: 'x' });
    // broadcast: the key per channel; room:2 already has order-1
    const b = await post('broadcast', { channels: ['room:1', 'room:2'], data: { n: 3 }, idempotency_key: 'order-1' });
    assert.equal((b.result?.['responses'] as unknown[]).length, 2);
    // a publication without a key after all of them: once it arrived, nothing else is on its way
    await post('publish', { channel: 'room:1', data: { n: 'end' } });
    await post('publish', { channel: 'room:2', data: { n: 'end' } });
    await post('publish', { channel: 'live:1', data: { n: 'end' } });
    await until(() => [...got.values()].every((l) => l.some((d) => (d as { n: unknown }).n === 'end')), 10_000, 'the last publication on every channel');
    assert.deepEqual(got.get('room:1'), [{ n: 1 }, { n: 2 }, { n: 'end' }]);
    assert.deepEqual(got.get('room:2'), [{ n: 1 }, { n: 'end' }]);
    assert.deepEqual(got.get('live:1'), [{ n: 1 }, { n: 'end' }]);
    const hist = (await sb.history('room:1', { limit: -1 })).publications.map((p) => JSON.parse(p.data) as unknown);
    assert.deepEqual(hist, [{ n: 1 }, { n: 2 }, { n: 'end' }]);

    // bad keys: a clear error, nothing published
    for (const key of [42, 'k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1), { a: 1 }]) {
      const r = await post('publish', { channel: 'room:1', data: { n: 'bad' }, idempotency_key: key });
      assert.equal(r.error?.code, 107, JSON.stringify(r));
      assert.match(r.error?.message ?? '', /idempotency_key/);
    }
    await assert.rejects(sb.publish('room:1', { n: 'bad' }, { idempotencyKey: '' }), /idempotency key/);
    assert.equal((await sb.history('room:1', { limit: -1 })).publications.length, 3);
  } finally {
    c.disconnect();
    await sb.shutdown({ timeoutMs: 1000 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});

test('IdempotencyCache: a failed publication is not remembered; results expire; the size is bounded', async () => {
  const cache = new IdempotencyCache(60_000, 3);
  let calls = 0;
  await assert.rejects(
    cache.run('ch', 'k', async () => {
      calls++;
      throw new Error('engine down');
    }),
    /engine down/,
  );
  const pos = await cache.run('ch', 'k', async () => ({ offset: ++calls, epoch: 'e' }));
  assert.deepEqual(pos, { offset: 2, epoch: 'e' });
  let dup = 0;
  assert.deepEqual(await cache.run('ch', 'k', async () => ({ offset: ++calls, epoch: 'e' }), () => dup++), { offset: 2, epoch: 'e' });
  assert.equal(dup, 1);
  for (const k of ['a', 'b', 'c', 'd']) await cache.run('ch', k, async () => undefined);
  assert.equal(cache.size, 3);
  // 'k' was the oldest: forgotten, so published again
  assert.deepEqual(await cache.run('ch', 'k', async () => ({ offset: ++calls, epoch: 'e' })), { offset: 3, epoch: 'e' });
  const short = new IdempotencyCache(1);
  await short.run('ch', 'k', async () => undefined);
  await until(async () => {
    let again = false;
    await short.run('ch', 'k', async () => {
      again = true;
      return undefined;
    });
    return again;
  }, 5000, 'the result to expire');
});
