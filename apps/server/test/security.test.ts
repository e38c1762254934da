// The standalone server's secrets: the API key and the admin password are checked in constant time
// (sha256 + timingSafeEqual in http-api.ts / admin.ts) and every wrong one is refused the same way;
// no secret, key, password or token ever reaches the logs (debug level, every path exercised);
// a connection that never finishes its request headers is answered 408 and closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, API_KEY, SECRET, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';
import { redactUrl } from '../src/util.js';

// The function behind both log lines of a failed request (the 400 "malformed request URL" above is
// exercised end to end; the 500 "http handler failed" branch logs through the same call).
test('redactUrl: credential-like query values are redacted, whatever their spelling; the rest is kept', () => {
  const cases: [string | undefined, string][] = [
    [undefined, ''],
    ['/api/publish', '/api/publish'],
    ['/api/publish?room=lobby&n=2', '/api/publish?room=lobby&n=2'],
    ['/api/publish?api_key=K1&room=lobby', '/api/publish?api_key=[redacted]&room=lobby'],
    ['/connection/websocket?token=T1&cf_ws_frame_ping_pong=true', '/connection/websocket?token=[redacted]&cf_ws_frame_ping_pong=true'],
    // percent-encoded and form-encoded names are decoded before the check
    ['/x?api%5Fkey=K2', '/x?api%5Fkey=[redacted]'],
    ['/x?%74oken=T2', '/x?%74oken=[redacted]'],
    ['/x?admin+password=P1', '/x?admin+password=[redacted]'],
    // a name that does not decode is checked as it is
    ['/x?api_key%ZZ=K3', '/x?api_key%ZZ=[redacted]'],
    // the other credential-like names, any case; values holding "=", empty values
    ['/x?Authorization=A1&SESSION=S1&cookie=C1&sig=G1&client_secret=Z1', '/x?Authorization=[redacted]&SESSION=[redacted]&cookie=[redacted]&sig=[redacted]&client_secret=[redacted]'],
    ['/x?token=a=b=c&api_key=', '/x?token=[redacted]&api_key=[redacted]'],
    // a bare name has no value to hide; the fragment is kept
    ['/x?token&room=1#part', '/x?token&room=1#part'],
    ['/x?token=T3#frag', '/x?token=[redacted]#frag'],
    // a target that does not parse as a URL (the 400 branch) is redacted as text
    ['http://[bad/?api_key=K4&token=T4&room=lobby', 'http://[bad/?api_key=[redacted]&token=[redacted]&room=lobby'],
  ];
  for (const [url, expected] of cases) assert.equal(redactUrl(url), expected, String(url));
  const secrets = ['K1', 'K2', 'K3', 'K4', 'T1', 'T2', 'T3', 'T4', 'P1', 'A1', 'S1', 'C1', 'G1', 'Z1', 'a=b=c'];
  for (const [url] of cases) for (const secret of secrets) assert.ok(!redactUrl(url).includes(secret), `${secret} left in ${redactUrl(url)}`);
});

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
