import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { LongPoll, Socket } from 'phoenix';
import { RawClient } from '../../../packages/server/test/helpers.js';
import { api, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

// The standalone server serves Phoenix Channels V2 at /socket/websocket (the client is created
// with `new Socket('ws://host/socket')`), on the same channels as the other protocols.

let srv: ServerProcess;
const sockets: Socket[] = [];

before(async () => {
  srv = await startServerProcess(writeConfig(testConfig()));
});
after(async () => {
  await srv?.stop();
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});

test('standalone: /socket/websocket refuses a bad token with 401; the phoenix client joins and gets HTTP API publications', async () => {
  await assert.rejects(new RawClient(`ws://127.0.0.1:${srv.port}/socket/websocket?token=bad&vsn=2.0.0`).opened, /HTTP 401/);
  const s = new Socket(`ws://127.0.0.1:${srv.port}/socket`, { transport: WebSocket, params: { token: await signToken('phx') }, reconnectAfterMs: () => 50 });
  sockets.push(s);
  s.connect();
  const ch = s.channel('chat:phx', {});
  const news: unknown[] = [];
  ch.on('news', (p: unknown) => void news.push(p));
  let ok = false;
  ch.join().receive('ok', () => (ok = true));
  await until(() => ok, 5000, 'phoenix joined');
  assert.equal((await api(srv.base, 'publish', { channel: 'chat:phx', data: { event: 'news', payload: { n: 1 } } })).status, 200);
  await until(() => news.length === 1, 5000, 'API publication as a broadcast');
  assert.deepEqual(news[0], { n: 1 });
});

test('standalone: /socket/longpoll serves the phoenix client over LongPoll (bad token refused with 401)', async () => {
  const bad = await fetch(`http://127.0.0.1:${srv.port}/socket/longpoll?token=bad&vsn=2.0.0`);
  assert.equal(bad.status, 401);
  const s = new Socket(`ws://127.0.0.1:${srv.port}/socket`, { transport: LongPoll, params: { token: await signToken('phx-lp') }, reconnectAfterMs: () => 50 });
  sockets.push(s);
  s.connect();
  const ch = s.channel('chat:phx-lp', {});
  const news: unknown[] = [];
  ch.on('news', (p: unknown) => void news.push(p));
  let ok = false;
  ch.join().receive('ok', () => (ok = true));
  await until(() => ok, 10_000, 'phoenix joined over LongPoll');
  assert.equal((await api(srv.base, 'publish', { channel: 'chat:phx-lp', data: { event: 'news', payload: { n: 2 } } })).status, 200);
  await until(() => news.length === 1, 10_000, 'API publication in a poll');
  assert.deepEqual(news[0], { n: 2 });
});

test('standalone: phoenix.path moves the endpoint (WebSocket at /rt/websocket, LongPoll at /rt/longpoll); the default path is then not served', async () => {
  const moved = await startServerProcess(writeConfig(testConfig({ phoenix: { path: '/rt/websocket' } })));
  try {
    const jwt = await signToken('phx-rt');
    const s = new Socket(`ws://127.0.0.1:${moved.port}/rt`, { transport: WebSocket, params: { token: jwt }, reconnectAfterMs: () => 50 });
    sockets.push(s);
    s.connect();
    const ch = s.channel('chat:rt', {});
    let ok = false;
    ch.join().receive('ok', () => (ok = true));
    await until(() => ok, 5000, 'joined at /rt/websocket');
    const lp = await fetch(`http://127.0.0.1:${moved.port}/rt/longpoll?token=${jwt}&vsn=2.0.0`);
    assert.equal(((await lp.json()) as { status: number }).status, 410, 'a LongPoll session opened at /rt/longpoll');
    await assert.rejects(new RawClient(`ws://127.0.0.1:${moved.port}/socket/websocket?token=${jwt}&vsn=2.0.0`).opened);
  } finally {
    for (const s of sockets.splice(0)) s.disconnect();
    await moved.stop();
  }
});
