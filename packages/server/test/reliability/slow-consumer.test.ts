// Slow readers: a client that stops reading while its channel carries megabytes. Its server-side
// memory stays within the queue limit, and the namespace's policy decides what happens to it:
// `disconnect` (3008 slow), `drop-oldest` or `latest-only` (kept, told it skipped, can recover).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until, type TestServer } from '../helpers.js';
import { command, connectNative, takePubs, type Msg } from './native.js';
import type { RawClient } from '../helpers.js';

const LIMIT = 256 * 1024;
const PAYLOAD = 'x'.repeat(16 * 1024);
const MAX_TOTAL = 96 * 1024 * 1024; // stop publishing after this much, whatever happens

const history = { historySize: 5000, historyTtlMs: 60_000, allowSubscribeForClient: true, allowRecovery: true, allowHistoryForSubscriber: true };

async function server(): Promise<TestServer> {
  return startServer({
    limits: { maxQueueBytes: LIMIT },
    pingIntervalMs: 2_000,
    pongTimeoutMs: 2_000,
    namespaces: {
      slow: { ...history },
      drop: { ...history, slowConsumer: 'drop-oldest' },
      latest: { ...history, slowConsumer: 'latest-only' },
    },
  });
}

/**
 * Publishes 16 KiB publications to `channel` until `stop()` or MAX_TOTAL, yielding to the event loop
 * between batches, and samples the slow connection's server-side memory (queue + socket buffer).
 */
async function flood(srv: TestServer, channel: string, slowId: string, stop: () => boolean, minTotal = 0): Promise<{ count: number; peak: number }> {
  let count = 0;
  let peak = 0;
  let sent = 0;
  while (sent < MAX_TOTAL && (sent < minTotal || !stop())) {
    for (let i = 0; i < 8; i++) {
      await srv.sb.publish(channel, { n: ++count, p: PAYLOAD });
      sent += PAYLOAD.length;
    }
    const conn = srv.sb.liveConnection(slowId);
    if (conn) peak = Math.max(peak, conn.queuedBytes + conn.transport.bufferedAmount);
    await new Promise((r) => setImmediate(r));
  }
  return { count, peak };
}

async function subscribe(c: RawClient, channel: string): Promise<Msg> {
  const r = await command(c, 'subscribe', { channel, recoverable: true });
  assert.equal(r.error, undefined, `subscribe ${channel}: ${JSON.stringify(r.error)}`);
  return r;
}

function pauseReading(c: RawClient): void {
  c.ws.pause();
}

test('disconnect policy (default): a reader that stops is closed with 3008 slow; its memory stays bounded; others get everything in order', async (t) => {
  const srv = await server();
  const { c: slow, client: slowId } = await connectNative(srv.url, 'slow');
  const { c: fast } = await connectNative(srv.url, 'fast');
  try {
    await subscribe(slow, 'slow:feed');
    await subscribe(fast, 'slow:feed');
    pauseReading(slow);
    const received: number[] = [];
    fast.ws.on('message', () => {
      for (const p of takePubs(fast, 'slow:feed')) received.push((p.data as { n: number }).n);
    });
    const { count, peak } = await flood(srv, 'slow:feed', slowId, () => srv.sb.liveConnection(slowId) === undefined);
    assert.equal(srv.sb.liveConnection(slowId), undefined, 'the slow reader was disconnected');
    assert.ok(peak <= LIMIT + 64 * 1024, `server memory for the slow reader ${peak} <= limit ${LIMIT} + overhead`);
    assert.equal(srv.sb.stats.disconnects.get(3008), 1);
    t.diagnostic(`published ${count} x 16 KiB (${((count * PAYLOAD.length) / 1048576).toFixed(1)} MiB); slow reader's peak server memory ${peak} B (limit ${LIMIT})`);
    await until(() => received.length === count, 20_000, 'the fast reader to get every publication');
    assert.deepEqual(received, Array.from({ length: count }, (_, i) => i + 1));
    // The paused client sees the close once it reads again.
    slow.ws.resume();
    const closed = await slow.waitClose(10_000);
    assert.equal(closed.code, 3008);
    assert.equal(closed.reason, 'slow');
  } finally {
    slow.close();
    fast.close();
    await srv.close();
  }
});

