// The Phoenix Channels V2 protocol under fuzz. Documented outcomes (PROTOCOL-phoenix.md §12/§14,
// docs/protocols/phoenix.md): a frame that is not a 5-element array with string topic/event and
// string-or-null refs closes with 1007; a binary frame that is not a push closes with 1003; a binary
// push gets an error reply (107) and the socket stays up; every well-formed frame is answered with a
// `phx_reply` carrying its ref: heartbeat ok, refused joins `{reason, code}` (102 unknown namespace,
// 103 permission denied, 107 bad name), pushes to a topic not joined `unmatched topic`, reserved event
// names 107, pushes where publishing is not allowed 103, leaves ok. Frames over the size limit close
// with 1009, text that is not UTF-8 with 1007.
import fc from 'fast-check';
import { type CloseFrame, type ReplyFrame, asciiWord, deepNesting, garbageText, junk, oversize, randomBytes } from './frames.js';
import type { Dialect } from './dialect.js';
import { isUtf8 } from './plain.js';

const q = JSON.stringify;
const UNMATCHED = 'ERR:unmatched topic';

/** A V2 frame whose ref is the fuzz id (the reply's key); `joinRef` null unless given. */
function keyed(kind: string, topic: string, event: string, payload: string, expect: string, joinRef: (id: number) => string = () => 'null'): ReplyFrame {
  return { kind, expect, text: (id) => `[${joinRef(id)},"${id}",${q(topic)},${q(event)},${payload}]` };
}

const badName = fc.oneof(fc.nat(300).map((n) => 'chat:' + 'a'.repeat(256 + n)), fc.constantFrom('chat:a b', 'chat:é', 'chat:\u0000', 'chat:\t', '*'));
const reserved = fc.oneof(
  fc.constantFrom('phx_reply', 'phx_close', 'phx_error', 'presence_state', 'presence_diff', 'heartbeat'),
  asciiWord.map((w) => `phx_${w}`),
  asciiWord.map((w) => `chan_reply_${w}`),
);
/** An event a client may push that is not reserved. */
const userEvent = asciiWord.filter((w) => !w.startsWith('phx_') && !w.startsWith('chan_reply_') && w !== 'heartbeat');

/** A binary push (§9): kind 0, four length bytes, join_ref, ref, topic, event, then the payload bytes. ASCII only. */
function binaryPush(kind: string, topic: string, event: string, body: Uint8Array): ReplyFrame {
  return {
    kind,
    expect: 'ERR:107',
    binary: true,
    text: (id) => {
      const ref = String(id);
      const head = String.fromCharCode(0, 1, ref.length, topic.length, event.length) + '1' + ref + topic + event;
      return head + Buffer.from(body).toString('latin1').replace(/[\x80-\xff]/g, 'x');
    },
  };
}

const replyFrames: fc.Arbitrary<ReplyFrame> = fc.oneof(
  // the socket topic: heartbeat ok (whatever the payload), any other event unmatched
  junk(2).map((p) => keyed('heartbeat', 'phoenix', 'heartbeat', p.text, 'ok')),
  fc.tuple(userEvent, junk(1)).map(([e, p]) => keyed('socket-topic-other', 'phoenix', e, p.text, UNMATCHED)),
  // refused joins, whatever the params
  fc.tuple(asciiWord, junk(3)).map(([a, p]) => keyed('join-unknown-namespace', `q${a}:x`, 'phx_join', p.text, 'ERR:102', (id) => `"${id}"`)),
  fc.tuple(asciiWord, junk(2)).map(([a, p]) => keyed('join-denied', `locked:${a}`, 'phx_join', p.text, 'ERR:103', (id) => `"${id}"`)),
  badName.map((ch) => keyed('join-bad-name', ch, 'phx_join', '{}', 'ERR:107', (id) => `"${id}"`)),
  // a second join of the joined topic: phx_close for the old join, then ok
  fc.constant(keyed('join-twice', 'chat:dup', 'phx_join', '{}', 'ok', (id) => `"${id}"`)),
  // pushes to topics not joined (any event, any payload)
  fc.tuple(asciiWord, fc.oneof(userEvent, reserved, fc.constant('publish')), junk(4)).map(([a, e, p]) => keyed('push-not-joined', `chat:${a}x`, e, p.text, UNMATCHED)),
  // pushes on the joined topic: reserved names (107), publishing not allowed (103)
  fc.tuple(reserved.filter((e) => e !== 'phx_join' && e !== 'phx_leave'), junk(2)).map(([e, p]) => keyed('push-reserved', 'chat:dup', e, p.text, 'ERR:107')),
  fc.tuple(fc.oneof(userEvent, fc.constant('publish')), junk(3).filter((p) => typeof p.value === 'object' && p.value !== null && !Array.isArray(p.value))).map(([e, p]) =>
    keyed('push-denied', 'chat:dup', e, p.text, 'ERR:103'),
  ),
  // leaving a topic not joined: ok
  asciiWord.map((a) => keyed('leave-stranger', `chat:${a}x`, 'phx_leave', '{}', 'ok')),
  // binary pushes: an error reply, the socket stays up
  fc.tuple(fc.constantFrom('chat:dup', 'chat:other', 'phoenix'), userEvent, randomBytes).map(([t, e, b]) => binaryPush('binary-push', t, e.slice(0, 20), b)),
);

