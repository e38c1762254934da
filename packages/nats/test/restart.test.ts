import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { startNodes } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { natsAvailable } from './nats-env.js';
import { NatsProcess } from './nats-process.js';

test('NATS restarted mid-stream: publishing resumes, and every acknowledged publication reaches every client in order or the client is told', async (t) => {
  // this test runs its own nats-server; the shared one only tells whether NATS is installed here
  if (!(await natsAvailable())) return t.skip('no NATS here');
  const nats = await NatsProcess.start();
  t.after(() => nats.destroy());
  const [a, b] = await startNodes({ addresses: [], prefix: '', engine: { type: 'nats', nats: { url: nats.url, prefix: 'restart', presence_ttl: '1500ms' } } }, ['A', 'B']);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a!.stop(), b!.stop()]);
  });
  const ch = 'chat:restart';
  for (const node of [a!, a!, b!, b!]) {
    const c = await SdkClient.connect(node.ws, `u${clients.length}`);
    clients.push(c);
    await c.subscribe(ch);
  }
  const acked: number[] = [];
  const failed: number[] = [];
  let seq = 0;
  const publish = async () => {
    const i = ++seq;
    try {
      await (i % 2 ? a! : b!).api('publish', { channel: ch, data: { i } });
      acked.push(i);
      return true;
    } catch {
      failed.push(i);
      return false;
    }
  };

  for (let k = 0; k < 20; k++) assert.ok(await publish(), 'publishing works before the outage');
  // publications in flight while NATS goes down
  const inFlight = Array.from({ length: 10 }, () => publish());
  await nats.stop();
  await Promise.all(inFlight);
  // a publish while NATS is down fails loudly: an error to the publisher, not a silent loss
  assert.equal(await publish(), false);
  await nats.start();
  let streak = 0;
  await waitFor(async () => ((await publish()) ? ++streak : (streak = 0)) >= 2, 20_000, 'publishing to work again on both nodes');
  for (let k = 0; k < 20; k++) assert.ok(await publish(), 'publishing works after the restart');
  const last = acked[acked.length - 1]!;
  for (const c of clients) {
    await waitFor(() => c.pubs(ch).some((p) => (p.data as { i: number }).i === last), 15_000, 'every subscriber to resume');
    const got = c.pubs(ch).map((p) => (p.data as { i: number }).i);
    for (let k = 1; k < got.length; k++) assert.ok(got[k]! > got[k - 1]!, `in order: ${got.join(',')}`);
    assert.ok(got.every((i) => acked.includes(i)), 'only acknowledged publications arrive');
    assert.deepEqual(got.slice(0, 20), acked.slice(0, 20), 'everything before the outage arrived');
    // whatever a client missed, it was told (a "could not recover" subscribe after the gap opened)
    const timeline = c.subs.get(ch)!.timeline;
    const lastToldAt = timeline.findLastIndex((e) => 'subscribed' in e && e.subscribed.wasRecovering && !e.subscribed.recovered);
    let prev = 0;
    let prevAt = -1;
    timeline.forEach((e, k) => {
      if (!('pub' in e)) return;
      const i = (e.pub.data as { i: number }).i;
      const missed = acked.filter((x) => x > prev && x < i);
      assert.ok(missed.length === 0 || lastToldAt > prevAt, `missed ${missed.join(',')} (between ${prev} and ${i}) and was not told afterwards`);
      prev = i;
      prevAt = k;
    });
    assert.equal(prev, last, 'nothing missed after the last publication received');
  }
  assert.ok(failed.length >= 1);
});

test('a wrong NATS URL stops the standalone server at start with a clear message', async () => {
  const { freePort, NodeProcess } = await import('../../redis/test/cluster.js');
  const port = await freePort(); // nothing listens there
  const node = new NodeProcess({ name: 'W', addresses: [], prefix: '', engine: { type: 'nats', nats: { url: `nats://127.0.0.1:${port}` } } });
  await waitFor(() => node.proc.exitCode !== null, 30_000, 'the node to exit');
  assert.notEqual(node.proc.exitCode, 0);
  assert.match(node.output, new RegExp(`cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}`));
  assert.match(node.output, /engine\.nats\.url/);
  const bad = new NodeProcess({ name: 'X', addresses: [], prefix: '', engine: { type: 'nats', nats: { url: 'http://nowhere' } } });
  await waitFor(() => bad.proc.exitCode !== null, 30_000, 'the node to exit');
  assert.match(bad.output, /engine\.nats\.url: bad NATS URL "http:\/\/nowhere"/);
});
