// createSwitchboard({ contract }): publications that do not match the channel's schema are refused
// with error 107 and the schema's issues, whoever publishes (app code, the HTTP API, a client), and
// nothing reaches subscribers or history; channels the contract does not cover are not checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { defineContract } from '@switchboard/contract';
import { ContractViolation, createApiHandler, createSwitchboard } from '../src/index.js';
import { SECRET, sdk, token, until } from './helpers.js';

const contract = defineContract({
  'chat:*': z.object({ text: z.string().min(1).max(20) }),
  'trpc:user:*': z.object({ type: z.literal('query-invalidation'), queryKey: z.array(z.unknown()) }),
});

async function start() {
  const sb = createSwitchboard({
    token: { hmacSecret: SECRET },
    contract,
    namespaces: {
      chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true, historySize: 10, historyTtlMs: 60_000 },
      trpc: { allowSubscribeForClient: true },
      free: { allowSubscribeForClient: true, allowPublishForSubscriber: true },
    },
  });
  const api = createApiHandler(sb, { key: 'k' });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  sb.attach(http, { path: '/connection/websocket' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const callApi = async (method: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/${method}`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: JSON.stringify(body) });
    return (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string } };
  };
  return {
    sb,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    callApi,
    async close() {
      await sb.shutdown({ timeoutMs: 1000 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

test('app code: sb.publish throws ContractViolation (107) with the issues; valid and uncovered publications go through', async () => {
  const srv = await start();
  try {
    await assert.rejects(srv.sb.publish('chat:room', { text: 42 }), (err: unknown) => {
      assert.ok(err instanceof ContractViolation);
      assert.equal(err.code, 107);
      assert.deepEqual(err.issues.map((i) => i.path), [['text']]);
      assert.match(err.message, /chat:room does not match the contract for "chat:\*": text: /);
      return true;
    });
    assert.equal((await srv.sb.history('chat:room', { limit: 10 })).publications.length, 0, 'nothing stored');
    await srv.sb.publish('chat:room', { text: 'hello' });
    await srv.sb.publish('free:x', { anything: [1, 2] });
    assert.equal((await srv.sb.history('chat:room', { limit: 10 })).publications.length, 1);
  } finally {
    await srv.close();
  }
});

test('HTTP API: publish answers error 107 with the issues; broadcast refuses per channel', async () => {
  const srv = await start();
  try {
    const bad = await srv.callApi('publish', { channel: 'trpc:user:42', data: { type: 'query-invalidation', queryKey: 'notifications' } });
    assert.equal(bad.error?.code, 107);
    assert.match(bad.error.message, /trpc:user:42 does not match the contract for "trpc:user:\*": queryKey: /);
    const good = await srv.callApi('publish', { channel: 'trpc:user:42', data: { type: 'query-invalidation', queryKey: ['n'] } });
    assert.deepEqual(good.error, undefined);
    const b = await srv.callApi('broadcast', { channels: ['chat:a', 'free:b'], data: { text: '' } });
    const responses = b.result!['responses'] as { error?: { code: number; message: string } }[];
    assert.equal(responses[0]!.error?.code, 107, 'chat:a refuses an empty text');
    assert.match(responses[0]!.error.message, /text: /);
    assert.equal(responses[1]!.error, undefined, 'free:b is not covered');
  } finally {
    await srv.close();
  }
});

test('a client publish that does not match gets error 107 and reaches no subscriber', async () => {
  const srv = await start();
  const publisher = sdk(srv.url, { token: await token({ sub: 'p' }) });
  const reader = sdk(srv.url, { token: await token({ sub: 'r' }) });
  try {
    const got: unknown[] = [];
    const sub = reader.newSubscription('chat:room');
    sub.on('publication', (ctx) => got.push(ctx.data));
    sub.subscribe();
    reader.connect();
    const own = publisher.newSubscription('chat:room');
    own.subscribe();
    publisher.connect();
    await until(() => srv.sb.counts().subscriptions === 2, 5000, 'both subscribed');
    await assert.rejects(publisher.publish('chat:room', { text: 'x'.repeat(30) }), (err: { code?: number; message?: string }) => {
      assert.equal(err.code, 107);
      assert.match(err.message ?? '', /text: /);
      return true;
    });
    await publisher.publish('chat:room', { text: 'ok' });
    await until(() => got.length === 1, 5000, 'the valid publication');
    assert.deepEqual(got, [{ text: 'ok' }], 'the refused one never arrived');
  } finally {
    publisher.disconnect();
    reader.disconnect();
    await srv.close();
  }
});
