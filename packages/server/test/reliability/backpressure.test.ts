// Inbound backpressure: a client that sends 100,000 commands while the engine is slow cannot make
// the server queue them. Above `maxPendingCommands` the server stops reading that connection (its
// own send buffer fills: it is paused); kept paused past `pendingStallMs` it is disconnected with
// 3013. Bystanders on the same node receive every publication meanwhile. With and without the
// command rate limit. The rate limiter closes with the same 3013, so each case checks which one
// did: the stall counter (`stats.inboundStalls`) went up by one and no command was refused with
// 111. With a limit of 2,000/s it cannot be the limiter: commands run one at a time and each
// publish takes 2 ms, so at most ~500 a second reach it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker, type Broker, type BrokerEventHandler, type ClientInfo, type HistoryOptions, type Publication, type StreamPosition } from '../../src/index.js';
import { startServer, until } from '../helpers.js';
import { command, connectNative, takePubs } from './native.js';

/** A memory broker whose publish takes `delayMs` (no synchronous fast path): an artificially slow engine. */
class SlowBroker implements Broker {
  readonly inner = new MemoryBroker();
  readonly history = this.inner.history;
  constructor(readonly delayMs: number) {}
  start(h: BrokerEventHandler): Promise<void> {
    return this.inner.start(h);
  }
  subscribe(ch: string): Promise<void> {
    return this.inner.subscribe(ch);
  }
  unsubscribe(ch: string): Promise<void> {
    return this.inner.unsubscribe(ch);
  }
  async publish(ch: string, pub: Publication, o?: { history?: HistoryOptions }): Promise<StreamPosition | undefined> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return this.inner.publish(ch, pub, o);
  }
  publishJoin(ch: string, info: ClientInfo): Promise<void> {
    return this.inner.publishJoin(ch, info);
  }
  publishLeave(ch: string, info: ClientInfo): Promise<void> {
    return this.inner.publishLeave(ch, info);
  }
  publishControl(m: string): Promise<void> {
    return this.inner.publishControl(m);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const TOTAL = 100_000;
const PER_FRAME = 1000;
const LIMIT = 64;

for (const rate of [0, 2000]) {
  test(`100,000 commands behind a slow engine (command rate limit ${rate || 'off'}): reading pauses, pending commands stay bounded, 3013 after the stall; bystanders get everything`, async () => {
    const srv = await startServer({
      broker: new SlowBroker(2),
      namespaces: { flood: { allowPublishForClient: true }, feed: { allowSubscribeForClient: true } },
      limits: { maxPendingCommands: LIMIT, pendingStallMs: 1500, commandRateLimit: rate },
    });
    try {
      const by = await connectNative(srv.url, 'bystander');
      assert.equal((await command(by.c, 'subscribe', { channel: 'feed:news' })).error, undefined);
      const flooder = await connectNative(srv.url, 'flooder');
      const conn = srv.sb.liveConnection(flooder.client)!;
      const heapBefore = process.memoryUsage().heapUsed;
      // 100 frames of 1,000 publish commands each, written at once.
      let sent = 0;
      for (let f = 0; f < TOTAL / PER_FRAME; f++) {
        const lines: string[] = [];
        for (let i = 0; i < PER_FRAME; i++) lines.push(`{"id":${10 + f * PER_FRAME + i},"publish":{"channel":"flood:x","data":{"i":${i}}}}`);
        const frame = lines.join('\n');
        sent += frame.length;
        flooder.c.ws.send(frame);
      }
      const inBefore = srv.sb.stats.bytesIn;
      // Meanwhile the app publishes to the bystander's channel through the same slow engine.
      const N = 100;
      const publishing = (async () => {
        for (let i = 0; i < N; i++) await srv.sb.publish('feed:news', { n: i });
      })();
      const stallsBefore = srv.sb.stats.inboundStalls;
      await until(() => conn.inboundPaused, 10_000, 'the server to pause reading the flooder');
      const closed = await flooder.c.waitClose(30_000);
      assert.equal(closed.code, 3013);
      assert.equal(closed.reason, 'too many requests');
      // The 3013 came from the stall, not from the rate limiter.
      assert.equal(srv.sb.stats.inboundStalls - stallsBefore, 1, 'closed by the pending-commands stall');
      assert.equal(srv.sb.stats.errors.get(111) ?? 0, 0, 'no command was refused by the rate limiter');
      // Bounded: never more pending than the limit plus what had already been read (one frame and a socket read).
      assert.ok(conn.peakPendingCommands <= LIMIT + 3 * PER_FRAME, `peak pending ${conn.peakPendingCommands}`);
      // Paused, not read: most of what the flooder wrote never reached the server's memory.
      assert.ok(srv.sb.stats.bytesIn - inBefore < sent / 2, `read ${srv.sb.stats.bytesIn - inBefore} of ${sent} bytes`);
      assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'server heap stayed bounded');
      await publishing;
      const got: unknown[] = [];
      await until(
        () => {
          got.push(...takePubs(by.c, 'feed:news').map((p) => p.data));
          return got.length >= N;
        },
        10_000,
        'the bystander to receive every publication',
      );
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => ({ n: i })));
      assert.equal(by.c.closed, undefined);
      assert.equal((await command(by.c, 'ping', {})).error, undefined);
      by.c.close();
    } finally {
      await srv.close();
    }
  });
}
