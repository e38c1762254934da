import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { RawClient, token, until } from '../../server/test/helpers.js';
import { ChannelState, connected, join, pond, stopAll, waitFor } from '../../server/test/pond-helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

/** Two nodes on one Redis, each serving PondSocket at /api/socket and plain JSON at /ws, with the same chat route. */
async function twoNodes(prefix: string) {
  const made: { sb: Switchboard; pondUrl: string; plainUrl: string; close(): Promise<void> }[] = [];
  for (const name of ['A', 'B']) {
    const sb = createSwitchboard({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name, token: { hmacSecret: 'test-secret-key-for-hs256-signing' } });
    sb.route('/room/:id', {
      join(ctx) {
        ctx.track({ node: name }).accept();
      },
    })
      .on('whisper', (ctx) => ctx.broadcastFrom('whisper', ctx.payload))
      .on('status', async (ctx) => {
        await ctx.updatePresence({ status: (ctx.payload as { status: string }).status });
        ctx.reply('status-ok', {});
      })
      .on('kick', async (ctx) => {
        await ctx.evict((ctx.payload as { user: string }).user, 'out');
        ctx.reply('kick-ok', {});
      });
    const http = createServer();
    sb.attach(http, { path: '/api/socket', protocol: 'pond' });
    sb.attach(http, { path: '/ws', protocol: 'plain' });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await sb.start();
    const port = (http.address() as AddressInfo).port;
    made.push({
      sb,
      pondUrl: `ws://127.0.0.1:${port}/api/socket`,
      plainUrl: `ws://127.0.0.1:${port}/ws`,
      async close() {
        await sb.shutdown({ timeoutMs: 500 });
        http.closeAllConnections();
        await new Promise<void>((r) => http.close(() => r()));
      },
    });
  }
  return made as [(typeof made)[0], (typeof made)[0]];
}

function presenceOf(ch: object): { user: string; chan_info?: Record<string, unknown> }[] {
  return (ch as unknown as { presence: never[] }).presence;
}

test('PondSocket and plain members on two nodes: presence, targeted events, presence updates and eviction across nodes', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('protocols');
  const [a, b] = await twoNodes(prefix);
  const raws: RawClient[] = [];
  t.after(async () => {
    stopAll();
    for (const r of raws) r.close();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  const alice = pond(a.pondUrl, { token: await token({ sub: 'alice' }) });
  const bob = pond(b.pondUrl, { token: await token({ sub: 'bob' }) });
  await connected(alice);
  await connected(bob);
  const A = await join(alice, '/room/1');
  const B = await join(bob, '/room/1');
  const carol = new RawClient(`${b.plainUrl}?token=${await token({ sub: 'carol' })}`);
  raws.push(carol);
  await carol.opened;
  carol.send({ type: 'subscribe', channel: '/room/1', id: 1 });
  assert.equal((await carol.next((m) => m['id'] === 1))['type'], 'subscribed');

  // Presence: node A's member sees both of node B's, with their tracked data.
  await until(() => presenceOf(A.ch).length === 3, 10_000, 'three members seen from node A');
  assert.deepEqual(presenceOf(A.ch).map((e) => e.user).sort(), ['alice', 'bob', 'carol']);
  assert.deepEqual(presenceOf(A.ch).find((e) => e.user === 'carol')?.chan_info, { node: 'B' });

  // broadcastFrom across nodes: everyone but the sender, whatever node and protocol.
  A.ch.sendMessage('whisper' as never, { text: 'psst' });
  assert.deepEqual((await waitFor(B.msgs, 'whisper')).payload, { text: 'psst' });
  assert.deepEqual((await carol.next((m) => m['type'] === 'whisper'))['data'], { text: 'psst' });
  assert.equal(A.msgs.filter((m) => m.event === 'whisper').length, 0);

  // A presence update on node B reaches node A.
  assert.deepEqual(await B.ch.sendForResponse('status' as never, { status: 'away' } as never), {});
  await until(() => presenceOf(A.ch).some((e) => e.user === 'bob' && e.chan_info?.['status'] === 'away'), 10_000, 'update seen on A');

  // Eviction from node A removes bob on node B.
  assert.deepEqual(await A.ch.sendForResponse('kick' as never, { user: 'bob' } as never), {});
  assert.equal((await waitFor(B.msgs, 'kicked_out')).payload['message'], 'out');
  await until(() => B.ch.channelState === ChannelState.DECLINED, 10_000, 'bob declined');
  await until(() => presenceOf(A.ch).length === 2, 10_000, 'bob gone from the list');
  assert.deepEqual((await waitFor(A.msgs, 'kicked')).payload, { userId: 'bob', reason: 'out' });
  assert.deepEqual((await carol.next((m) => m['type'] === 'kicked'))['data'], { userId: 'bob', reason: 'out' });
});
