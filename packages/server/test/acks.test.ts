import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { Disconnects, MemoryAckStore, type AckStore } from '../src/index.js';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';

const CH = 'rcpt:room';

function options(ackTimeoutMs: number) {
  return { namespaces: { rcpt: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000, acknowledge: true, ackTimeoutMs } } };
}

interface Client {
  c: Centrifuge;
  sub: Subscription;
  /** offsets received, in order (redeliveries included) */
  got: number[];
  subscribed: number;
  ack(offsets: number[]): Promise<unknown>;
}

async function client(t: { after: (fn: () => void) => void }, s: TestServer, user: string): Promise<Client> {
  const c = sdk(s.url, { token: await token({ sub: user }) });
  t.after(() => c.disconnect());
  const sub = c.newSubscription(CH);
  const me: Client = { c, sub, got: [], subscribed: 0, ack: async (offsets) => (await c.rpc('$ack', { channel: CH, offsets })).data };
  sub.on('publication', (ctx) => me.got.push(ctx.offset!));
  sub.on('subscribed', () => me.subscribed++);
  c.connect();
  sub.subscribe();
  await until(() => me.subscribed === 1, 10_000, `${user} to subscribe`);
  return me;
}

const count = (got: number[], off: number) => got.filter((o) => o === off).length;

test('a client that does not acknowledge gets the publication again after the timeout; once acknowledged, never again', async (t) => {
  const s = await startServer(options(300));
  t.after(() => s.close());
  const a = await client(t, s, 'alice');
  await s.sb.publish(CH, { n: 1 });
  await until(() => count(a.got, 1) >= 3, 20_000, 'offset 1 to be sent again twice');
  assert.deepEqual(await a.ack([1]), { acked: 1 });
  const afterAck = count(a.got, 1);
  await s.sb.publish(CH, { n: 2 });
  // offset 2 being redelivered twice means more than two timeouts passed since the ack
  await until(() => count(a.got, 2) >= 3, 20_000, 'offset 2 to be sent again twice');
  assert.equal(count(a.got, 1), afterAck, 'no redelivery of offset 1 after its ack');
  assert.deepEqual(await s.sb.unacknowledged(CH, 2), [{ user: 'alice' }]);
  assert.deepEqual(await a.ack([2]), { acked: 1 });
  assert.deepEqual(await s.sb.unacknowledged(CH, 2), []);
});

test('"who has not acknowledged" answers per user as acks come in', async (t) => {
  const s = await startServer(options(60_000));
  t.after(() => s.close());
  const a = await client(t, s, 'alice');
  const b = await client(t, s, 'bob');
  await s.sb.publish(CH, { n: 1 });
  await s.sb.publish(CH, { n: 2 });
  await until(() => a.got.length === 2 && b.got.length === 2, 10_000, 'both to receive both');
  assert.deepEqual(await s.sb.unacknowledged(CH, 1), [{ user: 'alice' }, { user: 'bob' }]);
  // one batched ack for both offsets
  assert.deepEqual(await a.ack([1, 2]), { acked: 2 });
  assert.deepEqual(await s.sb.unacknowledged(CH, 1), [{ user: 'bob' }]);
  assert.deepEqual(await s.sb.unacknowledged(CH, 2), [{ user: 'bob' }]);
  assert.deepEqual(await b.ack([2]), { acked: 1 });
  assert.deepEqual(await s.sb.unacknowledged(CH, 1), [{ user: 'bob' }]);
  assert.deepEqual(await s.sb.unacknowledged(CH, 2), []);
  assert.deepEqual(await s.sb.unacknowledged(CH, 99), [], 'an offset never sent has nobody pending');
});

test('a client that reconnects gets what it had not acknowledged, then the live publications', async (t) => {
  const s = await startServer(options(60_000));
  t.after(() => s.close());
  const a = await client(t, s, 'alice');
  for (let n = 1; n <= 3; n++) await s.sb.publish(CH, { n });
  await until(() => a.got.length === 3, 10_000, 'three publications');
  assert.deepEqual(await a.ack([1]), { acked: 1 });
  const connecting = once(a.c, 'connecting', 10_000);
  await s.sb.disconnectUser({ user: 'alice' }, Disconnects.forceReconnect);
  await connecting;
  await until(() => a.subscribed === 2, 20_000, 'alice to subscribe again');
  await s.sb.publish(CH, { n: 4 });
  await until(() => a.got.length === 6, 10_000, 'the two unacknowledged ones and the new one');
  assert.deepEqual(a.got, [1, 2, 3, 2, 3, 4]);
  assert.deepEqual(await s.sb.unacknowledged(CH, 1), []);
  assert.deepEqual(await s.sb.unacknowledged(CH, 3), [{ user: 'alice' }]);
});

