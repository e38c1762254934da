// Tokens and keys: every forged, stale or misdirected token is refused with its documented code
// (PROTOCOL-centrifuge.md §7), JWKS keys are cached and refreshed on an unknown `kid`, and no
// secret or token ever reaches the logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { logging, MAX_TOKEN_LENGTH, recovery, type Logger } from '../../src/index.js';
import { RawClient, SECRET, startServer, token, until } from '../helpers.js';
import { command, connectNative, type Msg } from './native.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Connects with `tok`; resolves with the connect reply or the close. */
async function tryConnect(url: string, tok: string): Promise<{ reply?: Msg; close?: { code: number; reason: string } }> {
  const c = new RawClient(url);
  await c.opened;
  c.send({ id: 1, connect: { token: tok } });
  try {
    await until(() => c.closed !== undefined || c.messages.some((m) => (m as Msg).id === 1), 5000, 'an answer to connect');
    const reply = c.messages.find((m) => (m as Msg).id === 1) as Msg | undefined;
    return reply ? { reply } : { close: c.closed! };
  } finally {
    c.close();
  }
}

test('connection tokens: alg none, HS256 signed with the RSA public key, bad signature, malformed, oversized (also a validly signed token just over 16 KiB), wrong aud/iss -> 3500; expired and nbf in the future -> error 109', async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const other = await generateKeyPair('RS256');
  const srv = await startServer({ token: { rsaPublicKey: pem, audience: 'switchboard', issuer: 'https://auth.example.com' } });
  const rs = (claims: Record<string, unknown>, key = privateKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setAudience('switchboard').setIssuer('https://auth.example.com').sign(key);
  try {
    // Positive control: a proper RS256 token gets in.
    const ok = await tryConnect(srv.url, await rs({ sub: 'alice' }));
    assert.ok(ok.reply && !ok.reply.error, JSON.stringify(ok));

    const refused: [string, string][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', aud: 'switchboard', iss: 'https://auth.example.com' })}.`],
      // Algorithm confusion: HS256 with the (public) RSA key as the HMAC secret.
      ['HS256 with the RSA public key', await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setAudience('switchboard').setIssuer('https://auth.example.com').sign(new TextEncoder().encode(pem))],
      ['signed by another key', await rs({ sub: 'alice' }, other.privateKey)],
      ['wrong audience', await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setAudience('someone-else').setIssuer('https://auth.example.com').sign(privateKey)],
      ['no audience', await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://auth.example.com').sign(privateKey)],
      ['wrong issuer', await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setAudience('switchboard').setIssuer('https://evil.example.com').sign(privateKey)],
      ['malformed', 'not.a.jwt'],
      ['garbage', 'x'],
      ['oversized', `${b64({ alg: 'RS256' })}.${'A'.repeat(20_000)}.sig`],
      ['a channel claim in a connection token', await rs({ sub: 'alice', channel: 'chat:a' })],
    ];
    for (const [what, tok] of refused) {
      const r = await tryConnect(srv.url, tok);
      assert.deepEqual(r.close, { code: 3500, reason: 'invalid token' }, `${what}: ${JSON.stringify(r)}`);
    }
    // The 16 KiB limit itself, with validly signed tokens: just under it gets in, just over it is refused.
    const sized = async (max: number): Promise<string> => {
      let pad = 11_000;
      for (;;) {
        const tok = await rs({ sub: 'alice', pad: 'x'.repeat(pad) });
        if (tok.length <= max && tok.length > max - 4) return tok;
        pad += Math.trunc(((max - tok.length) * 3) / 4) || (tok.length > max ? -1 : 1);
      }
    };
    const under = await sized(MAX_TOKEN_LENGTH);
    assert.equal(MAX_TOKEN_LENGTH, 16 * 1024);
    const admitted = await tryConnect(srv.url, under);
    assert.ok(admitted.reply && !admitted.reply.error, `a valid ${under.length}-character token gets in: ${JSON.stringify(admitted.close)}`);
    const over = await sized(MAX_TOKEN_LENGTH + 4);
    assert.ok(over.length > MAX_TOKEN_LENGTH);
    assert.deepEqual((await tryConnect(srv.url, over)).close, { code: 3500, reason: 'invalid token' }, `a validly signed ${over.length}-character token is refused`);

    const stale: [string, string][] = [
      ['expired', await rs({ sub: 'alice', exp: now() - 10 })],
      ['not yet valid (nbf)', await rs({ sub: 'alice', nbf: now() + 3600 })],
    ];
    for (const [what, tok] of stale) {
      const r = await tryConnect(srv.url, tok);
      assert.equal(r.reply?.error?.code, 109, `${what}: ${JSON.stringify(r)}`);
    }
  } finally {
    await srv.close();
  }
});

test('subscription tokens: another channel, another client, another user -> 3500; bad signature -> 103; expired -> 109', async () => {
  const srv = await startServer({ namespaces: { secret: {} } });
  try {
    const sub = (claims: Record<string, unknown>, opts: { secret?: string; expiresIn?: number } = {}) => token(claims, opts);
    const attempt = async (claims: Record<string, unknown>, opts: { secret?: string; expiresIn?: number } = {}) => {
      const { c, client } = await connectNative(srv.url, 'alice');
      const tok = await sub(typeof claims['client'] === 'function' ? { ...claims, client: (claims['client'] as (id: string) => string)(client) } : claims, opts);
      c.send({ id: 7, subscribe: { channel: '$secret:a', token: tok } });
      await until(() => c.closed !== undefined || c.messages.some((m) => (m as Msg).id === 7), 5000, 'the subscribe reply or a close');
      const reply = c.messages.find((m) => (m as Msg).id === 7) as Msg | undefined;
      const closed = c.closed;
      c.close();
      return { reply, closed };
    };
    // Positive controls: a token for this channel and user (and this client) is accepted.
    assert.equal((await attempt({ sub: 'alice', channel: '$secret:a' })).reply?.error, undefined);
    assert.equal((await attempt({ sub: 'alice', channel: '$secret:a', client: (id: string) => id })).reply?.error, undefined);
    // Without a token, a private channel is refused.
    {
      const { c } = await connectNative(srv.url, 'alice');
      assert.equal((await command(c, 'subscribe', { channel: '$secret:a' })).error?.code, 103);
      c.close();
    }
    for (const [what, claims] of [
      ['another channel', { sub: 'alice', channel: '$secret:b' }],
      ['another client', { sub: 'alice', channel: '$secret:a', client: 'someone-else' }],
      ['another user', { sub: 'bob', channel: '$secret:a' }],
    ] as const) {
      const r = await attempt(claims);
      assert.deepEqual(r.closed, { code: 3500, reason: 'invalid token' }, `${what}: ${JSON.stringify(r)}`);
    }
    assert.equal((await attempt({ sub: 'alice', channel: '$secret:a' }, { secret: 'not-the-secret-xxxxxxxxxxxxxxxxxx' })).reply?.error?.code, 103);
    assert.equal((await attempt({ sub: 'alice', channel: '$secret:a' }, { expiresIn: -10 })).reply?.error?.code, 109);
  } finally {
    await srv.close();
  }
});

test('JWKS: keys picked by kid, cached, refetched on an unknown kid (at most once per cooldown)', async () => {
  const k1 = await generateKeyPair('RS256', { extractable: true });
  const k2 = await generateKeyPair('RS256', { extractable: true });
  const jwk = async (k: CryptoKey, kid: string): Promise<JWK> => ({ ...(await exportJWK(k)), kid, alg: 'RS256', use: 'sig' });
  let keys: JWK[] = [await jwk(k1.publicKey, 'k1')];
  let fetches = 0;
  const jwksServer = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  const srv = await startServer({ token: { jwksUrl, jwksCooldownMs: 4000 } });
  const signed = (k: CryptoKey, kid: string) => new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid }).sign(k);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await tryConnect(srv.url, await signed(k1.privateKey, 'k1'));
      assert.ok(r.reply && !r.reply.error, JSON.stringify(r));
    }
    assert.equal(fetches, 1, 'the key set was fetched once and cached');
    // Rotation: the issuer publishes k2; a token with kid k2 makes the server refetch.
    keys = [await jwk(k1.publicKey, 'k1'), await jwk(k2.publicKey, 'k2')];
    await new Promise((r) => setTimeout(r, 4100));
    const r2 = await tryConnect(srv.url, await signed(k2.privateKey, 'k2'));
    assert.ok(r2.reply && !r2.reply.error, JSON.stringify(r2));
    assert.equal(fetches, 2, 'refetched on the unknown kid');
    // A forged kid right after: refused, and no refetch within the cooldown.
    const forged = await generateKeyPair('RS256');
    const r3 = await tryConnect(srv.url, await signed(forged.privateKey, 'k3'));
    assert.deepEqual(r3.close, { code: 3500, reason: 'invalid token' });
    assert.equal(fetches, 2, 'no refetch within the cooldown');
    // A token signed by another key under a known kid is refused too.
    const r4 = await tryConnect(srv.url, await signed(forged.privateKey, 'k1'));
    assert.deepEqual(r4.close, { code: 3500, reason: 'invalid token' });
  } finally {
    await srv.close();
    await new Promise<void>((r) => jwksServer.close(() => r()));
  }
});

