import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, token, until } from '../../server/test/helpers.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRealtime } from '@switchboard/client';
import { ApiError, createApiClient } from '@switchboard/client/server';
import { createApiHandler } from '../../server/src/index.js';

const namespaces = { rcpt: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000, acknowledge: true, ackTimeoutMs: 60_000 } };

test('Realtime.ack: acks of one turn go as one batch; the server forgets them; a bad offset rejects with 107', async (t) => {
  const srv = await startServer({ namespaces });
  t.after(() => srv.close());
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: 'reader' }), minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3000 });
  t.after(() => rt.close());
  const offsets: number[] = [];
  const acks: unknown[] = [];
  srv.sb.use(async (ctx, next) => {
    if (ctx.kind === 'rpc' && ctx.method === '$ack') acks.push(ctx.data);
    await next();
  });
  rt.subscribe('rcpt:inbox', (_data, ctx) => offsets.push(ctx.offset!));
  await until(() => srv.sb.counts().subscriptions === 1, 10_000, 'the subscription');
  for (let n = 1; n <= 3; n++) await srv.sb.publish('rcpt:inbox', { n });
  await until(() => offsets.length === 3, 10_000, 'three messages');
  assert.deepEqual(await srv.sb.unacknowledged('rcpt:inbox', 2), [{ user: 'reader' }]);
  await Promise.all([rt.ack('rcpt:inbox', 1), rt.ack('rcpt:inbox', [2, 3])]);
  assert.deepEqual(acks, [{ channel: 'rcpt:inbox', offsets: [1, 2, 3] }], 'one $ack call for the three');
  for (const o of [1, 2, 3]) assert.deepEqual(await srv.sb.unacknowledged('rcpt:inbox', o), []);
  await assert.rejects(rt.ack('rcpt:inbox', 9), (err: { code?: number }) => err.code === 107);
});

test('Realtime ackClient: acks per client; a new instance with the same id gets what the old one had not acknowledged; a bad id is a usage error', async (t) => {
  const srv = await startServer({ namespaces });
  t.after(() => srv.close());
  const open = (ackClient: string) => {
    const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: 'reader' }), ackClient, minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3000 });
    t.after(() => rt.close());
    const offsets: number[] = [];
    rt.subscribe('rcpt:inbox', (_data, ctx) => offsets.push(ctx.offset!));
    return { rt, offsets };
  };
  const phone = open('phone');
  const laptop = open('laptop');
  await until(() => srv.sb.counts().subscriptions === 2, 10_000, 'both subscriptions');
  for (let n = 1; n <= 2; n++) await srv.sb.publish('rcpt:inbox', { n });
  await until(() => phone.offsets.length === 2 && laptop.offsets.length === 2, 10_000, 'both to get both');
  await phone.rt.ack('rcpt:inbox', [1, 2]);
  await laptop.rt.ack('rcpt:inbox', 1);
  assert.deepEqual(await srv.sb.unacknowledged('rcpt:inbox', 1), []);
  assert.deepEqual(await srv.sb.unacknowledged('rcpt:inbox', 2), [{ user: 'reader', client: 'laptop' }], 'the phone acknowledged for itself only');
  // the same from a backend, through the server HTTP API
  const handler = createApiHandler(srv.sb, { key: 'k' });
  const http = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const api = createApiClient({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/api`, apiKey: 'k' });
  assert.deepEqual(await api.unacknowledged('rcpt:inbox', 2), [{ user: 'reader', client: 'laptop' }]);
  await assert.rejects(api.unacknowledged('rcpt:inbox', 0), (err: unknown) => err instanceof ApiError && err.kind === 'api' && err.code === 107);
  // the laptop goes away; a new instance with its id gets offset 2 again, the phone nothing more
  laptop.rt.close();
  await until(() => srv.sb.counts().subscriptions === 1, 10_000, 'the laptop gone');
  const again = open('laptop');
  await until(() => again.offsets.length === 1, 10_000, 'the pending one on the new instance');
  assert.deepEqual(again.offsets, [2]);
  await again.rt.ack('rcpt:inbox', 2);
  assert.deepEqual(await srv.sb.unacknowledged('rcpt:inbox', 2), []);
  assert.deepEqual(phone.offsets, [1, 2]);
  assert.throws(() => createRealtime({ url: srv.url, ackClient: 'no spaces' }), (err: { kind?: string; message: string }) => err.kind === 'usage' && /ackClient/.test(err.message));
});
