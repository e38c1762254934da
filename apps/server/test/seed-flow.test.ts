// The seed product's flow (Channels.user(id), Channels.org(id), Channels.global(), a backend that
// publishes with the API client) against a server started from `switchboard genconfig`'s config,
// with tokens from `switchboard gentoken`: nothing configured by hand.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Channels, createRealtime, type RealtimeError } from '@switchboard/client';
import { createApiClient, signConnectionToken } from '@switchboard/client/server';
import { once, runCli, sdk, startServerProcess, writeConfig, type ServerProcess } from './helpers.js';

let srv: ServerProcess;
let configFile: string;
let apiKey: string;

before(async () => {
  configFile = join(dirname(writeConfig('{}')), 'generated.json');
  const r = await runCli(['genconfig', '--output', configFile]);
  assert.equal(r.code, 0, r.stderr);
  apiKey = (JSON.parse(readFileSync(configFile, 'utf8')) as { http_api: { key: string } }).http_api.key;
  srv = await startServerProcess(configFile);
}, { timeout: 90_000 });
after(async () => {
  await srv?.stop();
});

async function gentoken(...args: string[]): Promise<string> {
  const r = await runCli(['gentoken', '--config', configFile, '--ttl', '600', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Subscribes with the official SDK and resolves to 'subscribed' or the refusal's error code. */
async function trySubscribe(token: string, channel: string): Promise<'subscribed' | number> {
  const c = sdk(srv.wsUrl, { token });
  try {
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const sub = c.newSubscription(channel);
    const outcome = new Promise<'subscribed' | number>((resolve) => {
      sub.once('subscribed', () => resolve('subscribed'));
      sub.once('error', (ctx: { error: { code: number } }) => resolve(ctx.error.code));
      sub.once('unsubscribed', (ctx: { code: number }) => resolve(ctx.code));
    });
    sub.subscribe();
    return await Promise.race([outcome, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer subscribing to ${channel}`)), 10_000))]);
  } finally {
    c.disconnect();
  }
}

test('user 42 receives the backend publish on trpc:user:42; the API result counts it', { timeout: 90_000 }, async () => {
  const token = await gentoken('--user', '42');
  const realtime = createRealtime({ url: srv.wsUrl, token, minReconnectDelay: 50, maxReconnectDelay: 300 });
  const errors: RealtimeError[] = [];
  realtime.on('error', (e) => errors.push(e));
  try {
    const got = new Promise<unknown>((resolve) => realtime.subscribe(Channels.user(42), (msg) => resolve(msg)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not subscribed in 10 s')), 10_000);
      realtime.on('subscribed', (e) => {
        if (e.channel === Channels.user(42)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const api = createApiClient({ url: `${srv.base}/api`, apiKey });
    const result = await api.publish(Channels.user(42), { type: 'query-invalidation', queryKey: ['notifications'] });
    assert.equal(result.subscribers, 1, 'the publish reached user 42');
    assert.deepEqual(await got, { type: 'query-invalidation', queryKey: ['notifications'] });
    // Nobody listens on user 43's channel: the API says so instead of a bare success.
    assert.equal((await api.publish(Channels.user(43), { type: 'query-invalidation', queryKey: ['x'] })).subscribers, 0);
    assert.deepEqual(errors, []);
  } finally {
    realtime.close();
  }
});

test("user 43 is refused on user 42's channel (103) and may subscribe to its own", { timeout: 90_000 }, async () => {
  assert.equal(await trySubscribe(await gentoken('--user', '43'), Channels.user(42)), 103);
  assert.equal(await trySubscribe(await gentoken('--user', '43'), Channels.user(43)), 'subscribed');
  assert.equal(await trySubscribe(await gentoken('--user', '4'), Channels.user(42)), 103, 'a prefix of the id is not the id');
});

test('org channels follow the token\'s "orgs" claim; trpc:global is open to every user', { timeout: 90_000 }, async () => {
  const member = await gentoken('--user', '42', '--claims', '{"orgs":["7","9"]}');
  assert.equal(await trySubscribe(member, Channels.org(7)), 'subscribed');
  assert.equal(await trySubscribe(member, Channels.org(9)), 'subscribed');
  assert.equal(await trySubscribe(member, Channels.org(8)), 103);
  const single = await gentoken('--user', '50', '--claims', '{"orgs":7}');
  assert.equal(await trySubscribe(single, Channels.org(7)), 'subscribed', 'a single number works as well as a list');
  const outsider = await gentoken('--user', '43');
  assert.equal(await trySubscribe(outsider, Channels.org(7)), 103);
  assert.equal(await trySubscribe(outsider, Channels.global()), 'subscribed');
});

test('gentoken --channel grants one channel explicitly (a caps claim)', { timeout: 90_000 }, async () => {
  const token = await gentoken('--user', 'support', '--channel', Channels.user(42), '--channel', Channels.org(7));
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  assert.deepEqual(payload['caps'], [{ channels: ['trpc:user:42', 'trpc:org:7'], allow: ['sub'] }]);
  assert.equal(await trySubscribe(token, Channels.user(42)), 'subscribed');
  assert.equal(await trySubscribe(token, Channels.org(7)), 'subscribed');
  assert.equal(await trySubscribe(token, Channels.user(43)), 103);
});

test("the seed product's backend mints the org claim with signConnectionToken; its users get their org's publications", { timeout: 90_000 }, async () => {
  const secret = (JSON.parse(readFileSync(configFile, 'utf8')) as { client: { token: { hmac_secret_key: string } } }).client.token.hmac_secret_key;
  // What the app's token endpoint does (the seed's trpc.realtime.getToken).
  const getToken = () => signConnectionToken({ sub: '42', expiresIn: '10m', claims: { orgs: ['7'] } }, secret);
  await assert.rejects(signConnectionToken({ sub: '42', claims: { sub: '43' } }, secret), /claims\.sub is set by its own option/);
  const realtime = createRealtime({ url: srv.wsUrl, getToken, minReconnectDelay: 50, maxReconnectDelay: 300 });
  try {
    const got = new Promise<unknown>((resolve) => realtime.subscribe(Channels.org(7), (msg) => resolve(msg)));
    const api = createApiClient({ url: `${srv.base}/api`, apiKey });
    // Publish until the subscription is live (a bounded wait for the positive event: reached 1).
    const deadline = Date.now() + 10_000;
    let reached = 0;
    while (reached === 0 && Date.now() < deadline) {
      reached = (await api.publish(Channels.org(7), { type: 'query-invalidation', queryKey: ['org', 7] })).subscribers ?? 0;
      if (reached === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(reached, 1);
    assert.deepEqual(await got, { type: 'query-invalidation', queryKey: ['org', 7] });
  } finally {
    realtime.close();
  }
});

test('gentoken refuses bad --claims with a clear message', { timeout: 60_000 }, async () => {
  const notJson = await runCli(['gentoken', '--config', configFile, '--user', '1', '--claims', '{orgs:7}']);
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /--claims must be a JSON object/);
  const sub = await runCli(['gentoken', '--config', configFile, '--user', '1', '--claims', '{"sub":"2"}']);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /must not set "sub": use --user/);
});
