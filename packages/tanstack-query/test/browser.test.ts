// TanStack Query kept fresh by publications, in headless Chromium, with React and with Vue: an
// API-client publication of `{ queryKey }` makes the query refetch, `{ type: 'query-update' }` writes
// the cache without a fetch, and a resync (the channel keeps no history and the connection was
// dropped) invalidates every query, which refetches.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, browserPages, pageErrors, skipBrowser as skip, startPageServer, until, type PageServer } from '../../client/test/browser/harness.js';

const entry = (name: string) => fileURLToPath(new URL(`./pages/${name}`, import.meta.url));
const env = browserPages({ react: entry('react.tsx'), vue: entry('vue.ts') });
let server: PageServer | undefined;
let items: string[] = [];
const fetches = new Map<string, number>();

/** One server for both pages, started by the first test (after the pages are bundled). */
async function getServer(): Promise<PageServer> {
  server ??= await startPageServer({
    staticDir: env.dir(),
    switchboard: { namespaces: { plain: { allowSubscribeForClient: true } } },
    route: (_req, res, url) => {
      if (url.pathname !== '/data/todos') return false;
      const who = url.searchParams.get('page') ?? '';
      fetches.set(who, (fetches.get(who) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ items }));
      return true;
    },
  });
  return server;
}

after(async () => {
  await server?.close();
});

const text = async (page: Page, sel: string) => (await page.textContent(sel)) ?? '';

for (const kind of ['react', 'vue'] as const) {
  test(`${kind}: queries refetch after an API-client publication and after a resync; query-update writes the cache`, { skip, timeout: 90_000 }, async () => {
    const server = await getServer();
    const api = createApiClient({ url: `${server.url}/api`, apiKey: API_KEY });
    const user = `u-${kind}`;
    items = ['a'];
    const page = await env.browser().newPage();
    const errors = pageErrors(page);
    try {
      await page.goto(`${server.url}/${kind}.html?user=${user}`);
      await until(async () => (await text(page, '#todos')) === 'a' && (await text(page, '#state')) === 'connected', 'first fetch and connected');
      await until(async () => (await api.channels())['plain:todos'] !== undefined, 'subscribed');
      assert.equal(fetches.get(user), 1);

      // An invalidation published through the API client: the query refetches.
      items = ['a', 'b'];
      await api.publish('plain:todos', { type: 'query-invalidation', queryKey: ['todos'] });
      await until(async () => (await text(page, '#todos')) === 'a,b', 'refetched after the invalidation');
      assert.equal(fetches.get(user), 2);

      // An update carries the data: the cache is written, nothing is fetched.
      await api.publish('plain:todos', { type: 'query-update', queryKey: ['todos'], data: { items: ['from', 'message'] } });
      await until(async () => (await text(page, '#todos')) === 'from,message', 'cache written from the message');
      assert.equal(fetches.get(user), 2, 'no fetch for an update');

      // The server drops the connection (code 3000: reconnect); the channel keeps no history, so
      // the resubscription is a resync and every query is invalidated.
      items = ['a', 'b', 'c'];
      await api.disconnect({ user, disconnect: { code: 3000, reason: 'resync test' } });
      await until(async () => (await text(page, '#resyncs')) === '1', 'a resync'); 
      await until(async () => (await text(page, '#todos')) === 'a,b,c', 'refetched after the resync');
      assert.equal(fetches.get(user), 3);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
}
