// The prepared-frame write path (ws-frames.ts): frames built by Switchboard itself must reach real
// clients intact at every length encoding, batched or alone, and compression must fall back to ws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket, * as wsModule from 'ws';
import { createRequire } from 'node:module';
import { joinedTextFrame, rawSocketOf, textFrame, wsFrameStats } from '../src/ws-frames.js';
import { RawClient, sdk, startServer, token, until } from './helpers.js';

const wsVersion = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;

test('textFrame encodes the three payload length forms like ws does', () => {
  const sender = (wsModule as unknown as { Sender: { frame(d: Buffer, o: object): Buffer[] } }).Sender;
  for (const len of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
    const data = Buffer.alloc(len, 0x61);
    const ours = textFrame(data);
    const theirs = Buffer.concat(sender.frame(data, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
    assert.ok(ours.equals(theirs), `length ${len}`);
  }
  const joined = joinedTextFrame([Buffer.from('{"a":1}'), Buffer.from('{"b":2}')], Buffer.from('\n'));
  assert.ok(joined.equals(textFrame(Buffer.from('{"a":1}\n{"b":2}'))));
});

async function subscribedRaw(url: string, channel: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
  const c = new RawClient(url, options);
  await c.opened;
  c.send(`${JSON.stringify({ id: 1, connect: { token: await token({ sub: 'u1' }) } })}\n${JSON.stringify({ id: 2, subscribe: { channel } })}`);
  await c.next((m) => m['id'] === 2);
  return c;
}

test('publications of every size reach plain and compressed connections intact, alone and batched', async (t) => {
  const srv = await startServer({ compression: true, channels: { allowSubscribeForClient: true } });
  t.after(() => srv.close());
  const plain = await subscribedRaw(srv.url, 'news', { perMessageDeflate: false });
  const deflate = await subscribedRaw(srv.url, 'news', { perMessageDeflate: true });
  t.after(() => {
    plain.close();
    deflate.close();
  });
  assert.ok(deflate.ws.extensions.includes('permessage-deflate'), 'compression negotiated for the second client');
  const sizes = [1, 100, 125, 126, 1000, 20_000, 65_535, 65_536, 60_000];
  // Alone: one publication per tick.
  for (const n of sizes) await srv.sb.publish('news', { n, s: 'z'.repeat(n) });
  // Batched: several in one tick, joined into one frame.
  await Promise.all(sizes.map((n) => srv.sb.publish('news', { n, s: 'y'.repeat(n) })));
  for (const c of [plain, deflate]) {
    const pubs = () => c.messages.filter((m) => (m as { push?: { pub?: unknown } }).push?.pub);
    await until(() => pubs().length === sizes.length * 2, 10_000, 'every publication');
    const got = pubs().map((m) => (m as { push: { pub: { data: { n: number; s: string } } } }).push.pub.data);
    assert.deepEqual(
      got.map((d) => [d.n, d.s.length]),
      [...sizes, ...sizes].map((n) => [n, n]),
    );
    assert.equal(c.closed, undefined);
  }
});

test('the official SDK receives publications written as prepared frames', async (t) => {
  const srv = await startServer({ channels: { allowSubscribeForClient: true } });
  t.after(() => srv.close());
  const client = sdk(srv.url, { token: await token({ sub: 'u2' }) });
  t.after(() => client.disconnect());
  const got: unknown[] = [];
  const sub = client.newSubscription('room');
  sub.on('publication', (ctx) => got.push(ctx.data));
  const subscribed = new Promise((r) => sub.once('subscribed', r));
  sub.subscribe();
  client.connect();
  await subscribed;
  for (let i = 0; i < 5; i++) await srv.sb.publish('room', { i });
  await Promise.all([5, 6, 7].map((i) => srv.sb.publish('room', { i })));
  await until(() => got.length === 8, 5000, 'eight publications');
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ i })));
});

test('with the installed ws, a connection takes the prepared-frame path and publications go out as prepared frames', async (t) => {
  const srv = await startServer({ channels: { allowSubscribeForClient: true } });
  t.after(() => srv.close());
  const before = wsFrameStats();
  const c = await subscribedRaw(srv.url, 'fast', { perMessageDeflate: false });
  t.after(() => c.close());
  const counted = wsFrameStats();
  assert.equal(counted.connections - before.connections, 1, 'the connection was counted on the fast path');
  assert.equal(counted.fallback.internals, before.fallback.internals, 'no fallback for unknown internals');
  const conn = [...srv.sb.liveConnections()][0]!;
  const ws = (conn.transport as unknown as { ws: WebSocket }).ws;
  assert.ok(rawSocketOf(ws) !== undefined, `ws ${wsVersion}: its internals have the shape ws-frames.ts expects`);
  // Count the bytes the server writes straight to the TCP socket, bypassing ws's sender.
  const socket = (ws as unknown as { _socket: { write: (...a: unknown[]) => boolean } })._socket;
  const viaSender = (ws as unknown as { _sender: { sendFrame: (...a: unknown[]) => void } })._sender;
  const direct: Buffer[] = [];
  let senderFrames = 0;
  const write = socket.write.bind(socket);
  socket.write = (chunk: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(chunk)) direct.push(chunk);
    return write(chunk, ...rest);
  };
  const sendFrame = viaSender.sendFrame.bind(viaSender);
  viaSender.sendFrame = (...a: unknown[]) => {
    senderFrames++;
    sendFrame(...a);
  };
  await srv.sb.publish('fast', { hello: 'prepared' });
  await c.next((m) => (m as { push?: { channel?: string } }).push?.channel === 'fast');
  assert.equal(senderFrames, 0, 'ws.send framed nothing');
  assert.ok(direct.some((b) => b[0] === 0x81 && b.includes('"prepared"')), 'the publication left as a frame written by Switchboard');
  assert.equal(wsFrameStats().fallback.senderBusy, counted.fallback.senderBusy, 'no write found the sender busy');
});

test('ws internals of another shape fall back to ws.send, are counted, and warn once', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const before = wsFrameStats();
  // What a future ws might look like: no `_sender` with the fields this code reads.
  const unknownShape = { _socket: { write() {}, _writableState: {} }, _extensions: {} } as unknown as WebSocket;
  assert.equal(rawSocketOf(unknownShape), undefined);
  assert.equal(rawSocketOf(unknownShape), undefined);
  assert.equal(wsFrameStats().fallback.internals - before.fallback.internals, 2);
  // A connection with an extension negotiated falls back by design, counted apart.
  const compressed = { _socket: { write() {}, _writableState: {} }, _sender: { _state: 0, _queue: [] }, _extensions: { 'permessage-deflate': {} } } as unknown as WebSocket;
  assert.equal(rawSocketOf(compressed), undefined);
  assert.equal(wsFrameStats().fallback.compression - before.fallback.compression, 1);
  await until(() => warnings.some((w) => (w as { code?: string }).code === 'SWITCHBOARD_WS_FRAME_FALLBACK'), 5000, 'the warning');
  assert.equal(warnings.filter((w) => (w as { code?: string }).code === 'SWITCHBOARD_WS_FRAME_FALLBACK').length, 1, 'warned once');
});
