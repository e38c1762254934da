// The native protocol (Centrifugo client protocol v2, JSON) under fuzz: frames and their oracles.
// Documented outcomes (PROTOCOL-centrifuge.md §5): malformed or out-of-state commands close with
// 3501 bad request, binary frames with 3506, bad tokens with 3500, an async `send` nobody handles
// with 3508, frames over the size limit with 1009, invalid UTF-8 with 1007; well-formed commands
// that cannot be served get a reply error (102 unknown channel, 103 permission denied, 104 method
// not found, 105 already subscribed, 107 bad request, 108 not available).
import fc from 'fast-check';
import { type CloseFrame, type ReplyFrame, asciiWord, deepNesting, extras, junk, oversize, randomBytes } from './frames.js';
import type { Dialect } from './dialect.js';

const q = JSON.stringify;
const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

function reply(kind: string, body: string, expect: number | 'ok'): ReplyFrame {
  return { kind, expect: String(expect), text: (id) => `{"id":${id},${body}}` };
}

/** A channel name the server rejects as a name (107): non-ASCII, spaces, control characters, too long. */
const badChannelName = fc.oneof(
  fc.nat(400).map((n) => 'chat:' + 'a'.repeat(256 + n)),
  fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }).filter((s) => /[^\x21-\x7e]/.test(s)).map((s) => 'chat:' + s),
);

const subscribeExtras = extras(['recover', 'offset', 'epoch', 'flag', 'data', 'positioned', 'recoverable', 'join_leave']);

const replyFrames: fc.Arbitrary<ReplyFrame> = fc.oneof(
  // unknown namespace (102), whatever the other fields hold
  fc.tuple(asciiWord, asciiWord, subscribeExtras).map(([a, b, x]) => reply('subscribe-unknown-namespace', `"subscribe":{"channel":${q(`q${a}:${b}`)}${x}}`, 102)),
  // a bad channel name (107)
  fc.tuple(badChannelName, fc.constantFrom('subscribe', 'publish', 'presence', 'history')).map(([ch, m]) =>
    reply('bad-channel-name', `${q(m)}:{"channel":${q(ch)}${m === 'publish' ? ',"data":1' : ''}}`, 107),
  ),
  // no permission (103), also with a garbage subscription token
  fc.tuple(asciiWord, subscribeExtras, fc.option(fc.string({ maxLength: 300 }))).map(([a, x, tok]) =>
    reply('subscribe-denied', `"subscribe":{"channel":${q(`locked:${a}`)}${tok === null ? '' : `,"token":${q(tok)}`}${x}}`, 103),
  ),
  // a valid command in an invalid state: subscribing twice (105)
  subscribeExtras.map((x) => reply('subscribe-twice', `"subscribe":{"channel":"chat:dup"${x}}`, 105)),
  // publish: data of every shape (huge, deep, odd numbers) where publishing is not allowed
  fc.tuple(asciiWord, fc.option(junk(4))).map(([a, d]) =>
    reply('publish-denied', `"publish":{"channel":${q(`locked:${a}`)}${d === null ? '' : `,"data":${d.text}`}}`, d === null || d.value === null ? 107 : 103),
  ),
  // rpc: no RPC handlers on the fuzzed node (108), or a method of the wrong type (107)
  fc.tuple(fc.option(junk(2)), fc.option(junk(3))).map(([m, d]) => {
    const expect = m === null ? 108 : typeof m.value === 'string' ? 108 : 107;
    return reply('rpc', `"rpc":{${[m === null ? '' : `"method":${m.text}`, d === null ? '' : `"data":${d.text}`].filter(Boolean).join(',')}}`, expect);
  }),
  // history: wrong types for limit/since (107), else not available in `chat` (108)
  fc.tuple(fc.option(junk(2)), fc.option(junk(2)), extras(['reverse'])).map(([limit, since, x]) => {
    let expect: number = 108;
    if (limit !== null && !(typeof limit.value === 'number' && Number.isInteger(limit.value))) expect = 107;
    else if (since !== null && !isObj(since.value)) expect = 107;
    const fields = ['"channel":"chat:h"', limit === null ? '' : `"limit":${limit.text}`, since === null ? '' : `"since":${since.text}`].filter(Boolean).join(',');
    return reply('history', `"history":{${fields}${x}}`, expect);
  }),
  // presence where it is off (108) or in an unknown namespace (102)
  fc.tuple(fc.constantFrom('presence', 'presence_stats'), fc.constantFrom('chat:p', 'locked:p', 'nope:p')).map(([m, ch]) =>
    reply('presence', `${q(m)}:{"channel":${q(ch)}}`, ch === 'nope:p' ? 102 : 108),
  ),
  // sub_refresh: wrong types (107), else not subscribed / garbage token (103)
  fc.tuple(fc.option(junk(1)), fc.option(junk(1))).map(([ch, tok]) => {
    const ok = (j: typeof ch) => j !== null && typeof j.value === 'string' && j.value !== '';
    const fields = [ch === null ? '' : `"channel":${ch.text}`, tok === null ? '' : `"token":${tok.text}`].filter(Boolean).join(',');
    return reply('sub-refresh', `"sub_refresh":{${fields}}`, ok(ch) && ok(tok) ? 103 : 107);
  }),
  // valid commands in odd states that are fine: unsubscribe from a channel never joined, ping
  asciiWord.map((a) => reply('unsubscribe-stranger', `"unsubscribe":{"channel":${q(`chat:${a}x`)}}`, 'ok')),
  fc.constant(reply('ping', '"ping":{}', 'ok')),
);

