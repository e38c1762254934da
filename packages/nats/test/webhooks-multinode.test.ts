// Lifecycle webhooks from two node processes on NATS (NatsStateStore in a JetStream key-value
// bucket), one SIGKILLed: channel_occupied/channel_vacated exactly once per transition across the
// nodes, in seq order; the killed node's client reported lost by the survivor. The receiver is up
// throughout (the journal's part, the receiver down, is webhooks-durable.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { WebhookBackend } from '../../server/test/webhook-backend.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { HOOK_SECRET, NODE_TTL_MS, WebhookNode } from '../../redis/test/webhook-nodes.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

test('NATS: webhooks from two nodes, one SIGKILLed: occupied/vacated once per transition, the lost client reported by the survivor', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('hooks');
  const backend = await new WebhookBackend(HOOK_SECRET).listen();
  const nodes = ['A', 'B'].map((n) => new WebhookNode(n, prefix, backend.url, { WH_ENGINE: 'nats', WH_NATS: NATS_URL }));
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await backend.close();
    await dropPrefix(prefix);
  });
  const [a, b] = await Promise.all(nodes.map((n) => n.ready()));
  const client = async (node: WebhookNode, user: string) => {
    const cl = await SdkClient.connect(node.ws, user);
    clients.push(cl);
    return cl;
  };

  // chat:one occupied from both nodes at once: exactly one channel_occupied
  const [a1, b1] = await Promise.all([client(a!, 'a1'), client(b!, 'b1')]);
  await Promise.all([a1.subscribe('chat:one'), b1.subscribe('chat:one')]);
  const c1 = await client(a!, 'c1');
  await c1.subscribe('chat:two');
  await waitFor(() => backend.of('subscribe').length === 3 && backend.of('connect').length === 3, 20_000, 'connects and subscribes');
  assert.equal(backend.of('channel_occupied', 'chat:one').length, 1, 'chat:one occupied once');
  assert.equal(backend.of('channel_occupied', 'chat:two').length, 1);

  // a1 leaves on A: b1 (on B) is still there, so no vacated
  a1.close();
  await waitFor(() => backend.of('disconnect').some((e) => e.user === 'a1'), 20_000, 'a1 disconnect');
  assert.equal(backend.of('channel_vacated', 'chat:one').length, 0, 'b1 is still in chat:one');

  // A dies: B reaps c1 (unsubscribe, disconnect 3001) and chat:two is vacated, once
  await a!.kill('SIGKILL');
  c1.close();
  await waitFor(() => backend.of('channel_vacated', 'chat:two').length === 1 && backend.of('disconnect').some((e) => e.user === 'c1'), NODE_TTL_MS * 10, "the survivor's report of c1");
  const lost = backend.of('disconnect').find((e) => e.user === 'c1')!;
  assert.deepEqual([lost.lost, lost.code, lost.node], [true, 3001, 'B']);
  const status = await b!.api<{ statuses: { online: boolean }[] }>('user_status', { users: ['c1', 'b1'] });
  assert.deepEqual(status.statuses.map((s) => s.online), [false, true], "the dead node's user offline, the survivor's online");

  // the last subscriber leaves on B: chat:one vacated once
  b1.close();
  await waitFor(() => backend.of('channel_vacated', 'chat:one').length === 1 && backend.of('disconnect').some((e) => e.user === 'b1'), 20_000, "chat:one vacated and b1's disconnect");
  assert.equal(backend.badSignatures, 0);
  for (const ch of ['chat:one', 'chat:two']) {
    const transitions = backend
      .unique()
      .filter((e) => e.channel === ch && (e.type === 'channel_occupied' || e.type === 'channel_vacated'))
      .sort((x, y) => x.seq! - y.seq!);
    assert.deepEqual(transitions.map((e) => e.type), ['channel_occupied', 'channel_vacated'], `${ch}: once each, in seq order`);
    const bySeq = backend.unique().filter((e) => e.channel === ch).sort((x, y) => x.seq! - y.seq!);
    assert.equal(bySeq.at(-1)!.type, 'channel_vacated', `${ch} ends vacated`);
  }
  assert.deepEqual(backend.of('disconnect').map((e) => e.user).sort(), ['a1', 'b1', 'c1']);
});
