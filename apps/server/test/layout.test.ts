/**
 * Layout of the admin page and the demo chat in headless Chromium, checked by element geometry:
 * at 1,100 px and at phone width (390 px) no panel's content sticks out of its panel and the page
 * never scrolls sideways; the demo's member list leaves the chat its width on a phone; "Log out"
 * shows only where there is a login; the demo says nothing about connecting before a name is
 * picked, and no page asks for a missing favicon. Screenshots go to a temporary directory (printed
 * as a diagnostic) for a human to look at.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_PASSWORD, once, sdk, signToken, startServerProcess, testConfig, writeConfig } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = !existsSync(CHROMIUM);
const skip = missing && process.env['CI'] !== 'true' ? `Chromium not found at ${CHROMIUM}` : false;
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1100, height: 800 };

/**
 * Elements (visible ones) inside `panelSelector` whose box reaches outside their panel, and a page
 * wider than the window. Each problem is a line naming the element and the overflow in px.
 */
function overflows(page: Page, panelSelector: string): Promise<string[]> {
  // A string, not a function: the test runner's transpiler would add helpers the page does not have.
  return page.evaluate(`(() => {
    const sel = ${JSON.stringify(panelSelector)};
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth + 1) out.push('the page scrolls sideways: ' + doc.scrollWidth + ' > ' + doc.clientWidth);
    function name(el) {
      return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    }
    for (const panel of document.querySelectorAll(sel)) {
      const p = panel.getBoundingClientRect();
      if (p.width === 0 || getComputedStyle(panel).visibility === 'hidden') continue;
      if (p.right > doc.clientWidth + 1 || p.left < -1) out.push(name(panel) + ' leaves the window: ' + Math.round(p.left) + '..' + Math.round(p.right) + ' of ' + doc.clientWidth);
      for (const el of panel.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        const over = Math.max(r.right - p.right, p.left - r.left);
        if (over > 1) out.push(name(el) + ' sticks out of ' + name(panel) + ' by ' + Math.round(over) + ' px');
      }
    }
    return out;
  })()`);
}

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
}

/** Requests that got a 404 (a missing favicon shows up here). */
function notFound(page: Page): string[] {
  const list: string[] = [];
  page.on('response', (r) => {
    if (r.status() === 404) list.push(r.url());
  });
  return list;
}

test('admin page at 1,100 px and at phone width: no panel overflows; demo chat at phone width', { skip, timeout: 180_000 }, async (t) => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const srv = await startServerProcess(writeConfig(testConfig()));
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-layout-'));
  const clients: ReturnType<typeof sdk>[] = [];
  let browser: Browser | undefined;
  try {
    // Long user names and many long channel names: what makes tables overflow.
    for (let i = 0; i < 4; i++) {
      const c = sdk(srv.wsUrl, { token: await signToken(`customer-account-${i}-with-a-long-identifier@example.com`, { info: { name: `Participant number ${i} with a long display name` } }) });
      clients.push(c);
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      for (const ch of ['chat:lobby', `chat:project-${i}-planning-and-roadmap-discussion`, `chat:support-ticket-${i}000123`]) {
        const sub = c.newSubscription(ch);
        const subscribed = once(sub, 'subscribed');
        sub.subscribe();
        await subscribed;
      }
    }
    browser = await launch();
    for (const [label, viewport] of [['1100', LAPTOP], ['phone', PHONE]] as const) {
      const page = await (await browser.newContext({ viewport })).newPage();
      const missingFiles = notFound(page);
      await page.goto(srv.base + '/admin');
      await page.waitForSelector('#login:not([hidden])', { timeout: 15_000 });
      await page.fill('#password', ADMIN_PASSWORD);
      await page.click('#loginForm button');
      await page.waitForSelector('#app:not([hidden])', { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelectorAll('#connections tr').length >= 4 && document.querySelectorAll('#nodes tr').length === 1, undefined, { timeout: 15_000 });
      await page.click('#channels tr[data-channel="chat:lobby"]');
      await page.waitForFunction(() => document.querySelectorAll('#presence tr').length >= 4, undefined, { timeout: 15_000 });
      assert.equal(await page.isVisible('#logout'), true, 'with a password there is a "Log out"');
      const file = join(dir, `admin-${label}.png`);
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot ${file}`);
      assert.deepEqual(await overflows(page, 'header, .card'), [], `admin at ${label}`);
      // Every "disconnect" button is fully visible (not clipped by its cell).
      // One evaluation (the page re-renders the table every second: element handles could go stale).
      const buttons = await page.evaluate<boolean[]>(
        `[...document.querySelectorAll('#connections button')].map((b) => { const r = b.getBoundingClientRect(); const c = b.closest('td').getBoundingClientRect(); return r.right <= c.right + 1 && r.left >= c.left - 1 && r.width > 20; })`,
      );
      assert.ok(buttons.length >= 4 && buttons.every(Boolean), `disconnect buttons inside their cells at ${label}`);
      assert.deepEqual(missingFiles, [], 'no request is answered 404 (favicon included)');
    }

    // The demo on a phone: nothing said about connecting before a name is picked; the member list
    // does not squeeze the chat; nothing overflows.
    const page = await (await browser.newContext({ viewport: PHONE })).newPage();
    const missingFiles = notFound(page);
    await page.goto(srv.base + '/');
    await page.waitForSelector('#join form', { timeout: 15_000 });
    const before = await page.textContent('#state');
    assert.doesNotMatch(before ?? '', /connecting/i, 'no "connecting…" behind the name dialog');
    await page.fill('#name', 'Phone user with a rather long name');
    await page.click('#joinForm button');
    await page.waitForSelector('#text:not([disabled])', { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll('#who li').length === 5, undefined, { timeout: 15_000 });
    await page.fill('#text', 'A message long enough to wrap on a phone screen, to see the bubbles behave');
    await page.click('#sendBtn');
    await page.waitForFunction(() => document.querySelectorAll('.msg.me').length === 1, undefined, { timeout: 15_000 });
    const file = join(dir, 'demo-phone.png');
    await page.screenshot({ path: file });
    t.diagnostic(`screenshot ${file}`);
    assert.deepEqual(await overflows(page, 'header, main, #log, aside, form#send, footer'), [], 'demo at phone width');
    const logWidth = await page.$eval('#log', (e) => e.getBoundingClientRect().width);
    assert.ok(logWidth >= PHONE.width * 0.9, `the chat keeps the phone's width (${logWidth} px of ${PHONE.width})`);
    assert.equal(await page.$eval('link[rel="icon"]', (l) => (l as HTMLLinkElement).href.startsWith('data:image/svg+xml')), true, 'a favicon');
    assert.deepEqual(missingFiles, [], 'no request is answered 404 (favicon included)');
  } finally {
    for (const c of clients) c.disconnect();
    await browser?.close();
    await srv.stop();
  }
});

test('admin page in development mode (no login): no "Log out"', { skip, timeout: 90_000 }, async () => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const srv = await startServerProcess(undefined);
  let browser: Browser | undefined;
  try {
    browser = await launch();
    const page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
    await page.goto(srv.base + '/admin');
    await page.waitForSelector('#app:not([hidden])', { timeout: 15_000 });
    await page.waitForFunction(() => /INSECURE MODE/.test(document.getElementById('meta')?.textContent ?? ''), undefined, { timeout: 15_000 });
    assert.equal(await page.isVisible('#logout'), false);
  } finally {
    await browser?.close();
    await srv.stop();
  }
});
