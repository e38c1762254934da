import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, token, until } from '../../server/test/helpers.js';
import { createRealtime } from '@switchboard/client';

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
