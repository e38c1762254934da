// The PondSocket protocol under fuzz. Documented outcomes (PROTOCOL-pondsocket.md, src/protocols/pond):
// a malformed frame gets an `ERROR` frame `INVALID_MESSAGE` (on `ENDPOINT` with a fresh requestId
// when the frame had none usable), a refused join a `SYSTEM`/`UNAUTHORIZED` decline carrying the
// error code, a refused broadcast `ERROR`/`UNAUTHORIZED_BROADCAST`; the connection stays open.
// Frames over the size limit close with 1009, text that is not UTF-8 with 1007.
import fc from 'fast-check';
import { type CloseFrame, type ReplyFrame, asciiWord, deepNesting, garbageText, junk, oversize, randomBytes } from './frames.js';
import type { Dialect } from './dialect.js';
import { isUtf8 } from './plain.js';

const q = JSON.stringify;
const INVALID = 'ERR:INVALID_MESSAGE';

function frame(action: string, event: string | null, channel: string | null, payload: string | null, extra = ''): (id: number) => string {
  return (id) =>
    `{"action":${action}${event === null ? '' : `,"event":${event}`}${channel === null ? '' : `,"channelName":${channel}`},"requestId":"r${id}"${payload === null ? '' : `,"payload":${payload}`}${extra}}`;
}

function keyed(kind: string, text: (id: number) => string, expect: string): ReplyFrame {
  return { kind, expect, text };
}

const badName = fc.oneof(fc.nat(300).map((n) => 'chat:' + 'a'.repeat(256 + n)), fc.constantFrom('chat:a b', 'chat:é', 'chat:\u0000'));
const nonString = fc.oneof(fc.integer().map(String), fc.constantFrom('null', 'true', '[]', '{}', '""', '1e400'));
const ACTIONS = ['JOIN_CHANNEL', 'LEAVE_CHANNEL', 'BROADCAST', 'ping'];

const replyFrames: fc.Arbitrary<ReplyFrame> = fc.oneof(
  // anonymous INVALID_MESSAGE: not JSON, not an object, no usable requestId, binary
  garbageText.map((g): ReplyFrame => ({ kind: 'garbage-text', expect: INVALID, anonymous: g.lines, text: () => g.text })),
  fc.constantFrom('{"action":"JOIN_CHANNEL","channelName":"chat:a"', '{"action":', '[', '{"requestId":"x",').map((t): ReplyFrame => ({ kind: 'truncated-json', expect: INVALID, anonymous: 1, text: () => t })),
  deepNesting.map((t): ReplyFrame => ({ kind: 'deep-nesting', expect: INVALID, anonymous: 1, text: () => t })),
  randomBytes.map((b): ReplyFrame => ({ kind: 'binary-frame', expect: INVALID, anonymous: 1, binary: true, text: () => Buffer.from(b).toString('latin1') })),
  fc
    .tuple(fc.constantFrom('"JOIN_CHANNEL"', '"BROADCAST"', '7', 'null'), fc.oneof(fc.constant(''), nonString.map((t) => `,"requestId":${t}`)))
    .map(([a, r]): ReplyFrame => ({ kind: 'bad-request-id', expect: INVALID, anonymous: 1, text: () => `{"action":${a},"channelName":"chat:a"${r},"payload":{}}` })),
  // keyed INVALID_MESSAGE
  fc.tuple(fc.constantFrom('"JOIN_CHANNEL"', '"BROADCAST"', '"LEAVE_CHANNEL"'), fc.oneof(fc.constant(null), nonString)).map(([a, c]) => keyed('missing-channel', frame(a, '"e"', c, '{}'), INVALID)),
  fc
    .tuple(fc.oneof(nonString, fc.string({ maxLength: 20 }).filter((s) => !ACTIONS.includes(s)).map((s) => q(s))), junk(2))
    .map(([a, p]) => keyed('unknown-action', frame(a, '"e"', '"chat:a"', p.text), INVALID)),
  fc.tuple(fc.oneof(fc.constant(null), nonString), asciiWord).map(([e, a]) => keyed('broadcast-no-event', frame('"BROADCAST"', e, q(`chat:${a}`), '{}'), INVALID)),
  // refused broadcasts: not a member, reserved event names
  fc
    .tuple(fc.oneof(asciiWord, fc.constantFrom('ACKNOWLEDGE', 'UNAUTHORIZED', 'CONNECTION')), asciiWord, junk(4))
    .map(([e, a, p]) => keyed('broadcast-not-member', frame('"BROADCAST"', q(e), q(`chat:${a}`), p.text), 'ERR:UNAUTHORIZED_BROADCAST')),
  // refused joins (declines carry the error code)
  fc.tuple(asciiWord, junk(3)).map(([a, p]) => keyed('join-unknown-namespace', frame('"JOIN_CHANNEL"', '"JOIN_CHANNEL"', q(`q${a}:x`), p.text), 'DECLINE:102')),
  fc.tuple(asciiWord, junk(2)).map(([a, p]) => keyed('join-denied', frame('"JOIN_CHANNEL"', '"JOIN_CHANNEL"', q(`locked:${a}`), p.text), 'DECLINE:103')),
  badName.map((ch) => keyed('join-bad-name', frame('"JOIN_CHANNEL"', null, q(ch), null), 'DECLINE:107')),
);

function closeFrames(maxMessage: number): fc.Arbitrary<CloseFrame> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  const invalidUtf8 = randomBytes.filter((b) => !isUtf8(b));
  return fc.oneof(
    fc.tuple(stage, oversize(maxMessage)).map(([s, t]): CloseFrame => ({ kind: 'oversize', stage: s, data: t, binary: false, expect: [1009] })),
    fc.tuple(stage, invalidUtf8).map(([s, b]): CloseFrame => ({ kind: 'invalid-utf8', stage: s, data: b, binary: false, expect: [1007] })),
  );
}

export function pondDialect(maxMessage: number): Dialect {
  return {
    protocol: 'pond',
    path: '/api/socket',
    replyFrames,
    closeFrames: closeFrames(maxMessage),
    batching: 'newline',
    handshake: [],
    greeting: ['connect'],
    firstId: 1,
    parseReplies(text, out) {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { action: string; event: string; requestId: string; payload: { code?: number } };
        // Our frames use requestId `r<id>`; the server's own (fresh UUIDs) never start with 'r'.
        const key = typeof m.requestId === 'string' && m.requestId.startsWith('r') ? m.requestId.slice(1) : undefined;
        if (m.action === 'CONNECT') out.push({ key: undefined, outcome: 'connect' });
        else if (m.action === 'ERROR') out.push({ key, outcome: `ERR:${m.event}` });
        else if (m.action === 'SYSTEM' && m.event === 'UNAUTHORIZED') out.push({ key, outcome: `DECLINE:${m.payload.code}` });
      }
    },
  };
}