const METHOD_NAMES = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh', 'ping'];
const badId = fc.oneof(
  fc.constantFrom('0', '-1', '1.5', '1e400', '9007199254740993', '"1"', 'null', 'true', '[]', '{}'),
  fc.integer({ max: 0 }).map(String),
  fc.string({ maxLength: 10 }).map((s) => q(s)),
);
const nonObjectParams = fc.oneof(fc.integer().map(String), fc.string({ maxLength: 20 }).map((s) => q(s)), fc.constantFrom('true', 'false', '[]', '[1,2]', '"x"'));
const missingChannel = fc.oneof(fc.constant(''), fc.constantFrom('"channel":""', '"channel":null', '"channel":1', '"channel":[]', '"channel":{}', '"channel":true'));

function close(kind: string, stage: 'pre' | 'post', data: string | Uint8Array, expect: readonly number[], binary = false): CloseFrame {
  return { kind, stage, data, binary, expect };
}

function closeFrames(maxMessage: number): fc.Arbitrary<CloseFrame> {
  const stage = fc.constantFrom<'pre' | 'post'>('pre', 'post');
  return fc.oneof(
    fc.tuple(stage, randomBytes).map(([s, b]) => close('random-bytes', s, b, [1007, 3501])),
    fc.tuple(stage, randomBytes).map(([s, b]) => close('binary-frame', s, b, [3506], true)),
    // a valid command cut short
    fc
      .tuple(stage, fc.constantFrom('{"id":1,"connect":{"name":"js","version":"5"}}', '{"id":7,"subscribe":{"channel":"chat:a","recover":true}}', '{"id":9,"publish":{"channel":"news:main","data":{"a":[1,2,3]}}}'), fc.nat())
      .map(([s, t, n]) => close('truncated-json', s, t.slice(0, 1 + (n % (t.length - 1))), [3501])),
    fc.tuple(stage, deepNesting).map(([s, t]) => close('deep-nesting', s, t, [3501])),
    // unknown commands
    fc
      .tuple(stage, fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !METHOD_NAMES.includes(k) && k !== 'id'), junk(2))
      .map(([s, k, v]) => close('unknown-command', s, `{"id":3,${q(k)}:${v.text}}`, [3501])),
    // bad envelope: ids that are not positive integers, params that are not objects
    fc.tuple(stage, badId, fc.constantFrom('connect', 'subscribe', 'rpc', 'ping')).map(([s, id, m]) => close('bad-id', s, `{"id":${id},${q(m)}:{}}`, [3501])),
    fc.tuple(stage, nonObjectParams, fc.constantFrom('connect', 'subscribe', 'publish', 'history', 'rpc')).map(([s, p, m]) => close('params-not-object', s, `{"id":2,${q(m)}:${p}}`, [3501])),
    // frames just over the size limit
    fc.tuple(stage, oversize(maxMessage)).map(([s, t]) => close('oversize', s, t, [1009])),
    // valid commands in an invalid state: anything but connect before connect; connect twice
    fc.constantFrom('"subscribe":{"channel":"chat:a"}', '"publish":{"channel":"chat:a","data":1}', '"history":{"channel":"chat:a"}', '"rpc":{"method":"x"}', '"ping":{}', '"presence":{"channel":"chat:a"}')
      .map((b) => close('command-before-connect', 'pre', `{"id":5,${b}}`, [3501])),
    fc.constantFrom('{}', '{"send":{"data":1}}').map((t) => close('pong-or-send-before-connect', 'pre', t, [3501])),
    fc.constant(close('connect-twice', 'post', '{"id":50,"connect":{}}', [3501])),
    // malformed and oversized (but under the frame limit) connection tokens
    fc
      .oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.constantFrom('a.b.c', 'eyJhbGciOiJub25lIn0.e30.', '..', 'x'.repeat(maxMessage - 200)))
      .map((t) => close('bad-connect-token', 'pre', `{"id":1,"connect":{"token":${q(t)}}}`, [3500])),
    // after connect: required fields missing or of the wrong type
    fc.tuple(fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history'), missingChannel).map(([m, f]) =>
      close('missing-channel', 'post', `{"id":60,${q(m)}:{${f}${m === 'publish' ? (f ? ',' : '') + '"data":1' : ''}}}`, [3501]),
    ),
    fc.oneof(fc.constant(''), fc.constantFrom('"token":""', '"token":1', '"token":null', '"token":"not-a-jwt"')).map((f) => close('bad-refresh', 'post', `{"id":61,"refresh":{${f}}}`, [3500])),
    fc.constant(close('send-unhandled', 'post', '{"send":{"data":{"x":1}}}', [3508])),
  );
}

export function centrifugeDialect(maxMessage: number): Dialect {
  return {
    protocol: 'centrifuge',
    path: '/connection/websocket',
    replyFrames,
    closeFrames: closeFrames(maxMessage),
    batching: 'newline',
    handshake: [
      { kind: 'connect', expect: 'ok', text: (id) => `{"id":${id},"connect":{"name":"fuzz"}}` },
      { kind: 'subscribe', expect: 'ok', text: (id) => `{"id":${id},"subscribe":{"channel":"chat:dup"}}` },
    ],
    greeting: [],
    firstId: 1,
    parseReplies(text, out) {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { id?: number; error?: { code: number } };
        if (m.id === undefined) continue; // pushes (pings)
        out.push({ key: String(m.id), outcome: m.error ? String(m.error.code) : 'ok' });
      }
    },
  };
}
