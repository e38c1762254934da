// The webhook queue survives its node: two nodes on Redis, the receiver down (nothing listening on
// its port), the node holding undelivered events SIGKILLed, then the receiver up: every event the
// dead node had journaled arrives, delivered by the survivor that claimed its journal (at least
// once, de-duplicable by id), in order per channel, signed; the journals end empty.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { waitFor } from '@switchboard/server/testing';
import { WebhookBackend } from '../../server/test/webhook-backend.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { SdkClient } from './sdk.js';
import { HOOK_SECRET, NODE_TTL_MS, WebhookNode } from './webhook-nodes.js';

/** A port nothing listens on now (taken from the OS, then released), for the receiver to come up on later. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Entries left in the webhook journals (Redis streams) under `prefix`. */
async function journalEntries(redis: Redis, prefix: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}.state.*wh.*.s.*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) total += await redis.xlen(k);
  } while (cursor !== '0');
  return total;
}

test("a node SIGKILLed with undelivered webhook events: a survivor claims its journal and delivers every event once the receiver is up", async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('hookdur');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/hooks`;
  const nodes = [new WebhookNode('A', prefix, url), new WebhookNode('B', prefix, url)];
  const backend = new WebhookBackend(HOOK_SECRET);
  const [host, p] = REDIS_ADDRESS.split(':');
  const redis = new Redis({ host: host!, port: Number(p), maxRetriesPerRequest: 1 });
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    if (backend.server.listening) await backend.close();
    redis.disconnect();
    await dropPrefix(prefix);
  });
  const [a, b] = await Promise.all(nodes.map((n) => n.ready()));
  const client = async (node: WebhookNode, user: string) => {
    const cl = await SdkClient.connect(node.ws, user);
    clients.push(cl);
    return cl;
  };
  assert.equal((await a!.hookStats()).durable, true, 'on Redis the webhook queue is journaled');

  // Events on A while the receiver is down: x1 in chat:d1 and chat:d2, x2 in chat:d1 then gone.
  // A's events: connect ×2, channel_occupied ×2, subscribe ×3, presence_join ×3, presence_leave,
  // unsubscribe, disconnect = 13. B's: connect, subscribe, presence_join.
  const x1 = await client(a!, 'x1');
  const x2 = await client(a!, 'x2');
  await x1.subscribe('chat:d1');
  await x1.subscribe('chat:d2');
  await x2.subscribe('chat:d1');
  x2.close();
  const A_EVENTS = 13;
  await waitFor(
    async () => {
      const s = await a!.hookStats();
      return s.journaled === A_EVENTS && s.failures > 0;
    },
    20_000,
    "A's 13 events journaled, delivery failing",
  );
  const y1 = await client(b!, 'y1');
  await y1.subscribe('chat:d1');
  await waitFor(async () => (await b!.hookStats()).journaled === 3, 20_000, "B's 3 events journaled");
  const before = await a!.hookStats();
  assert.equal(before.delivered, 0, 'the receiver is down: nothing delivered yet');
  assert.equal(before.queued + before.inFlight, A_EVENTS, 'all of them pending on A');
  assert.equal(before.deadLettered, 0);

  // A dies with its queue; B reaps its clients and claims its journal, still failing to deliver.
  await a!.kill('SIGKILL');
  x1.close();
  await waitFor(async () => (await b!.hookStats()).claimed >= A_EVENTS, NODE_TTL_MS * 10, "B claims A's journal");

  // The receiver comes up on the port the nodes were given.
  await backend.listen(port);
  await waitFor(
    () => backend.unique().filter((e) => e.node === 'A').length === A_EVENTS && backend.of('channel_vacated', 'chat:d2').length === 1 && backend.of('disconnect').some((e) => e.user === 'x1'),
    30_000,
    "A's events and the survivor's report of A's clients",
  );

  const fromA = backend.unique().filter((e) => e.node === 'A');
  const count = (type: string, channel?: string) => fromA.filter((e) => e.type === type && (channel === undefined || e.channel === channel)).length;
  assert.deepEqual(
    fromA.map((e) => e.user ?? '').filter((u) => u !== '').sort(),
    ['x1', 'x1', 'x1', 'x1', 'x1', 'x2', 'x2', 'x2', 'x2', 'x2', 'x2'],
    "A's events of its users",
  );
  assert.equal(count('connect'), 2);
  assert.equal(count('disconnect'), 1);
  assert.equal(count('channel_occupied', 'chat:d1'), 1);
  assert.equal(count('channel_occupied', 'chat:d2'), 1);
  assert.equal(count('subscribe'), 3);
  assert.equal(count('presence_join'), 3);
  assert.equal(count('unsubscribe'), 1);
  assert.equal(count('presence_leave'), 1);
  // exactly once per transition across the cluster; the survivor reported x1's loss
  assert.equal(backend.of('channel_occupied', 'chat:d1').length, 1);
  assert.equal(backend.of('channel_vacated', 'chat:d1').length, 0, 'y1 is still in chat:d1');
  const lost = backend.of('disconnect').find((e) => e.user === 'x1')!;
  assert.equal(lost.lost, true);
  assert.equal(lost.node, 'B');
  // signed; in order per channel among the events one node emitted, by arrival
  assert.equal(backend.badSignatures, 0);
  for (const ch of ['chat:d1', 'chat:d2']) {
    for (const node of ['A', 'B']) {
      const seqs = backend.events.filter((e) => e.channel === ch && e.node === node).map((e) => e.seq!);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!, `${ch} from ${node} in order: ${seqs.join(',')}`);
    }
  }
  // delivered means removed: the journals drain
  await waitFor(async () => (await journalEntries(redis, prefix)) === 0, 20_000, 'the journals to drain');
  const stats = await b!.hookStats();
  assert.equal(stats.deadLettered, 0);
  t.diagnostic(`duplicates delivered: ${backend.events.length - backend.unique().length}; B claimed ${stats.claimed}`);
});
