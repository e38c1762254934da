/** Issue 24, item 6: the messages a new user meets when something is wrong say where and what to do. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify } from 'jose';
import { ConfigError, finish, loadConfig } from '../src/config.js';
import { jsonErrorAt } from '../src/json-error.js';
import { runCli, testConfig, writeConfig } from './helpers.js';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

test('a JSON config error gives the line and the column, not a character position', () => {
  const text = '{\n  "http_api": { "key": "k" },\n  "client": { "insecure": true }\n  "log": { "level": "info" }\n}\n';
  assert.throws(() => JSON.parse(text));
  const message = refusal(() => loadConfig(writeConfig(text), {}));
  assert.match(message, /^\(file\): .*config\.json is not valid JSON: line 4, column 3: expected ',' or '}' after a value, found "\\""$/);
  assert.doesNotMatch(message, /position/);
  // The usual slips, each pointed at where it is.
  const cases: [string, string][] = [
    ['{ "a": 1, }', "line 1, column 11: a comma before '}' (JSON allows no trailing comma)"],
    ['{\n  "a": [1, 2,]\n}', "line 2, column 14: a comma before ']' (JSON allows no trailing comma)"],
    ['{\n  a: 1\n}', 'line 2, column 3: expected a key in double quotes, found "a"'],
    ['{ "a": tru }', 'line 1, column 8: expected a value, found "t"'],
    ['{ "client": ', 'line 1, column 13: unexpected end of the file: something is not closed'],
    ['{ "a": "x\ny" }', 'line 1, column 10: a control character (such as a line break) inside a string: write it escaped'],
    ['{ "a" 1 }', `line 1, column 7: expected ':' after a key, found "1"`],
    ['{} {}', 'line 1, column 4: unexpected "{" after the end of the JSON value'],
    ['', 'line 1, column 1: unexpected end of the file: something is not closed'],
  ];
  for (const [bad, expected] of cases) {
    assert.throws(() => JSON.parse(bad));
    assert.equal(jsonErrorAt(bad), expected, JSON.stringify(bad));
  }
});

test('the port hint gives the range and a sensible example, whether the value is too big or not a number', () => {
  const base = testConfig();
  const tooBig = refusal(() => finish({ ...base, http_server: { port: 70000 } }, {}));
  assert.equal(tooBig, 'http_server.port: expected an integer from 0 to 65535, got number 70000; write e.g. 8000');
  const text = refusal(() => finish({ ...base, http_server: { port: '8080' } }, {}));
  assert.equal(text, 'http_server.port: expected an integer from 0 to 65535, got string "8080"; write e.g. 8000');
  const fromEnv = refusal(() => finish(base, { SWITCHBOARD_HTTP_SERVER_PORT: '99999' }));
  assert.equal(fromEnv, 'http_server.port: expected an integer from 0 to 65535, got number 99999; write e.g. 8000');
  for (const m of [tooBig, text, fromEnv]) assert.doesNotMatch(m, /e\.g\. 100\b/);
});

test('gentoken without --config asks for the token secret only, and signs with it from the environment', { timeout: 90_000 }, async () => {
  const missing = await runCli(['gentoken', '--user', '42']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /token secret/);
  assert.match(missing.stderr, /--config FILE/);
  assert.match(missing.stderr, /SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY/);
  assert.doesNotMatch(missing.stderr, /http_api|admin/);

  const secret = 'gentoken-env-secret-0123456789abcdef';
  const ok = await runCli(['gentoken', '--user', '42', '--ttl', '60'], { SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY: secret });
  assert.equal(ok.code, 0, ok.stderr);
  const { payload } = await jwtVerify(ok.stdout.trim(), new TextEncoder().encode(secret));
  assert.equal(payload.sub, '42');

  // With a file that has the secret but no API key (a client-side config), gentoken still signs.
  const file = writeConfig({ client: { token: { hmac_secret_key: secret } } });
  const fromFile = await runCli(['gentoken', '--config', file, '--user', '7']);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal((await jwtVerify(fromFile.stdout.trim(), new TextEncoder().encode(secret))).payload.sub, '7');
  // A file that is broken in shape is still refused, naming the key.
  const broken = await runCli(['gentoken', '--config', writeConfig({ client: { tokn: {} } }), '--user', '7']);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /client\.tokn: unknown key \(did you mean "token"\?\)/);
});

test('a port in use: the message says so and how to choose another (--port, the key, the variable)', { timeout: 90_000 }, async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  try {
    const port = (blocker.address() as { port: number }).port;
    const busy = await runCli(['serve', '--config', writeConfig(testConfig()), '--address', '127.0.0.1', '--port', String(port)]);
    assert.equal(busy.code, 1);
    const line = busy.stdout.split('\n').find((l) => l.includes('cannot start'));
    assert.ok(line, busy.stdout);
    const msg = (JSON.parse(line) as { msg: string }).msg;
    assert.match(msg, new RegExp(`^cannot start: listen EADDRINUSE: .*:${port}: port ${port} is used by another process; stop it, or choose another with --port N \\(or http_server\\.port in the config, or SWITCHBOARD_HTTP_SERVER_PORT\\)$`));
  } finally {
    blocker.close();
  }
});
