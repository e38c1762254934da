// The server entry against the standalone server (the CLI as a child process): every API client
// method, typed errors (a wrong key is a typed 401), and tokens from signConnectionToken.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { jwtVerify, decodeJwt } from 'jose';
import { startServerProcess, testConfig, writeConfig, until, SECRET, API_KEY, type ServerProcess } from '../../../apps/server/test/helpers.js';
import { createApiClient, ApiError, ApiErrorCodes, signConnectionToken, signSubscriptionToken, Channels } from '@switchboard/client/server';
import { createRealtime, type Realtime, type RealtimeError } from '@switchboard/client';

let srv: ServerProcess;

before(async () => {
  srv = await startServerProcess(
    writeConfig(
      testConfig({
        channel: {
          namespaces: [
            { name: 'chat', presence: true, history_size: 50, history_ttl: '300s', force_recovery: true, allow_subscribe_for_client: true },
            { name: 'trpc', presence: true, history_size: 10, history_ttl: '300s', force_recovery: true, allow_subscribe_for_client: true },
          ],
        },
      }),
    ),
  );
});
after(async () => {
  await srv?.stop();
});

function client(user: string): { rt: Realtime; errors: RealtimeError[] } {
  const rt = createRealtime({ url: srv.wsUrl, getToken: () => signConnectionToken({ sub: user, expiresIn: 600, info: { name: `user ${user}` } }, SECRET), minReconnectDelay: 50, maxReconnectDelay: 300 });
  const errors: RealtimeError[] = [];
  rt.on('error', (e) => errors.push(e));
  return { rt, errors };
}

test('every API client method against the standalone server', async () => {
  const api = createApiClient({ url: `${srv.base}/api`, apiKey: API_KEY });
  const { rt, errors } = client('42');
  try {
    const got: unknown[] = [];
    rt.subscribe('chat:api', (m) => got.push(m));
    rt.subscribe(Channels.user(42), (m) => got.push(m));
    await until(async () => (await api.presenceStats('chat:api')).numClients === 1, 10_000, 'subscribed');

    // publish: offset/epoch from the channel's history, delivered to the SDK
    const p1 = await api.publish('chat:api', { n: 1 });
    assert.equal(p1.offset, 1);
    assert.equal(typeof p1.epoch, 'string');
    assert.equal(p1.subscribers, 1, 'one node: the result says how many subscribers it reached');
    await until(() => got.length === 1, 5000, 'publication');
    assert.deepEqual(got[0], { n: 1 });

    // broadcast: one response per channel, errors as values
    const b = await api.broadcast(['chat:api', 'trpc:user:42', 'nonamespace:x'], { n: 2 });
    assert.equal(b.length, 3);
    assert.equal(b[0]!.result?.offset, 2);
    assert.equal(b[1]!.result?.offset, 1);
    assert.equal(b[2]!.error?.code, ApiErrorCodes.unknownChannel);
    await until(() => got.length === 3, 5000, 'broadcast delivered');

    // presence / presence stats
    const presence = await api.presence('chat:api');
    const entries = Object.values(presence);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.user, '42');
    assert.deepEqual(entries[0]!.connInfo, { name: 'user 42' });
    assert.deepEqual(await api.presenceStats('chat:api'), { numClients: 1, numUsers: 1 });

    // history (and history_remove)
    const h = await api.history('chat:api', { limit: 10 });
    assert.deepEqual(
      h.publications.map((x) => [x.offset, x.data]),
      [
        [1, { n: 1 }],
        [2, { n: 2 }],
      ],
    );
    assert.equal(h.offset, 2);
    assert.equal(h.epoch, p1.epoch);
    const reversed = await api.history('chat:api', { limit: 1, reverse: true });
    assert.deepEqual(reversed.publications.map((x) => x.offset), [2]);
    const since = await api.history('chat:api', { limit: 10, since: { offset: 1, epoch: p1.epoch! } });
    assert.deepEqual(since.publications.map((x) => x.offset), [2]);
    await assert.rejects(api.history('chat:api', { limit: 10, since: { offset: 1, epoch: 'wrong-epoch' } }), (e: unknown) => e instanceof ApiError && e.code === ApiErrorCodes.unrecoverablePosition);
    await api.historyRemove('chat:api');
    assert.deepEqual((await api.history('chat:api', { limit: 10 })).publications, []);

    // channels and info
    const channels = await api.channels();
    assert.deepEqual(channels['chat:api'], { numClients: 1 });
    assert.deepEqual(Object.keys(await api.channels('trpc:*')), ['trpc:user:42']);
    const info = await api.info();
    assert.equal(info.nodes.length, 1);
    assert.equal(info.nodes[0]!.numClients, 1);
    assert.ok(info.nodes[0]!.numSubs >= 2);

    // server-side subscribe / unsubscribe of the user's connections
    await api.subscribe({ user: '42', channel: 'chat:server-side' });
    await until(async () => (await api.presenceStats('chat:server-side')).numClients === 1, 5000, 'server-side subscription');
    await api.unsubscribe({ user: '42', channel: 'chat:server-side' });
    await until(async () => (await api.presenceStats('chat:server-side')).numClients === 0, 5000, 'server-side unsubscribe');

    // refresh (server-side connection refresh) answers {}
    await api.refresh({ user: '42', expireAt: Math.floor(Date.now() / 1000) + 3600 });

    // rpc: an unknown method is a typed 104
    await assert.rejects(api.rpc('no-such-method', {}), (e: unknown) => e instanceof ApiError && e.kind === 'api' && e.code === ApiErrorCodes.notFound);

    // bad input: typed 107 / 102
    await assert.rejects(api.publish('', {}), (e: unknown) => e instanceof ApiError && e.code === ApiErrorCodes.badRequest);
    await assert.rejects(api.publish('nonamespace:x', {}), (e: unknown) => e instanceof ApiError && e.code === ApiErrorCodes.unknownChannel);

    // disconnect: the user's connection is closed with the default terminal code
    // The type argument keeps `errors` a RealtimeError[]: inferred from [] the assertion would narrow it to never[].
    assert.deepEqual<RealtimeError[]>(errors, []);
    await api.disconnect({ user: '42' });
    await until(() => rt.getState() === 'disconnected', 5000, 'disconnected by the API');
    assert.equal(errors.at(-1)?.kind, 'disconnected');
    assert.equal(errors.at(-1)?.code, 3503);
    await until(async () => (await api.info()).nodes[0]!.numClients === 0, 5000, 'no clients left');
  } finally {
    rt.close();
  }
});

