// The plain-JSON protocol under fuzz. Documented outcomes (src/protocols/plain/session.ts): every
// bad frame gets `{"type":"error","code":...,"message":...}` (with the frame's `id` when it had a
// valid one) and the connection stays open; frames over the size limit close with 1009 and text
// that is not UTF-8 with 1007 (WebSocket rules).
import fc from 'fast-check';
import { type CloseFrame, type ReplyFrame, asciiWord, deepNesting, garbageText, junk, oversize, randomBytes } from './frames.js';
import type { Dialect } from './dialect.js';

const q = JSON.stringify;

function keyed(kind: string, fields: (id: number) => string, expect: number | 'ok'): ReplyFrame {
  return { kind, expect: String(expect), text: (id) => `{"id":${id},${fields(id)}}` };
}

const badName = fc.oneof(fc.nat(300).map((n) => 'chat:' + 'a'.repeat(256 + n)), fc.constantFrom('chat:a b', 'chat:é', 'chat:\u0000', 'chat:\t'));
const nonString = fc.oneof(fc.integer().map(String), fc.constantFrom('null', 'true', '[]', '{}', '""', '1e400'));

const replyFrames: fc.Arbitrary<ReplyFrame> = fc.oneof(
  // not JSON, not an object, binary, bad ids: an error without an id
  garbageText.map((g): ReplyFrame => ({ kind: 'garbage-text', expect: '107', anonymous: 1, text: () => g.text })),
  fc.constantFrom('{"type":"subscribe","channel":"chat:a"', '{"type":', '{"action":"x","data":[1,2', '[', '{"id":1,').map((t): ReplyFrame => ({ kind: 'truncated-json', expect: '107', anonymous: 1, text: () => t })),
  deepNesting.map((t): ReplyFrame => ({ kind: 'deep-nesting', expect: '107', anonymous: 1, text: () => t })),
  randomBytes.map((b): ReplyFrame => ({ kind: 'binary-frame', expect: '107', anonymous: 1, binary: true, text: () => Buffer.from(b).toString('latin1') })),
  fc
    .oneof(fc.constantFrom('null', 'true', '{}', '[]', '1e400', '-1e400'), fc.nat(200).map((n) => q('i'.repeat(129 + n))))
    .map((id): ReplyFrame => ({ kind: 'bad-id', expect: '107', anonymous: 1, text: () => `{"id":${id},"type":"ping"}` })),
  // keyed errors
  fc.oneof(fc.constant(''), nonString.map((t) => `"type":${t}`), asciiWord.map((w) => `"type":${q('x' + w)}`)).map((f) => keyed('bad-type', () => f || '"data":1', 107)),
  fc.oneof(nonString, fc.constant('""')).map((a) => keyed('action-wrong-type', () => `"action":${a}`, 107)),
  fc.tuple(asciiWord, fc.option(junk(3))).map(([a, d]) => keyed('action-unknown', () => `"action":${q('m' + a)}${d === null ? '' : `,"data":${d.text}`}`, 104)),
  fc.tuple(fc.constantFrom('subscribe', 'unsubscribe', 'publish'), fc.oneof(fc.constant(''), nonString.map((t) => `,"channel":${t}`))).map(([t, c]) => keyed('missing-channel', () => `"type":${q(t)}${c}`, 107)),
  fc.tuple(asciiWord, junk(2)).map(([a, d]) => keyed('subscribe-unknown-namespace', () => `"type":"subscribe","channel":${q(`q${a}:x`)},"data":${d.text}`, 102)),
  asciiWord.map((a) => keyed('subscribe-denied', () => `"type":"subscribe","channel":${q(`locked:${a}`)}`, 103)),
  fc.constant(keyed('subscribe-twice', () => '"type":"subscribe","channel":"chat:dup"', 105)),
  fc.tuple(badName, fc.constantFrom('subscribe', 'publish')).map(([ch, t]) => keyed('bad-channel-name', () => `"type":${q(t)},"channel":${q(ch)},"data":1`, 107)),
  fc.tuple(asciiWord, fc.option(junk(4))).map(([a, d]) =>
    keyed('publish-denied', () => `"type":"publish","channel":${q(`locked:${a}`)}${d === null ? '' : `,"data":${d.text}`}`, d === null || d.value === null ? 107 : 103),
  ),
  // fine in any state
  asciiWord.map((a) => keyed('unsubscribe-stranger', () => `"type":"unsubscribe","channel":${q(`chat:${a}x`)}`, 'ok')),
  fc.constant(keyed('ping', () => '"type":"ping"', 'ok')),
);

function closeFrames(maxMessage: number): fc.Arbitrary<CloseFrame> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  const invalidUtf8 = randomBytes.filter((b) => !isUtf8(b));
  return fc.oneof(
    fc.tuple(stage, oversize(maxMessage)).map(([s, t]): CloseFrame => ({ kind: 'oversize', stage: s, data: t, binary: false, expect: [1009] })),
    fc.tuple(stage, invalidUtf8).map(([s, b]): CloseFrame => ({ kind: 'invalid-utf8', stage: s, data: b, binary: false, expect: [1007] })),
  );
}

export function isUtf8(b: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

const REPLY_TYPES = new Set(['error', 'pong', 'subscribed', 'unsubscribed', 'published', 'reply', 'connected']);

export function plainDialect(maxMessage: number): Dialect {
  return {
    protocol: 'plain',
    path: '/ws',
    replyFrames,
    closeFrames: closeFrames(maxMessage),
    batching: 'single',
    handshake: [keyed('subscribe', () => '"type":"subscribe","channel":"chat:dup"', 'ok')],
    greeting: ['connected'],
    firstId: 1,
    parseReplies(text, out) {
      const m = JSON.parse(text) as { type?: string; id?: unknown; code?: number; channel?: string };
      if (typeof m.type !== 'string' || !REPLY_TYPES.has(m.type)) return; // publications
      if (m.type === 'unsubscribed' && m.id === undefined) return; // a server-side unsubscribe push
      const outcome = m.type === 'error' ? String(m.code) : m.type === 'connected' ? 'connected' : 'ok';
      out.push({ key: m.id === undefined ? undefined : typeof m.id === 'string' ? m.id : JSON.stringify(m.id), outcome });
    },
  };
}
