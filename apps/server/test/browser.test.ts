/**
 * The demo chat and the admin page in headless Chromium (Debian's, driven by playwright-core).
 * With UPDATE_SCREENSHOTS=1 it saves docs/screenshots/demo.png and admin.png for the README.
 */
import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SubscriptionState } from 'centrifuge';
import { WebhookBackend } from '../../../packages/server/test/webhook-backend.js';
import { ADMIN_PASSWORD, ROOT, sdk, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = !existsSync(CHROMIUM);
// In CI a missing browser is a failure, never a skip.
const skip = missing && process.env['CI'] !== 'true' ? `Chromium not found at ${CHROMIUM}` : false;

async function join_(page: Page, base: string, name: string): Promise<void> {
  await page.goto(base + '/');
  await page.fill('#name', name);
  await page.click('#joinForm button');
  await page.waitForSelector('#text:not([disabled])', { timeout: 15_000 });
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#sendBtn');
}

const names = (page: Page) => page.$$eval('#who li .name', (els) => els.map((e) => (e.textContent ?? '').replace(' (you)', '')).sort());

test('demo chat in two pages and the admin page, in headless Chromium', { skip, timeout: 120_000 }, async () => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const srv = await startServerProcess(writeConfig(testConfig()));
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
    const ctxA = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const ctxB = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const alice = await ctxA.newPage();
    const bob = await ctxB.newPage();
    const errors: string[] = [];
    for (const p of [alice, bob]) p.on('pageerror', (e) => errors.push(e.message));

    await join_(alice, srv.base, 'Alice');
    await join_(bob, srv.base, 'Bob');

    // Each page sees both people in presence.
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => document.querySelectorAll('#who li').length === 2, undefined, { timeout: 15_000 });
      assert.deepEqual(await names(p), ['Alice', 'Bob']);
    }

    // Messages go both ways.
    await say(alice, 'Hi Bob, this is Alice');
    await bob.waitForFunction(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'Hi Bob, this is Alice'), undefined, { timeout: 15_000 });
    await say(bob, 'Hello Alice! Bob here');
    await alice.waitForFunction(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'Hello Alice! Bob here'), undefined, { timeout: 15_000 });
    assert.equal(await alice.$eval('.msg.me .text', (e) => e.textContent), 'Hi Bob, this is Alice');

    // The admin page: login, the channel with its two subscribers, presence, publish.
    const ctxAdmin = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const admin = await ctxAdmin.newPage();
    admin.on('pageerror', (e) => errors.push(e.message));
    await admin.goto(srv.base + '/admin');
    await admin.waitForSelector('#login:not([hidden])', { timeout: 15_000 });
    await admin.fill('#password', 'not the password');
    await admin.click('#loginForm button');
    await admin.waitForFunction(() => document.getElementById('loginError')?.textContent === 'wrong password', undefined, { timeout: 10_000 });
    await admin.fill('#password', ADMIN_PASSWORD);
    await admin.click('#loginForm button');
    await admin.waitForSelector('#app:not([hidden])', { timeout: 15_000 });
    const row = admin.locator('#channels tr[data-channel="chat:lobby"]');
    await row.waitFor({ timeout: 15_000 });
    await admin.waitForFunction(() => document.querySelector('#channels tr[data-channel="chat:lobby"] .subs')?.textContent === '2', undefined, { timeout: 15_000 });
    await row.click();
    await admin.waitForFunction(() => document.querySelectorAll('#presence tr').length === 2, undefined, { timeout: 15_000 });
    const presence = await admin.$$eval('#presence tr td:nth-child(3)', (els) => els.map((e) => JSON.parse(e.textContent ?? '{}').name).sort());
    assert.deepEqual(presence, ['Alice', 'Bob']);
    await admin.waitForFunction(() => document.querySelectorAll('#history tr').length >= 2, undefined, { timeout: 15_000 });

    await admin.fill('#pubChannel', 'chat:lobby');
    await admin.fill('#pubData', '{"name":"Admin","text":"Hello from the admin page"}');
    await admin.click('#pubBtn');
    await admin.waitForFunction(() => /published/.test(document.getElementById('pubResult')?.textContent ?? ''), undefined, { timeout: 15_000 });
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'Hello from the admin page'), undefined, { timeout: 15_000 });
    }
    // Some chat traffic, so the rate chart has something to show in the screenshot.
    for (let i = 0; i < 6; i++) {
      await say(i % 2 ? bob : alice, ['How is the weather?', 'Sunny here', 'Raining again', 'Typical', 'Lunch?', 'Sure, 12:30'][i]!);
      await new Promise((r) => setTimeout(r, 250));
    }
    await alice.waitForFunction(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'Sure, 12:30'), undefined, { timeout: 15_000 });
    await admin.waitForFunction('samples.some((s) => s.deliv > 0) && document.querySelectorAll("#chart polyline").length === 3', undefined, { timeout: 15_000 });
    assert.deepEqual(errors, []);

    // The README's screenshots are refreshed on demand (UPDATE_SCREENSHOTS=1), so that test runs do
    // not rewrite binary files in everyone's worktree; otherwise they go to a temporary directory.
    const dir = process.env['UPDATE_SCREENSHOTS'] === '1' ? join(ROOT, 'docs/screenshots') : mkdtempSync(join(tmpdir(), 'switchboard-screenshots-'));
    mkdirSync(dir, { recursive: true });
    await alice.screenshot({ path: join(dir, 'demo.png') });
    await admin.screenshot({ path: join(dir, 'admin.png'), fullPage: true });
    assert.ok(statSync(join(dir, 'demo.png')).size > 10_000 && statSync(join(dir, 'admin.png')).size > 10_000);
  } finally {
    await browser?.close();
    await srv.stop();
  }
});