test('a wrong or missing API key is a typed 401 error; no server is a typed network error', async () => {
  for (const apiKey of ['wrong-key', undefined]) {
    const api = createApiClient({ url: `${srv.base}/api`, ...(apiKey ? { apiKey } : {}) });
    const err = await api.publish('chat:x', 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiError, 'an ApiError');
    assert.equal(err.kind, 'unauthorized');
    assert.equal(err.code, 401);
    assert.equal(err.status, 401);
    assert.equal(err.method, 'publish');
  }
  const nowhere = createApiClient({ url: 'http://127.0.0.1:1/api', apiKey: 'k', timeoutMs: 3000 });
  await assert.rejects(nowhere.info(), (e: unknown) => e instanceof ApiError && e.kind === 'network' && e.code === 0);
  const notFound = createApiClient({ url: `${srv.base}/not-the-api`, apiKey: API_KEY });
  await assert.rejects(notFound.info(), (e: unknown) => e instanceof ApiError && (e.kind === 'http' || e.kind === 'api') && e.status === 404 && e.code === 404);
});

test('signConnectionToken: HS256 tokens the standalone server accepts; RS256/ES256 with keys; expiry and claims', async () => {
  const token = await signConnectionToken({ sub: '7', expiresIn: 60, info: { a: 1 }, channels: ['chat:auto'] }, SECRET);
  const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET));
  assert.equal(protectedHeader.alg, 'HS256');
  assert.equal(payload.sub, '7');
  assert.deepEqual(payload.info, { a: 1 });
  assert.deepEqual(payload.channels, ['chat:auto']);
  assert.ok(payload.exp! - payload.iat! === 60);
  // The server takes it, including the server-side subscription from `channels`.
  const api = createApiClient({ url: `${srv.base}/api`, apiKey: API_KEY });
  const rt = createRealtime({ url: srv.wsUrl, token, minReconnectDelay: 50 });
  try {
    await rt.ready(5000);
    await until(async () => (await api.presenceStats('chat:auto')).numClients === 1, 5000, 'server-side channel from the token');
  } finally {
    rt.close();
  }

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rs = await signConnectionToken({ sub: '1', expiresIn: '1h' }, rsa.privateKey);
  assert.equal((await jwtVerify(rs, rsa.publicKey)).protectedHeader.alg, 'RS256');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const es = await signConnectionToken({ sub: '1' }, ec.privateKey);
  assert.equal((await jwtVerify(es, ec.publicKey)).protectedHeader.alg, 'ES256');
  assert.equal(decodeJwt(es).exp, undefined, 'no expiresIn: no exp');

  const sub = await signSubscriptionToken({ sub: '1', channel: '$private:x', client: 'c1', expiresIn: 30 }, SECRET);
  assert.deepEqual(
    (({ sub: s, channel, client }) => ({ s, channel, client }))(decodeJwt(sub) as Record<string, unknown>),
    { s: '1', channel: '$private:x', client: 'c1' },
  );
  await assert.rejects(signConnectionToken({ sub: '1' }, ''), TypeError);
  await assert.rejects(signSubscriptionToken({ sub: '1', channel: '' }, SECRET), TypeError);
  await assert.rejects(signConnectionToken({ sub: '1', expiresIn: -5 }, SECRET), TypeError);
});
