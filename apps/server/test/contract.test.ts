// `switchboard serve --contract FILE`: the standalone server refuses API publications that do not
// match the contract (error 107 with the issues) and refuses to start with a file that is not one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { API_KEY, runCli, startServerProcess, testConfig, writeConfig } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test('serve --contract: API publications are validated, the issues come back with error 107', { timeout: 90_000 }, async () => {
  const srv = await startServerProcess(writeConfig(testConfig()), {}, ['--contract', fixture('contract.mjs')]);
  try {
    const publish = async (channel: string, data: unknown) => {
      const res = await fetch(`${srv.base}/api/publish`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: JSON.stringify({ channel, data }) });
      return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
    };
    const bad = await publish('chat:lobby', { text: '' });
    assert.equal(bad.error?.code, 107);
    assert.match(bad.error.message, /chat:lobby does not match the contract for "chat:\*": text: /);
    assert.deepEqual((await publish('chat:lobby', { text: 'hello' })).error, undefined);
    assert.ok(srv.logs.some((l) => l['msg'] === 'channel contract loaded: publications on its channels are validated'));
  } finally {
    await srv.stop();
  }
});

test('serve --contract with a module that is not a contract, or no module: exit code 2 with the reason', { timeout: 60_000 }, async () => {
  const notOne = await runCli(['serve', '--port', '0', '--contract', fixture('not-a-contract.mjs')]);
  assert.equal(notOne.code, 2);
  assert.match(notOne.stderr, /"chat:\*" does not implement Standard Schema v1/);
  const missing = await runCli(['serve', '--port', '0', '--contract', fixture('nope.mjs')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot load the module/);
});
