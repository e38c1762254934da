// The example in headless Chromium: the page bundles the official `phoenix` client from npm; two
// tabs (alice on her laptop, bob on his phone) chat and see each other in Presence; a second device
// of alice's shows up under her name and goes away with its tab; a status change is a presence update;
// a tab whose WebSockets are blocked falls back to LongPoll and chats with the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '@switchboard/server/testing';
import { runExample } from '../run-example.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = !existsSync(CHROMIUM);
// Under CI a missing Chromium fails the suite; elsewhere it is skipped with the reason.
const skip = missing && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false;

/** `user → devices` as the page's "Online" list shows it. */
async function who(page: Page): Promise<Record<string, string>> {
  const rows = await page.$$eval('#who li', (els) => els.map((e) => [(e as HTMLElement).dataset['user'] ?? '', e.querySelector('.devices')?.textContent ?? '']));
  return Object.fromEntries(rows);
}

async function until(page: Page, what: string, check: (p: Page) => Promise<boolean>): Promise<void> {
  await waitFor(() => check(page), 20_000, what);
}

const messages = (page: Page) => page.$$eval('#messages li', (els) => els.map((e) => e.textContent ?? ''));

test('phoenix-chat example in Chromium: two tabs chat and see each other (and their devices) in Presence; a third falls back to LongPoll', { skip, timeout: 120_000 }, async () => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const ex = await runExample(fileURLToPath(new URL('./server.ts', import.meta.url)), { SECRET: 'phoenix-chat-example-secret' });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
    const errors: string[] = [];
    const open = async (query: string, blockWebSockets = false): Promise<Page> => {
      const context = await browser!.newContext();
      // A proxy that accepts the upgrade and passes nothing: the client's health check fails and it falls back.
      if (blockWebSockets) await context.routeWebSocket(/\/socket\/websocket/, () => {});
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${ex.port}/?${query}`);
      await page.waitForSelector('#text:not([disabled])', { timeout: 20_000 });
      return page;
    };
    const alice = await open('name=alice&device=laptop');
    const bob = await open('name=bob&device=phone');
    for (const p of [alice, bob]) {
      await until(p, 'both users online', async (x) => JSON.stringify(await who(x)) === JSON.stringify({ alice: 'laptop (online)', bob: 'phone (online)' }));
    }

    // Chat: a message typed in one tab appears in both.
    await alice.fill('#text', 'hello bob');
    await alice.click('#send button');
    await bob.fill('#text', 'hi alice');
    await bob.click('#send button');
    for (const p of [alice, bob]) {
      await until(p, 'both messages', async (x) => (await messages(x)).length === 2);
      assert.deepEqual((await messages(p)).sort(), ['alice: hello bob', 'bob: hi alice']);
    }

    // A second device of alice's: one key, two metas; it leaves with its tab.
    const tablet = await open('name=alice&device=tablet');
    await until(bob, "alice's two devices", async (x) => (await who(x))['alice'] === 'laptop (online), tablet (online)');
    await tablet.context().close();
    await until(bob, 'the tablet gone', async (x) => (await who(x))['alice'] === 'laptop (online)');

    // A status change is a presence update (leave+join of bob's meta): still one device, new status.
    await bob.selectOption('#status', 'away');
    await until(alice, "bob's new status", async (x) => (await who(x))['bob'] === 'phone (away)');

    // A tab whose WebSockets are blocked falls back to LongPoll by itself and chats like the others.
    const carol = await open('name=carol&device=kiosk', true);
    assert.equal(await carol.textContent('#transport'), 'longpoll');
    assert.equal(await alice.textContent('#transport'), 'websocket');
    await until(bob, 'carol online', async (x) => (await who(x))['carol'] === 'kiosk (online)');
    await until(carol, 'carol sees everyone', async (x) => Object.keys(await who(x)).sort().join() === 'alice,bob,carol');
    await carol.fill('#text', 'polling in');
    await carol.click('#send button');
    await alice.fill('#text', 'welcome carol');
    await alice.click('#send button');
    for (const p of [alice, bob, carol]) await until(p, 'both new messages', async (x) => (await messages(x)).filter((m) => m === 'carol: polling in' || m === 'alice: welcome carol').length === 2);

    // A refused push shows its reason.
    await alice.fill('#text', ' ');
    await alice.click('#send button');
    await until(alice, 'the error reason', async (x) => (await x.textContent('#error')) === 'text must be 1..2000 characters');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    await ex.stop();
  }
});
