import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { Disconnects } from '../src/index.js';
import { token, until } from './helpers.js';
import { type HttpTestServer, startHttpServer, StreamReader } from './http-transport-helpers.js';

const namespaces = {
  feed: { historySize: 10, historyTtlMs: 60_000 },
  alerts: {},
};

type Msg = Record<string, unknown>;

/** A unidirectional client of any of the three transports: the pushes it received, parsed. */
interface UniClient {
  readonly messages: Msg[];
  ended(): boolean;
  close(): void;
}

function uniSse(base: string, connect: unknown): UniClient {
  const messages: Msg[] = [];
  let closed = false;
  const es = new EventSource(`${base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify(connect))}`);
  es.onmessage = (e: MessageEvent<string>) => messages.push(JSON.parse(e.data) as Msg);
  // EventSource reconnects on its own; after a disconnect push the test closes it.
  es.onerror = () => {
    if (messages.some((m) => 'disconnect' in m)) {
      closed = true;
      es.close();
    }
  };
  return { messages, ended: () => closed, close: () => es.close() };
}

function uniHttpStream(base: string, connect: unknown): UniClient {
  const r = new StreamReader(`${base}/connection/uni_http_stream`, 'lines', { method: 'POST', body: JSON.stringify(connect), headers: { 'content-type': 'application/json' } });
  return { messages: r.messages, ended: () => r.ended, close: () => r.close() };
}

function uniWs(base: string, connect: unknown, viaQuery: boolean): UniClient {
  const messages: Msg[] = [];
  let closed = false;
  const q = viaQuery ? `?cf_connect=${encodeURIComponent(JSON.stringify(connect))}` : '';
  const ws = new WebSocket(`${base.replace('http', 'ws')}/connection/uni_websocket${q}`);
  ws.on('open', () => {
    if (!viaQuery) ws.send(JSON.stringify(connect));
  });
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as Msg));
  ws.on('close', () => (closed = true));
  return { messages, ended: () => closed, close: () => ws.close() };
}

const kinds: [string, (base: string, connect: unknown) => UniClient][] = [
  ['uni_sse (a raw EventSource)', uniSse],
  ['uni_http_stream (a raw fetch reader)', uniHttpStream],
  ['uni_websocket (connect as the first message)', (b, c) => uniWs(b, c, false)],
  ['uni_websocket (connect in cf_connect)', (b, c) => uniWs(b, c, true)],
];

describe('unidirectional transports without an SDK', () => {
  let srv: HttpTestServer;
  const open: UniClient[] = [];
  before(async () => {
    srv = await startHttpServer({ namespaces });
  });
  after(async () => {
    for (const c of open) c.close();
    await srv.close();
  });

  kinds.forEach(([name, make], i) => {
    test(`${name}: connect push, server-side subscriptions from the token and the API, publications, disconnect`, async () => {
      const user = `uni-${i}`;
      const c = make(srv.base, { token: await token({ sub: user, channels: [`feed:${i}`] }), name: 'raw' });
      open.push(c);
      await until(() => c.messages.some((m) => 'connect' in m), 10_000, 'the connect push');
      const connect = c.messages.find((m) => 'connect' in m)!['connect'] as Record<string, unknown>;
      assert.equal(typeof connect['client'], 'string');
      assert.equal(typeof connect['session'], 'string');
      assert.ok(!('node' in connect) && !('pong' in connect), 'no node and no pong on a unidirectional transport');
      assert.ok(connect['subs'] !== undefined && `feed:${i}` in (connect['subs'] as object), 'the token channel is subscribed in the connect push');
      assert.equal(srv.sb.liveConnection(connect['client'] as string)?.transport.kind, name.split(' ')[0]);

      await srv.sb.publish(`feed:${i}`, { n: 1 });
      await until(() => c.messages.some((m) => m['channel'] === `feed:${i}` && 'pub' in m), 10_000, 'the publication');
      const pub = c.messages.find((m) => 'pub' in m)!;
      assert.deepEqual(pub, { channel: `feed:${i}`, pub: { data: { n: 1 }, offset: 1 } }, 'a push without the reply envelope');

      // A server-side subscription made through the API arrives as a subscribe push, then its publications.
      await srv.sb.subscribeUser({ user }, `alerts:${i}`);
      await until(() => c.messages.some((m) => m['channel'] === `alerts:${i}` && 'subscribe' in m), 10_000, 'the subscribe push');
      await srv.sb.publish(`alerts:${i}`, { alert: true });
      await until(() => c.messages.some((m) => m['channel'] === `alerts:${i}` && 'pub' in m), 10_000, 'the alert');

      await srv.sb.disconnectUser({ user }, Disconnects.forceNoReconnect);
      await until(() => c.messages.some((m) => 'disconnect' in m), 10_000, 'the disconnect push');
      assert.deepEqual(c.messages.find((m) => 'disconnect' in m), { disconnect: { code: 3503, reason: 'force disconnect' } });
      await until(() => c.ended(), 10_000, 'the transport to end');
      await until(() => srv.sb.liveConnection(connect['client'] as string) === undefined, 10_000, 'the connection gone');
    });
  });

  test('an invalid token ends the stream with a disconnect push (3500); an empty cf_connect is an anonymous connect, refused here', async () => {
    const c = uniHttpStream(srv.base, { token: await token({ sub: 'x' }, { secret: 'wrong' }) });
    open.push(c);
    await until(() => c.messages.some((m) => 'disconnect' in m), 10_000, 'the disconnect push');
    assert.equal((c.messages.find((m) => 'disconnect' in m)!['disconnect'] as { code: number }).code, Disconnects.invalidToken.code);
    await until(() => c.ended(), 10_000, 'the stream to end');
    const anon = new StreamReader(`${srv.base}/connection/uni_sse`, 'sse');
    try {
      await anon.find((m) => 'disconnect' in m, 'the disconnect push');
    } finally {
      anon.close();
    }
    await until(() => srv.sb.counts().connections === 0, 10_000, 'no connection left');
  });
});
