import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import WebSocket from 'ws';
import type { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import protobuf from 'protobufjs';
import { Command, Reply } from '../src/protocols/centrifuge/proto-schema.js';
import { once, sdk, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Malformed and unservable Protobuf frames, generated with fast-check like the JSON fuzzer's: each
 * one answered with its documented reply error or disconnect code, while a JSON and a Protobuf
 * bystander on the same server keep receiving every publication in order.
 */

type Obj = Record<string, unknown>;
interface DecodedReply {
  id?: number;
  error?: { code: number; message: string };
  push?: Obj;
  [k: string]: unknown;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** One length-delimited Command, with optional unknown fields appended to its body (must be ignored). */
function frame(cmd: Obj, unknown: readonly number[] = []): Buffer {
  const body = Buffer.concat([Command.encode(Command.fromObject(cmd)).finish(), Buffer.from(unknown)]);
  return Buffer.concat([Buffer.from(varint(body.length)), body]);
}

/** Unknown fields (numbers 40..60, varint or bytes) that a decoder must skip. */
const unknownFields = fc.array(
  fc.tuple(fc.integer({ min: 40, max: 60 }), fc.boolean(), fc.nat(), fc.uint8Array({ maxLength: 20 })).map(([n, isVarint, v, bytes]) =>
    isVarint ? [...varint(n << 3), ...varint(v)] : [...varint((n << 3) | 2), ...varint(bytes.length), ...bytes],
  ),
  { maxLength: 3 },
).map((fs) => fs.flat());

const word = fc.stringMatching(/^[a-z0-9_-]{1,24}$/);
const jsonBytes = (v: unknown) => Buffer.from(JSON.stringify(v));
const isJsonText = (b: Uint8Array) => {
  if (b.length === 0) return true; // empty bytes are absent data, refused for its own reason
  try {
    JSON.parse(Buffer.from(b).toString('utf8'));
    return true;
  } catch {
    return false;
  }
};
const notJson = fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((b) => !isJsonText(b));

/** A command that a connected client may send but the server cannot serve, with the reply code due. */
const replyCommands: fc.Arbitrary<{ cmd: Obj; expect: string; kind: string }> = fc.oneof(
  fc.tuple(word, word).map(([a, b]) => ({ kind: 'unknown-namespace', cmd: { subscribe: { channel: `q${a}:${b}` } }, expect: '102' })),
  word.map((a) => ({ kind: 'subscribe-denied', cmd: { subscribe: { channel: `locked:${a}`, recover: true, offset: 5, epoch: 'x' } }, expect: '103' })),
  fc.constant({ kind: 'subscribe-twice', cmd: { subscribe: { channel: 'chat:dup' } }, expect: '105' }),
  word.map((a) => ({ kind: 'publish-denied', cmd: { publish: { channel: `locked:${a}`, data: jsonBytes({ a }) } }, expect: '103' })),
  notJson.map((d) => ({ kind: 'publish-not-json', cmd: { publish: { channel: 'chat:dup', data: d } }, expect: '107' })),
  fc.constant({ kind: 'publish-no-data', cmd: { publish: { channel: 'chat:dup' } }, expect: '107' }),
  word.map((m) => ({ kind: 'rpc-unknown', cmd: { rpc: { method: `x-${m}`, data: jsonBytes([1]) } }, expect: '104' })),
  notJson.map((d) => ({ kind: 'rpc-not-json', cmd: { rpc: { method: 'x', data: d } }, expect: '107' })),
  fc.constant({ kind: 'history-off', cmd: { history: { channel: 'chat:h', limit: 10 } }, expect: '108' }),
  fc.constant({ kind: 'presence-off', cmd: { presence: { channel: 'chat:p' } }, expect: '108' }),
  fc.constant({ kind: 'ping', cmd: { ping: {} }, expect: 'ok' }),
  word.map((a) => ({ kind: 'unsubscribe-stranger', cmd: { unsubscribe: { channel: `chat:${a}x` } }, expect: 'ok' })),
);

interface CloseCase {
  kind: string;
  stage: 'pre' | 'post';
  data: Buffer | string;
  expect: readonly number[];
}

const validCommands = [frame({ id: 1, connect: { name: 'js', version: '5' } }), frame({ id: 7, subscribe: { channel: 'chat:a', recover: true, offset: 9 } }), frame({ id: 9, publish: { channel: 'chat:a', data: jsonBytes({ a: [1, 2, 3] }) } })];

function closeCases(tokenText: string): fc.Arbitrary<CloseCase> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  return fc.oneof(
    // a valid command cut short: its length prefix promises more than follows
    fc.tuple(stage, fc.nat(2), fc.nat()).map(([s, i, n]) => {
      const f = validCommands[i]!;
      return { kind: 'truncated', stage: s, data: f.subarray(0, 1 + (n % (f.length - 1))), expect: [3501] };
    }),
    // a length prefix larger than the bytes that follow
    fc.tuple(stage, fc.uint8Array({ maxLength: 200 })).map(([s, b]) => ({ kind: 'length-overrun', stage: s, data: Buffer.concat([Buffer.from(varint(b.length + 1 + (b.length % 7))), b]), expect: [3501] })),
    // a field with wire type 6 or 7 (none exists)
    fc.tuple(stage, fc.integer({ min: 1, max: 30 }), fc.constantFrom(6, 7)).map(([s, n, wt]) => {
      const body = Buffer.from(varint((n << 3) | wt));
      return { kind: 'bad-wire-type', stage: s, data: Buffer.concat([Buffer.from(varint(body.length)), body]), expect: [3501] };
    }),
    // text frames on a Protobuf connection
    fc.tuple(stage, fc.string({ minLength: 1, maxLength: 100 })).map(([s, t]) => ({ kind: 'text-frame', stage: s, data: t, expect: [3506] })),
    // valid commands in an invalid state: anything but connect before connect (a pong too); connect twice
    fc
      .constantFrom<Obj>({ id: 5, subscribe: { channel: 'chat:a' } }, { id: 5, ping: {} }, { id: 5, rpc: { method: 'x' } }, {}, { send: { data: jsonBytes(1) } })
      .map((cmd) => ({ kind: 'before-connect', stage: 'pre' as const, data: frame(cmd), expect: [3501] })),
    fc.constant({ kind: 'connect-twice', stage: 'post' as const, data: frame({ id: 50, connect: { token: tokenText } }), expect: [3501] }),
    // a command without an id, or with an id and no method
    fc.tuple(stage, fc.constantFrom<Obj>({ subscribe: { channel: 'chat:a' } }, { id: 4 })).map(([s, cmd]) => ({ kind: 'bad-envelope', stage: s, data: frame(cmd), expect: [3501] })),
    // required fields missing
    fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history').map((m) => ({ kind: 'missing-channel', stage: 'post' as const, data: frame({ id: 60, [m]: {} }), expect: [3501] })),
    // garbage connection tokens
    fc.string({ minLength: 1, maxLength: 200 }).map((t) => ({ kind: 'bad-token', stage: 'pre' as const, data: frame({ id: 1, connect: { token: t } }), expect: [3500] })),
    // an async message nobody handles
    fc.constant({ kind: 'send-unhandled', stage: 'post' as const, data: frame({ send: { data: jsonBytes({ x: 1 }) } }), expect: [3508] }),
  );
}

/** A raw Protobuf WebSocket client: decodes every binary message into Replies; records the close. */
class RawPb {
  readonly ws: WebSocket;
  readonly replies: DecodedReply[] = [];
  readonly opened: Promise<void>;
  closed: number | undefined;
  constructor(url: string) {
    this.ws = new WebSocket(url, 'centrifuge-protobuf');
    this.opened = once(this.ws, 'open', 5000).then(() => undefined);
    this.ws.on('message', (d: Buffer) => {
      const r = protobuf.Reader.create(d);
      while (r.pos < r.len) this.replies.push(Reply.toObject(Reply.decodeDelimited(r), { longs: Number }));
    });
    this.ws.on('close', (code: number) => (this.closed = code));
  }
  async waitClose(): Promise<number> {
    await until(() => this.closed !== undefined, 5000, 'close');
    return this.closed!;
  }
}

describe('bad input on the Protobuf encoding', () => {
  let srv: TestServer;
  let connectToken: string;
  const bystanders: (Centrifuge | CentrifugeProtobuf)[] = [];
  const received: { json: unknown[]; pb: unknown[] } = { json: [], pb: [] };
  let published = 0;
  const tick = () => srv.sb.publish('chat:bystander', { n: published++ });

  const connectedRaw = async (): Promise<RawPb> => {
    const raw = new RawPb(srv.url);
    await raw.opened;
    raw.ws.send(frame({ id: 1, connect: { token: connectToken, name: 'raw' } }));
    await until(() => raw.replies.some((r) => r.id === 1 && r['connect'] !== undefined), 5000, 'connect reply');
    return raw;
  };

  before(async () => {
    // one RPC method, so that other methods are unknown (104) rather than RPC not being served at all (108)
    srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true }, locked: {} }, limits: { maxMessageSize: 4096 } }, (sb) =>
      sb.rpc('Known.Method', (ctx) => ctx.data),
    );
    connectToken = await token({ sub: 'raw' });
    const js = sdk(srv.url, { token: await token({ sub: 'bystander-json' }) });
    const pb = new CentrifugeProtobuf(srv.url, { websocket: WebSocket, token: await token({ sub: 'bystander-pb' }) });
    for (const [c, list, decode] of [
      [js, received.json, (d: unknown) => d],
      [pb, received.pb, (d: unknown) => JSON.parse(new TextDecoder().decode(d as Uint8Array)) as unknown],
    ] as const) {
      bystanders.push(c);
      c.connect();
      const sub = c.newSubscription('chat:bystander');
      sub.on('publication', (p) => list.push(decode(p.data)));
      const s = once(sub, 'subscribed');
      sub.subscribe();
      await s;
    }
  });

  after(async () => {
    await until(() => received.json.length === published && received.pb.length === published, 10_000, 'bystander deliveries');
    const want = Array.from({ length: published }, (_, i) => ({ n: i }));
    assert.deepEqual(received.json, want);
    assert.deepEqual(received.pb, want);
    for (const c of bystanders) {
      assert.equal(c.state, 'connected');
      c.disconnect();
    }
    await srv.close();
  });

  test('frames that must end the connection close it with their documented code', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(closeCases(connectToken), async (c) => {
        const raw = c.stage === 'pre' ? new RawPb(srv.url) : await connectedRaw();
        await raw.opened;
        raw.ws.send(c.data, { binary: typeof c.data !== 'string' });
        await tick();
        const code = await raw.waitClose();
        seen.set(c.kind, (seen.get(c.kind) ?? 0) + 1);
        assert.ok(c.expect.includes(code), `${c.kind} (${c.stage}): closed with ${code}, expected ${c.expect.join('/')}`);
      }),
      { numRuns: 300, seed: 20261204 },
    );
    assert.ok(seen.size >= 8, `kinds covered: ${[...seen.keys()].join(', ')}`);
  });

  test('well-formed commands that cannot be served get their reply codes; batches of them in one message; unknown fields ignored', async () => {
    const raw = await connectedRaw();
    raw.ws.send(frame({ id: 2, subscribe: { channel: 'chat:dup' } }));
    await until(() => raw.replies.some((r) => r.id === 2), 5000, 'subscribe reply');
    const cases = fc.sample(fc.tuple(fc.array(fc.tuple(replyCommands, unknownFields), { minLength: 1, maxLength: 8 })), { numRuns: 250, seed: 4242 });
    const expected = new Map<number, { expect: string; kind: string }>();
    let id = 10;
    for (const [batch] of cases) {
      const frames: Buffer[] = [];
      for (const [c, unknown] of batch) {
        expected.set(id, c);
        frames.push(frame({ id, ...c.cmd }, unknown));
        id++;
      }
      raw.ws.send(Buffer.concat(frames));
    }
    await tick();
    await until(() => raw.replies.filter((r) => r.id !== undefined && r.id >= 10).length === expected.size, 20_000, 'every reply');
    for (const r of raw.replies) {
      if (r.id === undefined || r.id < 10) continue;
      const want = expected.get(r.id)!;
      const got = r.error ? String(r.error.code) : 'ok';
      assert.equal(got, want.expect, `${want.kind} (id ${r.id}): ${JSON.stringify(r.error)}`);
    }
    assert.equal(raw.closed, undefined, 'the connection stays open');
    raw.ws.close();
  });
});
