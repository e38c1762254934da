// Pusher protocol 7 under fuzz. Documented outcomes (docs/protocols/pusher.md, PROTOCOL-pusher.md):
// a frame that is not a JSON object with an event name, a binary frame, an unknown `pusher:` event or
// a `pusher:subscribe` without a channel gets `pusher:error` with code null; a refused subscribe
// gets `pusher:subscription_error` on that channel (`InvalidChannel` for a bad name, `AuthError` for
// a bad signature, bad channel_data or a user channel without sign-in); a refused client event gets
// `pusher:error` 4301 (on its channel when it named one); the connection stays open through all of
// these. A bad sign-in closes with 4009, frames over the size limit with 1009, text that is not
// UTF-8 with 1007. Keys: every keyed frame names a channel containing `fz<id>`, which the server
// echoes in its answer.
import fc from 'fast-check';
import { type CloseFrame, type ReplyFrame, asciiWord, deepNesting, garbageText, junk, oversize, randomBytes } from './frames.js';
import type { Dialect } from './dialect.js';
import { isUtf8 } from './plain.js';
import { FUZZ_PUSHER_APP } from './config.js';

const q = JSON.stringify;
const NULL_ERR = 'ERR:null';

function keyed(kind: string, text: (id: number) => string, expect: string): ReplyFrame {
  return { kind, expect, text };
}

function anonymous(kind: string, text: string, expect = NULL_ERR): ReplyFrame {
  return { kind, expect, anonymous: 1, text: () => text };
}

const nonString = fc.oneof(fc.integer().map(String), fc.constantFrom('null', 'true', '[]', '{}', '1e400'));
/** `auth` values that never sign anything: absent, wrong type, wrong key, wrong signature. */
const badAuth = fc.oneof(fc.constant(''), nonString.map((t) => `,"auth":${t}`), fc.constantFrom(',"auth":""', ',"auth":"fuzz-key:00"', ',"auth":"other:abc"', `,"auth":"fuzz-key:${'0'.repeat(64)}"`));

const replyFrames: fc.Arbitrary<ReplyFrame> = fc.oneof(
  // pusher:error with code null, no channel: not JSON, not an object, no event name, binary
  garbageText.map((g) => anonymous('garbage-text', g.text)),
  fc.constantFrom('{"event":"pusher:subscribe","data":{"channel":"a"}', '{"event":', '[', '{"data":{}}', '"pusher:ping"', '{"event":7}').map((t) => anonymous('truncated-or-eventless', t)),
  deepNesting.map((t) => anonymous('deep-nesting', t)),
  randomBytes.map((b): ReplyFrame => ({ kind: 'binary-frame', expect: NULL_ERR, anonymous: 1, binary: true, text: () => Buffer.from(b).toString('latin1') })),
  fc
    .tuple(fc.oneof(fc.constantFrom('pusher:nonsense', 'pusher_internal:member_added', 'pusher_internal:subscription_succeeded', 'message', 'pusher:error'), asciiWord.map((w) => `x${w}`)), junk(2))
    .map(([e, d]) => anonymous('unknown-event', `{"event":${q(e)},"data":${d.text}}`)),
  fc
    .tuple(
      fc.constantFrom('pusher:subscribe', 'pusher:unsubscribe'),
      fc.oneof(
        junk(2)
          .filter((d) => !(typeof d.value === 'object' && d.value !== null && typeof (d.value as { channel?: unknown }).channel === 'string'))
          .map((d) => `,"data":${d.text}`),
        nonString.map((t) => `,"data":{"channel":${t}}`),
      ),
    )
    .map(([e, d]) => anonymous('no-channel', `{"event":${q(e)}${d}}`)),
  fc.constant(anonymous('ping', '{"event":"pusher:ping","data":{}}', 'pong')),
  // subscription_error on the named channel
  fc
    .tuple(fc.constantFrom(':x', ' x', 'é', '\u0000', '$', '#', '*'), fc.nat(300))
    .map(([bad, n]) => keyed('subscribe-bad-name', (id) => `{"event":"pusher:subscribe","data":{"auth":"","channel":${q(`fz${id}${bad}${n > 250 ? 'a'.repeat(n) : ''}`)}}}`, 'SUBERR:InvalidChannel')),
  fc.nat(100).map((n) => keyed('subscribe-too-long', (id) => `{"event":"pusher:subscribe","data":{"channel":${q(`fz${id}-${'a'.repeat(200 + n)}`)}}}`, 'SUBERR:InvalidChannel')),
  fc
    .tuple(fc.constantFrom('private-', 'private-encrypted-', 'private-cache-', 'presence-', 'presence-cache-'), badAuth, fc.option(junk(2)))
    .map(([kind, auth, cd]) =>
      keyed('subscribe-bad-signature', (id) => `{"event":"pusher:subscribe","data":{"channel":${q(`${kind}fz${id}`)}${auth}${cd === null ? '' : `,"channel_data":${cd.text}`}}}`, 'SUBERR:AuthError'),
    ),
  badAuth.map((auth) => keyed('subscribe-user-channel-unsigned', (id) => `{"event":"pusher:subscribe","data":{"channel":"#server-to-user-fz${id}"${auth}}}`, 'SUBERR:AuthError')),
  // client events: 4301 on the channel they name
  fc
    .tuple(fc.constantFrom('', 'private-', 'private-encrypted-', 'presence-', 'cache-', 'private-cache-'), asciiWord, fc.option(junk(3)))
    .map(([kind, w, d]) => keyed('client-event-refused', (id) => `{"event":${q(`client-${w}`)},"channel":${q(`${kind}fz${id}`)}${d === null ? '' : `,"data":${d.text}`}}`, 'ERR:4301')),
  fc.nat(100).map((n) => keyed('client-event-long-name', (id) => `{"event":${q(`client-${'e'.repeat(200 + n)}`)},"channel":"private-fz${id}","data":{}}`, 'ERR:4301')),
  fc.tuple(asciiWord, fc.oneof(fc.constant(''), nonString.map((t) => `,"channel":${t}`))).map(([w, c]) => anonymous('client-event-no-channel', `{"event":${q(`client-${w}`)}${c},"data":{}}`, 'ERR:4301')),
);

