import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { Balancer, NodeProcess } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-node-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const node = (name: string, path: string) => new NodeProcess({ addresses: [], prefix: '', name, engine: { type: 'sqlite', sqlite: { path } } });

// bounded: the server runs as a process of its own, twice, slow on a busy machine
test('standalone server on SQLite killed with SIGKILL and restarted: official SDK clients recover everything, in order, with recovered true', { timeout: 300_000 }, async (t) => {
  const path = join(tempDir(t), 'history.db');
  let a = await node('A', path).ready();
  const front = { away: await new Balancer().listen(), live: await new Balancer().listen() };
  front.away.route(a.port);
  front.live.route(a.port);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([front.away.close(), front.live.close()]);
    await a.stop();
  });
  const ch = 'chat:durable';
  const away = await SdkClient.connect(front.away.ws, 'away');
  const live = await SdkClient.connect(front.live.ws, 'live');
  clients.push(away, live);
  await away.subscribe(ch);
  await live.subscribe(ch);

  let seq = 0;
  const published: number[] = [];
  const publish = async (n: number) => {
    for (let k = 0; k < n; k++) {
      const i = ++seq;
      await a.api('publish', { channel: ch, data: { i } });
      published.push(i);
    }
  };
  const got = (c: SdkClient) => c.pubs(ch).map((p) => (p.data as { i: number }).i);
  const arrived = (c: SdkClient, what: string) => waitFor(() => got(c).includes(seq), 30_000, `${what}: ${c === away ? 'away' : 'live'} to get ${seq}`);

  await publish(10);
  await arrived(away, 'before the crash');
  await arrived(live, 'before the crash');
  const epoch = (await a.api<{ epoch: string }>('history', { channel: ch, limit: 0 })).epoch;

  // one client goes away and misses 10 publications; then the server dies without a chance to flush anything
  front.away.route(undefined);
  await waitFor(() => away.state !== 'connected', 10_000, 'the away client to notice');
  await publish(10);
  await arrived(live, 'while away is away');
  await a.kill('SIGKILL');
  await waitFor(() => live.state !== 'connected', 10_000, 'the live client to notice the crash');

  a = await node('A2', path).ready();
  front.away.route(a.port);
  front.live.route(a.port);
  for (const c of [away, live]) {
    await waitFor(() => c.subs.get(ch)!.subscribed.length >= 2, 30_000, 'the client to subscribe again');
  }
  await publish(5);
  await arrived(away, 'after the restart');
  await arrived(live, 'after the restart');

  for (const c of [away, live]) {
    const rec = c.subs.get(ch)!;
    assert.deepEqual(rec.subscribed[rec.subscribed.length - 1], { wasRecovering: true, recovered: true }, 'recovered across the kill and restart');
    assert.deepEqual(got(c), published, 'every publication once, in order (the missed ones recovered before the new ones)');
    assert.deepEqual(
      c.pubs(ch).map((p) => p.offset),
      published.map((_, k) => k + 1),
      'offsets went on from where they were',
    );
  }
  const hist = await a.api<{ publications: { data: { i: number } }[]; epoch: string }>('history', { channel: ch, limit: -1 });
  assert.equal(hist.epoch, epoch, 'the stream kept its epoch through the crash');
  assert.deepEqual(
    hist.publications.map((p) => p.data.i),
    published,
  );

  // a second server on the same file while the first runs: refused at start, the first undisturbed
  const b = node('B', path);
  await assert.rejects(b.ready(), /locked by another process/);
  await publish(1);
  await arrived(live, 'after the refused second server');
});

test('standalone server on SQLite: a damaged file or a missing directory stops the start with a clear error', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'garbage.db');
  writeFileSync(path, 'not a database '.repeat(400));
  await assert.rejects(node('C', path).ready(), /cannot start: the SQLite file \S*garbage\.db\S* is not a usable SQLite database/);
  await assert.rejects(node('D', join(dir, 'missing', 'h.db')).ready(), /cannot start: the SQLite file .* cannot be created: its directory .* does not exist/);
  await assert.rejects(node('E', '').ready(), /engine\.sqlite\.path.*required with engine\.type \S*sqlite/);
});