for (const policy of ['drop-oldest', 'latest-only'] as const) {
  const ns = policy === 'drop-oldest' ? 'drop' : 'latest';
  test(`${policy} policy: the slow reader stays connected with bounded memory, is told it skipped (2500) and recovers from its position`, async (t) => {
    const srv = await server();
    const { c: slow, client: slowId } = await connectNative(srv.url, 'slow');
    const { c: fast } = await connectNative(srv.url, 'fast');
    const channel = `${ns}:feed`;
    try {
      const sr = await subscribe(slow, channel);
      const epoch = (sr['subscribe'] as { epoch: string }).epoch;
      await subscribe(fast, channel);
      pauseReading(slow);
      const received: number[] = [];
      fast.ws.on('message', () => {
        for (const p of takePubs(fast, channel)) received.push((p.data as { n: number }).n);
      });
      // Publish well past what the sockets can buffer: the policy must have dropped something.
      let dropped = false;
      const { count, peak } = await flood(
        srv,
        channel,
        slowId,
        () => {
          const sub = srv.sb.liveConnection(slowId)?.subscriptions.get(channel);
          if (sub && sub.skipped > 50) dropped = true;
          return dropped;
        },
        8 * 1024 * 1024,
      );
      assert.ok(dropped, 'the policy dropped publications for the slow reader');
      const conn = srv.sb.liveConnection(slowId);
      assert.ok(conn, 'the slow reader is still connected');
      assert.ok(peak <= LIMIT + 64 * 1024, `server memory for the slow reader ${peak} <= limit ${LIMIT} + overhead`);
      assert.equal(srv.sb.stats.disconnects.get(3008) ?? 0, 0);
      t.diagnostic(`${policy}: published ${count} x 16 KiB (${((count * PAYLOAD.length) / 1048576).toFixed(1)} MiB); slow reader's peak server memory ${peak} B (limit ${LIMIT})`);
      await until(() => received.length === count, 20_000, 'the fast reader to get every publication');
      assert.deepEqual(received, Array.from({ length: count }, (_, i) => i + 1));

      // Reading again: what was queued arrives, then the unsubscribe 2500 (insufficient state) that
      // tells the client it skipped publications and must resubscribe from its position.
      slow.ws.resume();
      const unsub = await slow.next<Msg>((m) => (m.push as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined, 15_000);
      assert.deepEqual((unsub.push as { unsubscribe: unknown }).unsubscribe, { code: 2500, reason: 'insufficient state' });
      const got = takePubs(slow, channel);
      assert.ok(got.length > 0 && got.length < count, `the slow reader got some (${got.length}) but not all ${count}`);
      const offsets = got.map((p) => p.offset!);
      for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i]! > offsets[i - 1]!, 'what it got is in order');
      if (policy === 'latest-only') {
        // The newest publication is what the queue kept for the channel.
        assert.equal(offsets[offsets.length - 1], count, 'latest-only delivered the newest publication');
      }
      // Its position is intact: recovery from the last offset it saw is exact (or it is told it is not).
      const last = offsets[offsets.length - 1]!;
      const rr = await command(slow, 'subscribe', { channel, recover: true, offset: last, epoch, recoverable: true });
      const res = rr['subscribe'] as { recovered?: boolean; publications?: { offset: number }[]; offset: number };
      assert.equal(res.offset, count);
      if (res.recovered) {
        const pubs = res.publications ?? [];
        assert.equal(pubs.length, count - last);
        if (pubs.length > 0) assert.equal(pubs[0]!.offset, last + 1);
      } else {
        assert.ok(count - last > 300, 'recovery is refused only past the recovery limit');
      }
      assert.equal(slow.closed, undefined);
    } finally {
      slow.close();
      fast.close();
      await srv.close();
    }
  });
}

test('the slow-consumer policy is protocol-independent: a plain-JSON reader that stops is closed with 3008 too', async () => {
  const srv = await server();
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  const { default: WebSocket } = await import('ws');
  const { token } = await import('../helpers.js');
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${await token({ sub: 'slow-plain' })}`);
  try {
    const frames: { type?: string; id?: number }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse((d as Buffer).toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'slow:feed', id: 1 }));
    await until(() => frames.some((f) => f.id === 1 && f.type === 'subscribed'), 5000, 'subscribed');
    const conn = [...srv.sb.liveConnections()].find((c) => c.user === 'slow-plain')!;
    ws.pause();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const { peak } = await flood(srv, 'slow:feed', conn.id, () => srv.sb.liveConnection(conn.id) === undefined);
    assert.equal(srv.sb.liveConnection(conn.id), undefined);
    assert.ok(peak <= LIMIT + 64 * 1024, `peak ${peak}`);
    ws.resume();
    assert.equal(await closed, 3008);
  } finally {
    ws.terminate();
    await srv.close();
  }
});
