// Why channel compaction is JSON only: the official Protobuf SDK (centrifuge 5.8) cannot route a
// compacted push. Shown against a scripted server speaking the Protobuf wire (not Switchboard), so
// the test fails (and says so) the day an SDK release can: then Protobuf compaction can be enabled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import WebSocket, { WebSocketServer } from 'ws';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { Command, Reply } from '../src/protocols/centrifuge/proto-schema.js';
import { once, until } from './helpers.js';

type Cmd = { id?: number; connect?: object; subscribe?: { channel: string; flag?: number } };

function decodeCommands(data: Buffer): Cmd[] {
  const reader = protobuf.Reader.create(data);
  const out: Cmd[] = [];
  while (reader.pos < reader.len) out.push(Command.toObject(Command.decodeDelimited(reader), { longs: Number }));
  return out;
}

test('the Protobuf SDK asks for compaction but drops a push addressed by the id its own subscribe reply gave (int64 ids decode to Long objects compared with ===)', { timeout: 30_000 }, async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('centrifuge-protobuf') ? 'centrifuge-protobuf' : false) });
  t.after(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });
  await once(wss, 'listening');
  const flags: number[] = [];
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer) => {
      for (const cmd of decodeCommands(data)) {
        if (cmd.connect !== undefined) ws.send(Reply.encodeDelimited({ id: cmd.id, connect: { client: 'c1', version: 'test' } }).finish());
        if (cmd.subscribe !== undefined) {
          flags.push(cmd.subscribe.flag ?? 0);
          const channel = cmd.subscribe.channel;
          // The reply gives the subscription id 7, as a compacting server does...
          ws.send(Reply.encodeDelimited({ id: cmd.id, subscribe: { id: 7 } }).finish());
          // ...then a publication addressed by that id, then one addressed by the channel name.
          ws.send(Reply.encodeDelimited({ push: { id: 7, pub: { data: Buffer.from('{"by":"id"}') } } }).finish());
          ws.send(Reply.encodeDelimited({ push: { channel, pub: { data: Buffer.from('{"by":"channel"}') } } }).finish());
        }
      }
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/connection/websocket`;
  const c = new CentrifugeProtobuf(url, { websocket: WebSocket, minReconnectDelay: 5000, timeout: 3000 });
  const connected = once(c, 'connected');
  c.connect();
  await connected;
  const sub = c.newSubscription('news');
  const got: unknown[] = [];
  sub.on('publication', (p) => got.push(JSON.parse(new TextDecoder().decode(p.data as Uint8Array))));
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  await subscribed;
  // The pushes are handled in order: once the channel-addressed one is in, the id-addressed one was handled before it.
  await until(() => got.length > 0, 5000, 'a publication');
  assert.equal(flags[0]! & 1, 1, 'the SDK asks for channel compaction (subscribe flag bit 1)');
  assert.deepEqual(
    got,
    [{ by: 'channel' }],
    'the id-addressed publication was dropped: if it arrived, this SDK routes compacted pushes and Protobuf compaction can be turned on (protocols/centrifuge/session.ts)',
  );
  c.disconnect();
});