test('no secret is ever logged: secrets, tokens and signatures never appear in any log line', async () => {
  const lines: string[] = [];
  const rec =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v))}`);
    };
  const logger: Logger = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
  const srv = await startServer({ logger, namespaces: { secret: {}, chat: { allowSubscribeForClient: true } } }, (sb) => {
    sb.use(logging(logger));
    sb.use(recovery(logger));
    sb.rpc('boom', () => {
      throw new Error('handler failed');
    });
  });
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  const tokens: string[] = [];
  try {
    const good = await token({ sub: 'alice', info: { name: 'Alice' } });
    tokens.push(good);
    const { c } = await connectNative(srv.url, undefined, { token: good });
    const subTok = await token({ sub: 'alice', channel: '$secret:a' });
    const badSub = await token({ sub: 'alice', channel: '$secret:a' }, { secret: 'wrong-secret-wrong-secret-wrong' });
    tokens.push(subTok, badSub);
    await command(c, 'subscribe', { channel: '$secret:a', token: badSub });
    await command(c, 'subscribe', { channel: '$secret:a', token: subTok });
    await command(c, 'subscribe', { channel: 'chat:x' });
    await command(c, 'rpc', { method: 'boom' });
    await command(c, 'rpc', { method: 'nope' });
    const expired = await token({ sub: 'alice' }, { expiresIn: -5 });
    const forged = await token({ sub: 'mallory' }, { secret: 'forged-secret-forged-secret-forg' });
    tokens.push(expired, forged);
    await tryConnect(srv.url, expired);
    await tryConnect(srv.url, forged);
    c.send({ id: 99, refresh: { token: forged } });
    await c.waitClose(3000);
    // Plain JSON with a token in the query string.
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${good}`);
    await new Promise((r) => ws.once('open', r));
    ws.terminate();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    await srv.close();
  }
  assert.ok(lines.length > 10, `the logger saw the traffic (${lines.length} lines)`);
  const all = lines.join('\n');
  assert.ok(!all.includes(SECRET), 'the HMAC secret is not logged');
  for (const t of tokens) {
    assert.ok(!all.includes(t), 'no token is logged');
    assert.ok(!all.includes(t.split('.')[2]!), 'no token signature is logged');
    assert.ok(!all.includes(t.split('.')[1]!), 'no token payload is logged');
  }
});
