// Floods: the per-connection command rate limit (111, then 3013), the per-user connection limit
// (3504), and a client flooding publishes that cannot starve other connections' delivery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { RawClient, startServer, token, until } from '../helpers.js';
import { command, connectNative, takePubs, type Msg } from './native.js';

test('command rate limit: commands over the rate get error 111, the connection stays; after a pause commands pass again', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { commandRateLimit: 10 } }, (sb) => sb.rpc('echo', (ctx) => ctx.data));
  try {
    const { c } = await connectNative(srv.url, 'u1');
    // 15 commands at once: the burst (10) passes, 5 are refused.
    c.send(Array.from({ length: 15 }, (_, i) => JSON.stringify({ id: 1000 + i, rpc: { method: 'echo', data: i } })).join('\n'));
    const replies: Msg[] = [];
    for (let i = 0; i < 15; i++) replies.push(await c.next<Msg>((m) => m.id === 1000 + i));
    assert.equal(replies.filter((r) => r.error === undefined).length, 10);
    const refused = replies.filter((r) => r.error !== undefined);
    assert.equal(refused.length, 5);
    for (const r of refused) assert.deepEqual(r.error, { code: 111, message: 'too many requests', temporary: true });
    assert.equal(c.closed, undefined);
    // The bucket refills at the rate.
    await new Promise((r) => setTimeout(r, 1100));
    const ok = await command(c, 'rpc', { method: 'echo', data: 'again' });
    assert.equal(ok.error, undefined);
    c.close();
  } finally {
    await srv.close();
  }
});

test('command rate limit: sustained abuse is disconnected with 3013 too many requests', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { commandRateLimit: 10 } }, (sb) => sb.rpc('echo', (ctx) => ctx.data));
  try {
    const { c } = await connectNative(srv.url, 'u1');
    c.send(Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: 2000 + i, rpc: { method: 'echo', data: i } })).join('\n'));
    const closed = await c.waitClose(5000);
    assert.equal(closed.code, 3013);
    assert.equal(closed.reason, 'too many requests');
    assert.equal(srv.sb.stats.disconnects.get(3013), 1);
  } finally {
    await srv.close();
  }
});

test('command rate limit applies to every protocol: plain JSON gets error 111 frames', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { commandRateLimit: 5 } }, (sb) => sb.rpc('echo', (ctx) => ctx.data));
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
    const frames: { type: string; id?: number; code?: number }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse((d as Buffer).toString())));
    await new Promise((r) => ws.once('open', r));
    for (let i = 0; i < 8; i++) ws.send(JSON.stringify({ action: 'echo', data: i, id: i }));
    await until(() => frames.filter((f) => f.id !== undefined).length === 8, 5000, 'eight answers');
    const answers = frames.filter((f) => f.id !== undefined);
    assert.equal(answers.filter((f) => f.type === 'reply').length, 5);
    assert.deepEqual(answers.filter((f) => f.type === 'error').map((f) => f.code), [111, 111, 111]);
    ws.terminate();
  } finally {
    await srv.close();
  }
});

test('per-user connection limit: the connection past maxConnectionsPerUser is closed with 3504 on every protocol (native, plain, PondSocket)', async () => {
  const srv = await startServer({ limits: { maxConnectionsPerUser: 2 } });
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  srv.sb.attach(srv.http, { path: '/pond', protocol: 'pond' });
  try {
    const a = await connectNative(srv.url, 'alice');
    const b = await connectNative(srv.url, 'alice');
    const other = await connectNative(srv.url, 'bob');
    const third = new RawClient(srv.url);
    await third.opened;
    third.send({ id: 1, connect: { token: await token({ sub: 'alice' }) } });
    assert.deepEqual(await third.waitClose(3000), { code: 3504, reason: 'connection limit' });
    assert.equal(srv.sb.stats.disconnects.get(3504), 1);
    // The same limit holds across protocols (it is per user on this node).
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${await token({ sub: 'alice' })}`);
    const closed = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    assert.equal(closed, 3504);
    // PondSocket too: the upgrade succeeds, then the socket is closed with 3504.
    const pondWs = new WebSocket(`ws://127.0.0.1:${srv.port}/pond?token=${await token({ sub: 'alice' })}`);
    const pondUpgraded = new Promise<boolean>((resolve) => pondWs.once('open', () => resolve(true)));
    const pondClosed = await new Promise<number>((resolve) => pondWs.once('close', (code) => resolve(code)));
    assert.equal(await pondUpgraded, true);
    assert.equal(pondClosed, 3504);
    assert.equal(srv.sb.stats.disconnects.get(3504), 3, 'native, plain and PondSocket each refused once');
    // One leaves: room again.
    a.c.close();
    await until(() => srv.sb.counts().connections === 2, 3000, 'alice #1 gone');
    const again = await connectNative(srv.url, 'alice');
    for (const x of [b, other, again]) x.c.close();
  } finally {
    await srv.close();
  }
});