test('zero config (the README quick start): the demo chat works in development mode', { skip, timeout: 90_000 }, async () => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const srv = await startServerProcess(undefined);
  let browser: Browser | undefined;
  try {
    assert.ok(srv.logs.some((l) => /DEVELOPMENT MODE/.test(String(l['msg']))), 'development mode is announced');
    assert.ok(srv.logs.some((l) => l['level'] === 40 && /client\.insecure is ON/.test(String(l['msg']))), 'insecure mode is a warning');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
    const page = await (await browser.newContext()).newPage();
    await join_(page, srv.base, 'Solo');
    await page.waitForFunction(() => document.querySelectorAll('#who li').length === 1, undefined, { timeout: 15_000 });
    await say(page, 'talking to myself');
    await page.waitForFunction(() => [...document.querySelectorAll('.msg.me .text')].some((e) => e.textContent === 'talking to myself'), undefined, { timeout: 15_000 });
    // Development mode needs no API key.
    const r = await fetch(`${srv.base}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'chat:lobby', data: { name: 'curl', text: 'from curl' } }) });
    assert.equal(r.status, 200);
    await page.waitForFunction(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'from curl'), undefined, { timeout: 15_000 });
  } finally {
    await browser?.close();
    await srv.stop();
  }
});

test("the admin page's webhook and cluster sections in headless Chromium: dead letters and their redelivery, user status, connection search, revoke", { skip, timeout: 120_000 }, async (t) => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const HOOK_SECRET = 'browser-webhook-secret-0123456';
  const backend = await new WebhookBackend(HOOK_SECRET).listen();
  t.after(() => backend.close());
  backend.mode = 400; // refused, one attempt: the connect becomes a dead letter
  const srv = await startServerProcess(
    writeConfig(testConfig({ webhooks: [{ url: backend.url, secret: HOOK_SECRET, name: 'refusing', events: ['connect'], max_attempts: 1 }], user_status: { enabled: true } })),
  );
  t.after(() => srv.stop());
  const c = sdk(srv.wsUrl, { token: await signToken('webuser', { jti: 'browser-jti' }) });
  t.after(() => c.disconnect());
  const disconnected = new Promise<number>((resolve) => c.on('disconnected', (ctx) => resolve(ctx.code)));
  c.connect();
  const sub = c.newSubscription('chat:admin-hooks');
  sub.subscribe();
  await until(() => sub.state === SubscriptionState.Subscribed, 10_000, 'subscribed');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
  t.after(() => browser.close());
  const admin = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const errors: string[] = [];
  admin.on('pageerror', (e) => errors.push(e.message));
  admin.on('dialog', (d) => void d.accept()); // the revoke confirmation
  await admin.goto(srv.base + '/admin');
  await admin.waitForSelector('#login:not([hidden])', { timeout: 15_000 });
  await admin.fill('#password', ADMIN_PASSWORD);
  await admin.click('#loginForm button');
  await admin.waitForSelector('#app:not([hidden])', { timeout: 15_000 });
  const text = (id: string) => admin.$eval(`#${id}`, (e) => e.textContent ?? '');

  // webhooks: the endpoint with its dead letter, the lifecycle failures line, redelivery
  await admin.waitForFunction(() => [...document.querySelectorAll('#deadLetters tr')].some((tr) => tr.textContent?.includes('connect') && tr.textContent.includes('webuser')), undefined, { timeout: 15_000 });
  assert.match(await text('webhooks'), /refusing — last error: HTTP 400/);
  assert.match(await text('deadLetters'), /HTTP 400/);
  assert.equal(await text('lifecycleFailures'), 'Cluster-state failures: 0');
  backend.mode = 200;
  await admin.click('#redeliver');
  await admin.waitForFunction(() => document.getElementById('redeliverResult')?.textContent === '1 event(s) queued again', undefined, { timeout: 15_000 });
  await until(() => backend.of('connect').some((e) => e.user === 'webuser'), 10_000, 'the redelivered connect');
  await admin.waitForFunction(() => document.querySelectorAll('#deadLetters tr').length === 0, undefined, { timeout: 15_000 });

  // user status lookup
  await admin.fill('#statusUsers', 'webuser, nobody');
  await admin.click('#statusForm button');
  await admin.waitForFunction(() => /webuser: online/.test(document.getElementById('statusResult')?.textContent ?? ''), undefined, { timeout: 15_000 });
  assert.match(await text('statusResult'), /nobody: offline/);

  // connection search
  await admin.fill('#connUser', 'webuser');
  await admin.click('#connForm button');
  await admin.waitForFunction(() => document.querySelectorAll('#connResult tr').length === 1, undefined, { timeout: 15_000 });
  assert.match(await text('connResult'), /webuser.*centrifuge.*chat:admin-hooks/);

  // revoke by jti: the holder is disconnected with 3520
  await admin.fill('#revokeJti', 'browser-jti');
  await admin.click('#revokeForm button');
  await admin.waitForFunction(() => document.getElementById('revokeResult')?.textContent === 'revoked: holders disconnected (3520)', undefined, { timeout: 15_000 });
  assert.equal(await Promise.race([disconnected, new Promise<string>((r) => setTimeout(() => r('no disconnect'), 10_000).unref())]), 3520);
  assert.deepEqual(errors, []);
});
