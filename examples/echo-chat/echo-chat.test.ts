// The Echo chat example in headless Chromium: the standalone server started from the example's own
// config, the example's app backend (auth endpoint, toOthers() messages), and two browsers running
// Laravel Echo and pusher-js as published on npm: here/joining/leaving, typing whispers, messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launch, pageErrors, skipBrowser as skip, until } from '../../packages/client/test/browser/harness.js';
import { startServerProcess } from '../../apps/server/test/helpers.js';
import { runExample } from '../run-example.js';

const who = (p: Page) => p.$$eval('#who li', (els) => els.map((e) => e.textContent ?? '').sort());
const log = (p: Page) => p.$$eval('#log li', (els) => els.map((e) => e.textContent ?? ''));

async function join(p: Page, base: string, name: string): Promise<void> {
  await p.goto(`${base}/`);
  await p.fill('#name', name);
  await p.click('#joinForm button');
  await p.waitForSelector('#text:not([disabled])', { timeout: 20_000 });
}

test('Echo chat example: two browsers see each other in here/joining/leaving, typing whispers and messages (toOthers)', { skip, timeout: 120_000 }, async () => {
  const server = await startServerProcess(fileURLToPath(new URL('./switchboard.json', import.meta.url)));
  const app = await runExample(fileURLToPath(new URL('./app.ts', import.meta.url)), { SWITCHBOARD_PORT: String(server.port) });
  const base = `http://127.0.0.1:${app.port}`;
  const browser = await launch();
  try {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors = [pageErrors(alice), pageErrors(bob)];

    // here(): Alice alone; Bob joins and sees both; Alice is told by joining().
    await join(alice, base, 'Alice');
    assert.deepEqual(await who(alice), ['Alice (you)']);
    await join(bob, base, 'Bob');
    assert.deepEqual(await who(bob), ['Alice', 'Bob (you)']);
    await until(async () => (await who(alice)).length === 2, 'Alice sees Bob in the list');
    assert.deepEqual(await who(alice), ['Alice (you)', 'Bob']);
    assert.ok((await log(alice)).includes('Bob joined'));

    // A typing whisper (client event) reaches Bob, never Alice herself.
    await alice.fill('#text', 'Hi B');
    await alice.type('#text', 'o');
    await until(async () => (await bob.textContent('#typing')) === 'Alice is typing…', 'Bob sees Alice typing');
    assert.equal(await alice.textContent('#typing'), '');

    // A message goes through the app backend (toOthers): Bob gets it by Echo, Alice shows her own once.
    await alice.fill('#text', 'Hi Bob');
    await alice.click('#sendBtn');
    await until(async () => (await log(bob)).includes('Alice: Hi Bob'), 'Bob gets the message');
    assert.equal(await bob.textContent('#typing'), '', 'the message clears the typing line');
    await bob.fill('#text', 'Hello Alice');
    await bob.click('#sendBtn');
    await until(async () => (await log(alice)).includes('Bob: Hello Alice'), 'Alice gets the reply');
    // a sender's own line is written when the app backend's answer is in, which can come after the
    // other browser already has the message by Echo
    await until(async () => (await log(alice)).includes('Alice: Hi Bob'), 'Alice shows her own message');
    await until(async () => (await log(bob)).includes('Bob: Hello Alice'), 'Bob shows his own message');
    assert.deepEqual((await log(alice)).filter((l) => l.startsWith('Alice:') || l.startsWith('Bob:')), ['Alice: Hi Bob', 'Bob: Hello Alice']);
    assert.deepEqual((await log(bob)).filter((l) => l.startsWith('Alice:') || l.startsWith('Bob:')), ['Alice: Hi Bob', 'Bob: Hello Alice']);

    // leaving(): Bob closes his tab; Alice sees him go.
    await bob.close();
    await until(async () => (await log(alice)).includes('Bob left'), 'Alice sees Bob leave');
    assert.deepEqual(await who(alice), ['Alice (you)']);
    assert.deepEqual(errors.flat(), []);
  } finally {
    await browser.close();
    await app.stop();
    await server.stop();
  }
});
