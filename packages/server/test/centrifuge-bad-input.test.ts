import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import type { Centrifuge, Subscription } from 'centrifuge';
import { Disconnects } from '../src/index.js';
import { once, RawClient, sdk, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Bad input on the native protocol: each answered with the documented error or disconnect code,
 * while a well-behaved bystander keeps receiving every publication.
 */
describe('bad input on the native protocol', () => {
  let srv: TestServer;
  let bystander: Centrifuge;
  let bySub: Subscription;
  const received: unknown[] = [];
  let published = 0;

  const rawConnected = async (): Promise<RawClient> => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'raw' }), name: 'raw' } });
    await raw.next((m) => m['id'] === 1 && 'connect' in m);
    return raw;
  };
  const closesWith = async (raw: RawClient, code: number) => {
    const c = await raw.waitClose();
    assert.equal(c.code, code);
    assert.ok(code === 1009 || c.reason.length > 0, 'a terminal close carries a non-empty reason');
  };

  before(async () => {
    srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true } }, limits: { maxMessageSize: 4096 } });
    bystander = sdk(srv.url, { token: await token({ sub: 'bystander' }) });
    bystander.connect();
    bySub = bystander.newSubscription('chat:bystander');
    bySub.on('publication', (p) => received.push(p.data));
    const s = once(bySub, 'subscribed');
    bySub.subscribe();
    await s;
  });

  after(async () => {
    // The bystander received every publication made while the others misbehaved, in order.
    await until(() => received.length === published, 5000, 'bystander deliveries');
    assert.deepEqual(received, Array.from({ length: published }, (_, i) => ({ n: i })));
    assert.equal(bystander.state, 'connected');
    bystander.disconnect();
    await srv.close();
  });

  const tick = async () => {
    await srv.sb.publish('chat:bystander', { n: published++ });
  };

  test('invalid JSON closes with 3501 bad request', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send('{"connect": nope');
    await tick();
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('an unknown command closes with 3501', async () => {
    const raw = await rawConnected();
    raw.send({ id: 2, frobnicate: {} });
    await tick();
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('a command before connect closes with 3501', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, subscribe: { channel: 'chat:x' } });
    await tick();
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('a second connect closes with 3501', async () => {
    const raw = await rawConnected();
    raw.send({ id: 2, connect: { token: await token({ sub: 'raw' }) } });
    await tick();
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('an empty channel closes with 3501', async () => {
    const raw = await rawConnected();
    raw.send({ id: 2, subscribe: { channel: '' } });
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('a duplicate subscribe gets error 105 and the connection stays', async () => {
    const raw = await rawConnected();
    raw.send({ id: 2, subscribe: { channel: 'chat:dup' } });
    await raw.next((m) => m['id'] === 2 && 'subscribe' in m);
    raw.send({ id: 3, subscribe: { channel: 'chat:dup' } });
    const r = await raw.next((m) => m['id'] === 3);
    assert.deepEqual(r['error'], { code: 105, message: 'already subscribed' });
    await tick();
    raw.send({ id: 4, rpc: { method: 'x' } });
    const r4 = await raw.next((m) => m['id'] === 4);
    assert.equal((r4['error'] as { code: number }).code, 108, 'no RPC handlers on this node: not available');
    raw.close();
  });

  test('a frame over the size limit closes with 1009', async () => {
    const raw = await rawConnected();
    raw.send({ id: 2, publish: { channel: 'chat:x', data: { big: 'x'.repeat(5000) } } });
    await tick();
    await closesWith(raw, 1009);
  });

  test('a binary frame closes with 3506 inappropriate protocol', async () => {
    const raw = await rawConnected();
    raw.ws.send(Buffer.from(JSON.stringify({ id: 2, rpc: { method: 'x' } })), { binary: true });
    await closesWith(raw, Disconnects.inappropriateProtocol.code);
  });

  test('a JWT signed with another key closes with 3500 invalid token', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'x' }, { secret: 'not-the-server-secret' }) } });
    await tick();
    await closesWith(raw, Disconnects.invalidToken.code);
  });

  test('a JWT with alg none closes with 3500', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: new UnsecuredJWT({ sub: 'x' }).encode() } });
    await closesWith(raw, Disconnects.invalidToken.code);
  });

  test('a JWT for another algorithm than the configured key (RS256 against an HMAC secret) closes with 3500', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: jwt } });
    await tick();
    await closesWith(raw, Disconnects.invalidToken.code);
  });

  test('an expired JWT gets error 109 so the SDK fetches a new one', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'x' }, { expiresIn: -10 }) } });
    const r = await raw.next((m) => m['id'] === 1);
    assert.deepEqual(r['error'], { code: 109, message: 'token expired' });
    raw.close();
  });

  test('no token where anonymous connections are not allowed closes with 3501', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: {} });
    await closesWith(raw, Disconnects.badRequest.code);
  });

  test('a command without an id closes with 3501; a pong nobody asked for too', async () => {
    const raw = await rawConnected();
    raw.send({ rpc: { method: 'x' } });
    await closesWith(raw, Disconnects.badRequest.code);
    const raw2 = await rawConnected();
    raw2.send({});
    await closesWith(raw2, Disconnects.badRequest.code);
  });

  test('several commands in one frame are handled in order', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    const t = await token({ sub: 'batch' });
    raw.send(
      [
        JSON.stringify({ connect: { token: t, name: 'js' }, id: 1 }),
        JSON.stringify({ subscribe: { channel: 'chat:batch', flag: 1 }, id: 2 }),
        JSON.stringify({ publish: { channel: 'chat:batch', data: 1 }, id: 3 }),
      ].join('\n'),
    );
    const r1 = await raw.next((m) => m['id'] === 1);
    assert.ok(r1['connect']);
    const r2 = await raw.next((m) => m['id'] === 2);
    assert.deepEqual(r2['subscribe'], {});
    const r3 = await raw.next((m) => m['id'] === 3);
    assert.equal((r3['error'] as { code: number }).code, 103);
    raw.close();
  });
});