test('bad acks get error codes and disturb nothing: malformed, unknown offsets, too many, not subscribed, a flood', async (t) => {
  const s = await startServer(options(60_000));
  t.after(() => s.close());
  const a = await client(t, s, 'alice');
  await s.sb.publish(CH, { n: 1 });
  await until(() => a.got.length === 1, 10_000, 'one publication');
  const code = async (data: unknown) => {
    try {
      await a.c.rpc('$ack', data);
      return 0;
    } catch (err) {
      return (err as { code: number; message: string }).code;
    }
  };
  assert.equal(await code({ channel: CH }), 107);
  assert.equal(await code({ channel: CH, offsets: [] }), 107);
  assert.equal(await code({ channel: CH, offsets: ['1'] }), 107);
  assert.equal(await code({ channel: CH, offsets: [0] }), 107);
  assert.equal(await code({ channel: 'rcpt:other', offsets: [1] }), 107);
  assert.equal(await code({ channel: CH, offsets: Array.from({ length: 1001 }, (_, i) => i + 1) }), 106);
  const unknown = await a.c.rpc('$ack', { channel: CH, offsets: [1, 7, 8] }).catch((err: { code: number; message: string }) => err);
  assert.equal((unknown as { code: number }).code, 107);
  assert.match((unknown as { message: string }).message, /unknown offsets 7, 8 .*1 acknowledged/);
  assert.deepEqual(await s.sb.unacknowledged(CH, 1), [], 'the known offset of that batch was acknowledged');
  // a flood of acks for offsets that were never sent
  const codes = await Promise.all(Array.from({ length: 300 }, (_, i) => code({ channel: CH, offsets: [1000 + i] })));
  assert.ok(
    codes.every((c) => c === 107),
    `every flooded ack refused with 107: ${[...new Set(codes)].join(',')}`,
  );
  await s.sb.publish(CH, { n: 2 });
  await until(() => a.got.includes(2), 10_000, 'delivery goes on after the flood');
  assert.deepEqual(await a.ack([2]), { acked: 1 });
  assert.equal(a.c.state, 'connected');
});

test('a second tab of the same user that subscribes gets what is pending; the first tab is not sent it again', async (t) => {
  const s = await startServer(options(60_000));
  t.after(() => s.close());
  const tab1 = await client(t, s, 'alice');
  await s.sb.publish(CH, { n: 1 });
  await s.sb.publish(CH, { n: 2 });
  await until(() => tab1.got.length === 2, 10_000, 'the first tab to receive both');
  const tab2 = await client(t, s, 'alice');
  await until(() => tab2.got.length === 2, 10_000, 'the pending ones on the second tab');
  assert.deepEqual(tab2.got, [1, 2]);
  await s.sb.publish(CH, { n: 3 });
  await until(() => tab1.got.length === 3 && tab2.got.length === 3, 10_000, 'the live one on both');
  assert.deepEqual(tab1.got, [1, 2, 3], 'nothing sent again to the first tab');
});

test('an ack store that fails while a client subscribes again: the subscribe succeeds, and what was pending comes after the timeout', async (t) => {
  const store = new MemoryAckStore();
  let failTakes = 0;
  const flaky: AckStore = {
    add: (...a) => store.add(...a),
    ack: (...a) => store.ack(...a),
    take: (...a) => (failTakes-- > 0 ? Promise.reject(new Error('ack store away')) : store.take(...a)),
    drop: (...a) => store.drop(...a),
    unacknowledged: (...a) => store.unacknowledged(...a),
    close: () => store.close(),
  };
  const errors: string[] = [];
  const s = await startServer({ ...options(300), acks: flaky }, (sb) => sb.on('error', (e) => errors.push(e.message)));
  t.after(() => s.close());
  const a = await client(t, s, 'alice');
  await s.sb.publish(CH, { n: 1 });
  await until(() => a.got.length >= 1, 10_000, 'offset 1');
  failTakes = 1;
  const connecting = once(a.c, 'connecting', 10_000);
  await s.sb.disconnectUser({ user: 'alice' }, Disconnects.forceReconnect);
  await connecting;
  await until(() => a.subscribed === 2, 20_000, 'the subscribe to succeed despite the store');
  await until(() => errors.includes('ack store away'), 10_000, 'the failure reported');
  const before = count(a.got, 1);
  await until(() => count(a.got, 1) > before, 20_000, 'offset 1 redelivered after the timeout');
  assert.deepEqual(await a.ack([1]), { acked: 1 });
});
