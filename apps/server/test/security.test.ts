// The standalone server's secrets: the API key and the admin password are checked in constant time
// (sha256 + timingSafeEqual in http-api.ts / admin.ts) and every wrong one is refused the same way;
// no secret, key, password or token ever reaches the logs (debug level, every path exercised);
// a connection that never finishes its request headers is answered 408 and closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, API_KEY, SECRET, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';

test('standalone: wrong API keys and admin passwords are all refused alike; no secret or token is ever logged', { timeout: 120_000 }, async () => {
  const srv = await startServerProcess(writeConfig(testConfig()));
  const tokens: string[] = [];
  try {
    const publish = (headers: Record<string, string>, query = '') =>
      fetch(`${srv.base}/api/publish${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ channel: 'chat:x', data: { a: 1 } }) });
    const wrongKeys = ['', 'x', API_KEY.slice(0, -1), API_KEY + 'x', API_KEY.toUpperCase(), 'y'.repeat(API_KEY.length), 'z'.repeat(4096)];
    for (const k of wrongKeys) {
      for (const r of [await publish({ 'x-api-key': k }), await publish({ authorization: `apikey ${k}` }), await publish({}, `?api_key=${encodeURIComponent(k)}`)]) {
        assert.equal(r.status, 401, `key ${JSON.stringify(k.slice(0, 20))} refused`);
        await r.arrayBuffer(); // an empty 401, as Centrifugo answers
      }
    }
    assert.equal((await publish({ 'x-api-key': API_KEY })).status, 200);
    assert.equal((await publish({ authorization: `apikey ${API_KEY}` })).status, 200);
    const byQuery = await publish({}, `?api_key=${encodeURIComponent(API_KEY)}`);
    assert.equal(byQuery.status, 200, 'the key in ?api_key= is accepted');
    assert.equal(((await byQuery.json()) as { result?: unknown }).result !== undefined, true);

    // A request whose URL does not parse fails in the handlers: 400, and the log line that says so
    // carries the URL with its query credentials redacted.
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(srv.port, '127.0.0.1', () =>
        s.write(`GET http://[bad/?api_key=${API_KEY}&token=${SECRET}&room=lobby HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    await until(() => srv.logs.some((l) => l['msg'] === 'malformed request URL'), 5000, 'the malformed URL to be logged');
    const line = srv.logs.find((l) => l['msg'] === 'malformed request URL')!;
    assert.equal(line['url'], 'http://[bad/?api_key=[redacted]&token=[redacted]&room=lobby');

    const login = (password: unknown) => fetch(`${srv.base}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
    for (const p of ['', 'wrong', ADMIN_PASSWORD.slice(0, -1), ADMIN_PASSWORD + ' ', 1234]) assert.equal((await login(p)).status, 401);
    assert.equal((await login(ADMIN_PASSWORD)).status, 200);

    // Tokens: good, forged, expired, on every protocol path the config enables.
    const good = await signToken('alice');
    const forged = await signToken('mallory', { nothing: 1 }).then((t) => t.slice(0, -4) + 'AAAA');
    tokens.push(good, forged);
    const closesBefore = srv.logs.filter((l) => l['msg'] === 'disconnect').length;
    for (const tok of [good, forged]) {
      const ws = new WebSocket(srv.wsUrl);
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ id: 1, connect: { token: tok } }));
      await new Promise((r) => {
        ws.once('message', r);
        ws.once('close', r);
      });
      ws.terminate();
    }
    // Both connections' closes are logged (the last lines this traffic produces) before the server stops.
    await until(() => srv.logs.filter((l) => l['msg'] === 'disconnect').length >= closesBefore + 2, 5000, 'the two closes to be logged');
  } finally {
    await srv.stop();
  }
  const out = srv.output();
  assert.ok(out.length > 0 && srv.logs.length > 5, 'the server logged the traffic');
  for (const [what, secret] of [
    ['API key', API_KEY],
    ['admin password', ADMIN_PASSWORD],
    ['HMAC secret', SECRET],
    ['admin cookie secret', 'admin-cookie-signing-secret-xyz'],
    ...tokens.flatMap((t, i) => [[`token ${i}`, t], [`token ${i} signature`, t.split('.')[2]!]] as [string, string][]),
  ] as [string, string][]) {
    assert.ok(!out.includes(secret), `the ${what} never appears in the logs`);
  }
});

test('standalone: a connection that never finishes its request headers gets 408 and is closed', { timeout: 60_000 }, async () => {
  const srv = await startServerProcess(writeConfig(testConfig()));
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(srv.port, '127.0.0.1', () => s.write('GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', reject);
      setTimeout(() => reject(new Error('still open after 25 s')), 25_000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 408/);
  } finally {
    await srv.stop();
  }
});