/** Text that is not a V2 frame: not JSON, not an array, too short, wrong types in the ref/topic/event slots. */
function isV2(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v) || v.length < 5) return false;
    const r = (x: unknown) => x === null || typeof x === 'string';
    return r(v[0]) && r(v[1]) && typeof v[2] === 'string' && typeof v[3] === 'string';
  } catch {
    return false;
  }
}

const nonRef = fc.constantFrom('1', '1.5', 'true', '{}', '[]', '-0', '1e400');
const nonString = fc.constantFrom('1', 'null', 'true', '{}', '[]', '1e400');

function closeFrames(maxMessage: number): fc.Arbitrary<CloseFrame> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  const invalidUtf8 = randomBytes.filter((b) => !isUtf8(b));
  const malformed = fc.oneof(
    garbageText.map((g) => g.text),
    fc.constantFrom('["1","1","chat:a","phx_join",{}', '[', '{"topic":"chat:a","event":"phx_join","payload":{},"ref":"1"}', '[null,"1","phoenix","heartbeat"]', '[]', 'null', '"x"', '[null,"1","chat:a"]'),
    deepNesting,
    fc.tuple(nonRef, junk(1)).map(([r, p]) => `[${r},"1","chat:a","phx_join",${p.text}]`),
    fc.tuple(nonRef, junk(1)).map(([r, p]) => `[null,${r},"phoenix","heartbeat",${p.text}]`),
    fc.tuple(nonString, junk(1)).map(([t, p]) => `[null,"1",${t},"heartbeat",${p.text}]`),
    fc.tuple(nonString, junk(1)).map(([e, p]) => `[null,"1","chat:a",${e},${p.text}]`),
  );
  return fc.oneof(
    fc.tuple(stage, malformed.filter((t) => !isV2(t))).map(([s, t]): CloseFrame => ({ kind: 'malformed', stage: s, data: t, binary: false, expect: [1007] })),
    // binary frames that are not kind 0 (a push) with a readable header
    fc.tuple(stage, randomBytes.filter((b) => b[0] !== 0)).map(([s, b]): CloseFrame => ({ kind: 'binary-not-push', stage: s, data: b, binary: true, expect: [1003] })),
    fc.tuple(stage, oversize(maxMessage)).map(([s, t]): CloseFrame => ({ kind: 'oversize', stage: s, data: t, binary: false, expect: [1009] })),
    fc.tuple(stage, invalidUtf8).map(([s, b]): CloseFrame => ({ kind: 'invalid-utf8', stage: s, data: b, binary: false, expect: [1007] })),
  );
}

export function phoenixDialect(maxMessage: number): Dialect {
  return {
    protocol: 'phoenix',
    path: '/socket/websocket?vsn=2.0.0',
    replyFrames,
    closeFrames: closeFrames(maxMessage),
    batching: 'single',
    // Join the topic the in-band frames push to (join ref = ref = the id).
    handshake: [keyed('join', 'chat:dup', 'phx_join', '{}', 'ok', (id) => `"${id}"`)],
    greeting: [],
    firstId: 1,
    parseReplies(text, out) {
      const m = JSON.parse(text) as [string | null, string | null, string, string, { status?: string; response?: { code?: number; reason?: string } }];
      if (m[3] !== 'phx_reply') return; // phx_close of a replaced join, broadcasts
      const r = m[4];
      out.push({ key: m[1] ?? undefined, outcome: r.status === 'ok' ? 'ok' : `ERR:${r.response?.code ?? r.response?.reason}` });
    },
  };
}
