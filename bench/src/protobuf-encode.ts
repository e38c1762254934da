/**
 * Which encoder for Centrifugo's Protobuf publications: protobufjs (reflection, runtime-generated
 * code from the schema the server uses) against a hand-written encoder for the one hot message (a
 * publication push), with the JSON encoder as the reference. A publication is encoded once per
 * encoding and the bytes are shared by all its recipients, so this cost is paid once per
 * publication, not per delivery. Also prints the bytes per publication of each encoding, and per
 * delivery for a stream of similar documents with fossil delta compression.
 *
 *   node --conditions=source --import tsx bench/src/protobuf-encode.ts
 */
import { performance } from 'node:perf_hooks';
import { Reply } from '../../packages/server/src/protocols/centrifuge/proto-schema.js';
import { protobufWire } from '../../packages/server/src/protocols/centrifuge/proto-wire.js';
import { jsonWire } from '../../packages/server/src/protocols/centrifuge/wire.js';
import type { Publication } from '../../packages/server/src/types.js';
import { createDelta } from 'fossil-delta';

function varintLen(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, o: number, n: number): number {
  while (n >= 0x80) {
    buf[o++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[o++] = n;
  return o;
}

/** Hand-written: Reply{push{channel, pub{data, info{user, client, conn_info}, offset}}}, length-delimited. */
function handWritten(channel: string, pub: Publication): Buffer {
  const ch = Buffer.from(channel);
  const data = Buffer.from(pub.data);
  const user = Buffer.from(pub.info?.user ?? '');
  const client = Buffer.from(pub.info?.client ?? '');
  const conn = pub.info?.connInfo === undefined ? undefined : Buffer.from(pub.info.connInfo);
  let infoLen = 0;
  if (pub.info) {
    if (user.length) infoLen += 1 + varintLen(user.length) + user.length;
    if (client.length) infoLen += 1 + varintLen(client.length) + client.length;
    if (conn) infoLen += 1 + varintLen(conn.length) + conn.length;
  }
  let pubLen = 1 + varintLen(data.length) + data.length;
  if (pub.info) pubLen += 1 + varintLen(infoLen) + infoLen;
  if (pub.offset) pubLen += 1 + varintLen(pub.offset);
  const pushLen = 1 + varintLen(ch.length) + ch.length + 1 + varintLen(pubLen) + pubLen;
  const replyLen = 1 + varintLen(pushLen) + pushLen;
  const out = Buffer.allocUnsafe(varintLen(replyLen) + replyLen);
  let o = writeVarint(out, 0, replyLen);
  out[o++] = 0x22; // Reply.push
  o = writeVarint(out, o, pushLen);
  out[o++] = 0x12; // Push.channel
  o = writeVarint(out, o, ch.length);
  o += ch.copy(out, o);
  out[o++] = 0x22; // Push.pub
  o = writeVarint(out, o, pubLen);
  out[o++] = 0x22; // Publication.data
  o = writeVarint(out, o, data.length);
  o += data.copy(out, o);
  if (pub.info) {
    out[o++] = 0x2a; // Publication.info
    o = writeVarint(out, o, infoLen);
    if (user.length) {
      out[o++] = 0x0a;
      o = writeVarint(out, o, user.length);
      o += user.copy(out, o);
    }
    if (client.length) {
      out[o++] = 0x12;
      o = writeVarint(out, o, client.length);
      o += client.copy(out, o);
    }
    if (conn) {
      out[o++] = 0x1a;
      o = writeVarint(out, o, conn.length);
      o += conn.copy(out, o);
    }
  }
  if (pub.offset) {
    out[o++] = 0x30; // Publication.offset
    o = writeVarint(out, o, pub.offset);
  }
  return out;
}

const samples: Record<string, Publication> = {
  'small (server publish)': { data: '{"n":12345,"text":"hello"}', offset: 1234 },
  'chat (client publish, info)': {
    data: '{"text":"hello everyone, how are things going today?","ts":1733300000000}',
    offset: 98765,
    info: { user: 'user-42', client: '7b0c6f5e-3d0a-4a3e-9a57-1f2d3c4b5a69', connInfo: '{"name":"Alice"}' },
  },
  '1 KB object': { data: JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.25 })) }), offset: 7 },
};

function nsPerOp(fn: () => unknown, ms = 400): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / n;
}

const channel = 'chat:room-1';
console.log('| publication | JSON bytes | Protobuf bytes | JSON encode ns | protobufjs encode ns | hand-written encode ns |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, pub] of Object.entries(samples)) {
  const viaLib = protobufWire.pubPush(channel, pub);
  const viaHand = handWritten(channel, pub);
  if (!viaLib.equals(viaHand)) throw new Error(`encoders disagree for ${name}`);
  const decoded = Reply.decodeDelimited(viaLib);
  if (decoded.toJSON()['push'] === undefined) throw new Error('not a push');
  const json = jsonWire.pubPush(channel, pub);
  console.log(
    `| ${name} | ${json.length} | ${viaLib.length} | ${nsPerOp(() => jsonWire.pubPush(channel, pub)).toFixed(0)} | ${nsPerOp(() => protobufWire.pubPush(channel, pub)).toFixed(0)} | ${nsPerOp(() => handWritten(channel, pub)).toFixed(0)} |`,
  );
}

// Bytes per delivery of a stream of similar documents (each changes a few fields of a ~1 KB
// object): full publications against fossil deltas, in each encoding, as a delta subscriber gets them.
function book(i: number): Record<string, unknown> {
  return {
    id: 'instrument-42',
    seq: i,
    price: 100 + (i % 7) * 0.25,
    volume: 1000 + i,
    book: Array.from({ length: 20 }, (_, k) => ({ level: k, bid: 99 - k * 0.05, ask: 101 + k * 0.05, size: 10 * (k + 1) + (k === i % 20 ? i : 0) })),
  };
}
const N = 100;
const totals = { jsonFull: 0, pbFull: 0, jsonDelta: 0, pbDelta: 0 };
let prev: string | undefined;
for (let i = 0; i < N; i++) {
  const pub: Publication = { data: JSON.stringify(book(i)), offset: i + 1 };
  totals.jsonFull += jsonWire.pubPush(channel, pub).length;
  totals.pbFull += protobufWire.pubPush(channel, pub).length;
  const d = prev === undefined ? undefined : createDelta(Buffer.from(prev), Buffer.from(pub.data));
  const delta = d !== undefined && d.length < Buffer.byteLength(pub.data) ? d : undefined;
  totals.jsonDelta += jsonWire.deltaPubPush(channel, pub, delta !== undefined && jsonWire.deltaSafe(delta) ? delta : undefined).length;
  totals.pbDelta += protobufWire.deltaPubPush(channel, pub, delta).length;
  prev = pub.data;
}
console.log(`\n${N} successive ~${Math.round(Buffer.byteLength(JSON.stringify(book(1))))} B documents, bytes per delivery (message, without WebSocket framing):`);
console.log('| JSON full | JSON delta | Protobuf full | Protobuf delta |');
console.log('|---:|---:|---:|---:|');
console.log(`| ${(totals.jsonFull / N).toFixed(0)} | ${(totals.jsonDelta / N).toFixed(0)} | ${(totals.pbFull / N).toFixed(0)} | ${(totals.pbDelta / N).toFixed(0)} |`);