test('a client flooding publishes cannot starve other connections: bystanders receive every publication in order', async () => {
  const srv = await startServer({
    namespaces: {
      flood: { allowSubscribeForClient: true, allowPublishForClient: true },
      news: { allowSubscribeForClient: true },
    },
  });
  try {
    const flooder = await connectNative(srv.url, 'flooder');
    const sink = await connectNative(srv.url, 'sink');
    await command(sink.c, 'subscribe', { channel: 'flood:x' });
    const bys = await Promise.all([0, 1, 2].map((i) => connectNative(srv.url, `by${i}`)));
    for (const b of bys) assert.equal((await command(b.c, 'subscribe', { channel: 'news:y' })).error, undefined);
    let flooding = true;
    let sent = 0;
    const flood = (async () => {
      let id = 10_000;
      while (flooding && sent < 60_000) {
        const batch: string[] = [];
        for (let i = 0; i < 100; i++) batch.push(JSON.stringify({ id: id++, publish: { channel: 'flood:x', data: { n: sent++, pad: 'p'.repeat(100) } } }));
        flooder.c.ws.send(batch.join('\n'));
        flooder.c.messages.length = 0;
        sink.c.messages.length = 0;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const N = 300;
    for (let i = 1; i <= N; i++) {
      await srv.sb.publish('news:y', { i });
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    for (const b of bys) {
      const got: number[] = [];
      await until(() => {
        for (const p of takePubs(b.c, 'news:y')) got.push((p.data as { i: number }).i);
        return got.length >= N;
      }, 20_000, `bystander ${b.client} to receive all`);
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1));
    }
    flooding = false;
    await flood;
    assert.ok(sent >= 1000, `the flooder sent ${sent} publishes meanwhile`);
    for (const x of [flooder, sink, ...bys]) x.c.close();
  } finally {
    await srv.close();
  }
});

test('a client that sends commands but never reads the replies is closed as slow (3008): replies are bounded too', async () => {
  const LIMIT = 128 * 1024;
  const srv = await startServer({ allowAnonymous: true, limits: { maxQueueBytes: LIMIT } }, (sb) => sb.rpc('echo', (ctx) => ctx.data));
  try {
    const { c, client } = await connectNative(srv.url, 'reader-not');
    c.ws.pause();
    const big = 'r'.repeat(8 * 1024);
    let peak = 0;
    let id = 10;
    for (let round = 0; round < 2000 && srv.sb.liveConnection(client); round++) {
      c.ws.send(Array.from({ length: 5 }, () => JSON.stringify({ id: id++, rpc: { method: 'echo', data: big } })).join('\n'));
      await new Promise((r) => setTimeout(r, 1));
      const conn = srv.sb.liveConnection(client);
      if (conn) peak = Math.max(peak, conn.queuedBytes + conn.transport.bufferedAmount);
    }
    assert.equal(srv.sb.liveConnection(client), undefined, 'disconnected');
    assert.equal(srv.sb.stats.disconnects.get(3008), 1);
    assert.ok(peak <= 2 * LIMIT + 64 * 1024, `replies waiting for it peaked at ${peak} B`);
    c.close();
  } finally {
    await srv.close();
  }
});
