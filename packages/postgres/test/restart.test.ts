import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { Balancer, NodeProcess } from '../../redis/test/cluster.js';
import { assertNoSilentLoss } from '../../redis/test/no-silent-loss.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { PgProcess } from './pg-process.js';
import { pgAvailable } from './pg-env.js';

// bounded: nodes start as processes of their own, slow on a busy machine
test('Switchboard, then PostgreSQL, then both restarted while publications go on: nothing acknowledged is lost, history survives', { timeout: 600_000 }, async (t) => {
  // this test runs a PostgreSQL of its own; the shared one only tells whether PostgreSQL is installed here
  if (!(await pgAvailable()) || !PgProcess.available()) return t.skip('no PostgreSQL here');
  const pg = await PgProcess.create();
  t.after(() => pg.destroy());
  const engine = { type: 'postgres', postgres: { dsn: pg.dsn, schema: 'restart', pool_size: 3, presence_ttl: '5s' } };
  const node = (name: string) => new NodeProcess({ addresses: [], prefix: '', name, engine }).ready();
  let a = await node('A');
  let b = await node('B');
  const front = { a: await new Balancer().listen(), b: await new Balancer().listen() };
  front.a.route(a.port);
  front.b.route(b.port);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([front.a.close(), front.b.close()]);
    await Promise.all([a.stop(), b.stop()]);
  });
  const ch = 'chat:restart';
  for (const f of [front.a, front.a, front.b, front.b]) {
    const c = await SdkClient.connect(f.ws, `u${clients.length}`);
    clients.push(c);
    await c.subscribe(ch);
  }

  const acked: number[] = [];
  let failed = 0;
  const failedSeqs: number[] = [];
  let seq = 0;
  const publish = async (via?: NodeProcess) => {
    const i = ++seq;
    try {
      await (via ?? (i % 2 ? a : b)).api('publish', { channel: ch, data: { i } });
      acked.push(i);
      return true;
    } catch {
      failed++;
      failedSeqs.push(i);
      return false;
    }
  };
  const allArrived = async (what: string) => {
    const last = acked[acked.length - 1]!;
    for (const c of clients) await waitFor(() => c.pubs(ch).some((p) => (p.data as { i: number }).i === last), 20_000, `${what}: every client to get ${last}`);
  };

  for (let k = 0; k < 10; k++) assert.ok(await publish());
  const epoch = ((await b.api<{ epoch: string }>('history', { channel: ch, limit: 0 })).epoch);

  // 1. Switchboard restarted (A), publications go on through B meanwhile
  await a.stop();
  for (let k = 0; k < 10; k++) assert.ok(await publish(b), 'B publishes while A is down');
  a = await node('A');
  front.a.route(a.port);
  for (let k = 0; k < 5; k++) assert.ok(await publish());
  await allArrived('after restarting A');

  // 2. PostgreSQL restarted (as after a crash) under both running nodes
  const publishing = (async () => {
    for (let k = 0; k < 40; k++) {
      await publish();
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await pg.stop();
  await new Promise((r) => setTimeout(r, 300));
  await pg.start();
  await publishing;
  let streak = 0;
  await waitFor(async () => ((await publish()) ? ++streak : (streak = 0)) >= 4, 20_000, 'publishing to work again on both nodes');
  await allArrived('after restarting PostgreSQL');
  assert.ok(failed > 0, 'publications failed loudly while PostgreSQL was down');

  // 3. everything down; publications made after both come back reach a client that was away
  const away = clients[0]!;
  front.a.route(undefined);
  await waitFor(() => away.state !== 'connected', 10_000, 'the client to notice');
  await Promise.all([a.stop(), b.stop()]);
  await pg.stop();
  await pg.start();
  [a, b] = await Promise.all([node('A'), node('B')]);
  front.b.route(b.port);
  for (let k = 0; k < 5; k++) assert.ok(await publish(), 'publishing after the full restart');
  front.a.route(a.port);
  await allArrived('after the full restart');
  const subs = away.subs.get(ch)!.subscribed;
  assert.deepEqual(subs[subs.length - 1], { wasRecovering: true, recovered: true }, 'recovered across a full restart of Switchboard and PostgreSQL');

  const hist = await a.api<{ publications: { data: { i: number } }[]; epoch: string }>('history', { channel: ch, limit: -1 });
  assert.equal(hist.epoch, epoch, 'the stream kept its epoch through every restart');
  // A publish whose answer was lost when PostgreSQL went away may still have committed: it then is
  // in history and is owed to every client like an acknowledged one. Nothing else may be there.
  const stored = hist.publications.map((p) => p.data.i);
  const committed = [...acked, ...failedSeqs.filter((i) => stored.includes(i))].sort((x, y) => x - y);
  assert.deepEqual(stored, committed, `history holds every acknowledged publication, in order, and of the failed ones (${failedSeqs.join(',')}) only some that committed`);
  // the shared rule: in order, only committed ones, and any gap followed by a "could not recover" notice
  const last = committed[committed.length - 1]!;
  for (const c of clients) assertNoSilentLoss(c, ch, committed, last);
});
