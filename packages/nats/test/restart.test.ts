import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { startNodes } from '../../redis/test/cluster.js';
import { assertNoSilentLoss, publisher } from '../../redis/test/no-silent-loss.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { natsAvailable } from './nats-env.js';
import { NatsProcess } from './nats-process.js';

test('NATS restarted mid-stream: publishing resumes, and every acknowledged publication reaches every client in order or the client is told', { timeout: 300_000 }, async (t) => {
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
  const { acked, failed, publish } = publisher([b!, a!], ch);

  for (let k = 0; k < 20; k++) assert.ok(await publish(), 'publishing works before the outage');
  // delivery is not part of the acknowledgement (see the Redis restart test): the outage starts once
  // the 20 have arrived, so that what came before it is checked whole
  for (const c of clients) await waitFor(() => c.pubs(ch).length >= 20, 10_000, 'the 20 publications before the outage to arrive');
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
    assertNoSilentLoss(c, ch, acked, last);
    assert.deepEqual(c.pubs(ch).slice(0, 20).map((p) => (p.data as { i: number }).i), acked.slice(0, 20), 'everything before the outage arrived');
  }
  assert.ok(failed.length >= 1);
});

test('a wrong NATS URL stops the standalone server at start with a clear message', { timeout: 300_000 }, async (t) => {
  const { freePort, NodeProcess } = await import('../../redis/test/cluster.js');
  const port = await freePort(); // nothing listens there
  // both start at once; each must exit by itself with the reason (bounded like a node's start)
  const node = new NodeProcess({ name: 'W', addresses: [], prefix: '', engine: { type: 'nats', nats: { url: `nats://127.0.0.1:${port}` } } });
  const bad = new NodeProcess({ name: 'X', addresses: [], prefix: '', engine: { type: 'nats', nats: { url: 'http://nowhere' } } });
  t.after(() => Promise.all([node.kill(), bad.kill()]));
  await waitFor(() => node.proc.exitCode !== null && bad.proc.exitCode !== null, 90_000, 'both nodes to exit');
  assert.notEqual(node.proc.exitCode, 0);
  assert.match(node.output, new RegExp(`cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}`));
  assert.match(node.output, /engine\.nats\.url/);
  assert.notEqual(bad.proc.exitCode, 0);
  assert.match(bad.output, /engine\.nats\.url: bad NATS URL "http:\/\/nowhere"/);
});