function closeFrames(maxMessage: number): fc.Arbitrary<CloseFrame> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  const invalidUtf8 = randomBytes.filter((b) => !isUtf8(b));
  const badSignin = fc.oneof(
    junk(2).map((d) => `{"event":"pusher:signin","data":${d.text}}`),
    fc.tuple(badAuth, fc.oneof(fc.constantFrom('{"id":"eve"}', '{}', 'not json', ''), fc.string({ maxLength: 40 }))).map(([a, u]) => `{"event":"pusher:signin","data":{"user_data":${q(u)}${a}}}`),
  );
  return fc.oneof(
    fc.tuple(stage, oversize(maxMessage)).map(([s, t]): CloseFrame => ({ kind: 'oversize', stage: s, data: t, binary: false, expect: [1009] })),
    fc.tuple(stage, invalidUtf8).map(([s, b]): CloseFrame => ({ kind: 'invalid-utf8', stage: s, data: b, binary: false, expect: [1007] })),
    fc.tuple(stage, badSignin).map(([s, t]): CloseFrame => ({ kind: 'bad-signin', stage: s, data: t, binary: false, expect: [4009] })),
  );
}

export function pusherDialect(maxMessage: number): Dialect {
  return {
    protocol: 'pusher',
    path: `/app/${FUZZ_PUSHER_APP.key}?protocol=7&client=fuzz&version=1`,
    replyFrames,
    closeFrames: closeFrames(maxMessage),
    batching: 'single',
    handshake: [],
    greeting: ['connected'],
    firstId: 1,
    parseReplies(text, out) {
      const m = JSON.parse(text) as { event?: string; channel?: string; data?: { code?: number | null; type?: string } };
      const key = typeof m.channel === 'string' ? /fz(\d+)/.exec(m.channel)?.[1] : undefined;
      switch (m.event) {
        case 'pusher:connection_established':
          return void out.push({ key: undefined, outcome: 'connected' });
        case 'pusher:pong':
          return void out.push({ key: undefined, outcome: 'pong' });
        case 'pusher:error': {
          const code = m.data?.code ?? null;
          // 4000-4299 announce the close that follows (a bad sign-in's 4009): the close code is the outcome.
          if (code !== null && code >= 4000 && code < 4300) return;
          return void out.push({ key, outcome: `ERR:${code}` });
        }
        case 'pusher:subscription_error':
          return void out.push({ key, outcome: `SUBERR:${m.data?.type}` });
        case 'pusher_internal:subscription_succeeded':
          return void out.push({ key, outcome: 'ok' });
      }
    },
  };
}
