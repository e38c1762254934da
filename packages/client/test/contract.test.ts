// Contracts on the client: messages on covered channels are validated before any handler sees them
// (a server without the contract can send anything), publish checks before sending, and a server
// with the contract refuses a publish from a client without it with error 107.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import * as v from 'valibot';
import { defineContract } from '@switchboard/contract';
import { createRealtime, RealtimeError } from '@switchboard/client';
import { startServer, token, until } from '../../server/test/helpers.js';

const FAST = { minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3000 } as const;
const namespaces = {
  chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true },
  count: { allowSubscribeForClient: true },
  slow: { allowSubscribeForClient: true },
};
const contract = defineContract({
  'chat:*': z.object({ text: z.string() }),
  'count:*': v.object({ n: v.pipe(v.string(), v.transform(Number)) }),
  'slow:*': z.object({ i: z.number() }).refine(async (x) => x.i !== 3, { message: 'three is refused' }),
});

test('invalid data from a server without the contract goes to onError and the error event, never to the handler', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '1' }), contract, ...FAST });
  try {
    const got: { text: string }[] = [];
    const errors: RealtimeError[] = [];
    const instanceErrors: RealtimeError[] = [];
    rt.on('error', (e) => instanceErrors.push(e));
    rt.subscribe('chat:room', (m) => got.push(m), { onError: (e) => errors.push(e) });
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    await srv.sb.publish('chat:room', { text: 1 });
    await srv.sb.publish('chat:room', { text: 'valid' });
    await until(() => got.length === 1 && errors.length === 1, 5000, 'one message, one error');
    assert.deepEqual(got, [{ text: 'valid' }]);
    assert.equal(errors[0]!.kind, 'validation');
    assert.equal(errors[0]!.channel, 'chat:room');
    assert.deepEqual(errors[0]!.issues!.map((i) => i.path), [['text']]);
    assert.equal(instanceErrors.length, 1);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('handlers receive the validated value; asynchronous validators keep the order', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '1' }), contract, ...FAST });
  try {
    const counts: number[] = [];
    rt.subscribe('count:a', (m) => counts.push(m.n));
    const slow: number[] = [];
    const refused: string[] = [];
    rt.subscribe('slow:a', (m) => slow.push(m.i), { onError: (e) => refused.push(e.issues![0]!.message) });
    await until(() => srv.sb.counts().subscriptions === 2, 5000, 'subscribed');
    await srv.sb.publish('count:a', { n: '41' });
    for (let i = 1; i <= 5; i++) await srv.sb.publish('slow:a', { i });
    await until(() => counts.length === 1 && slow.length === 4, 5000, 'messages');
    assert.deepEqual(counts, [41], 'the transformed (output) value');
    assert.deepEqual(slow, [1, 2, 4, 5], 'in order, without the refused one');
    assert.deepEqual(refused, ['three is refused']);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('publish: the client refuses data that does not match; a server with the contract refuses (107) a client without it', async () => {
  const srv = await startServer({ namespaces, contract });
  const checked = createRealtime({ url: srv.url, getToken: () => token({ sub: '1' }), contract, ...FAST });
  const unchecked = createRealtime({ url: srv.url, getToken: () => token({ sub: '2' }), ...FAST });
  let published = 0;
  srv.sb.on('publish', () => published++);
  try {
    await assert.rejects(checked.publish('chat:room', { text: 5 } as never), (e: unknown) => e instanceof RealtimeError && e.kind === 'validation' && /text/.test(e.message));
    unchecked.subscribe('chat:room', () => {});
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    await assert.rejects(unchecked.publish('chat:room', { text: 5 }), (e: unknown) => {
      assert.ok(e instanceof RealtimeError);
      assert.equal(e.code, 107);
      assert.match(e.message, /does not match the contract for "chat:\*": text: /);
      return true;
    });
    assert.equal(published, 0, 'nothing was published');
    await unchecked.publish('chat:room', { text: 'fine' });
    assert.equal(published, 1);
  } finally {
    checked.close();
    unchecked.close();
    await srv.close();
  }
});
