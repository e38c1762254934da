import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { ackStoreConformance } from '@switchboard/server/testing';
import { createSqliteEngine, SqliteAckStore, SqliteHistoryStore } from '../src/index.js';
import { SECRET, sdk, token, until } from '../../server/test/helpers.js';

ackStoreConformance('sqlite', async () => {
  // one process per file: every node of it shares the instance
  const history = new SqliteHistoryStore({ path: ':memory:' });
  const store = new SqliteAckStore(history);
  return { store, another: store, close: () => history.close() };
});

const CH = 'inbox:42';

async function serve(t: { after: (fn: () => Promise<void>) => void }, path: string): Promise<{ sb: Switchboard; url: string; stop: () => Promise<void> }> {
  const engine = createSqliteEngine({ path });
  const sb = createSwitchboard({
    ...engine.options,
    namespaces: { inbox: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000, acknowledge: true, ackTimeoutMs: 60_000 } },
    token: { hmacSecret: SECRET },
  });
  const http = createServer();
  sb.attach(http, { path: '/connection/websocket' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sb.shutdown({ timeoutMs: 500 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  };
  t.after(stop);
  return { sb, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`, stop };
}

test('SQLite engine: a server restarted on the same file sends a returning client what it had not acknowledged', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-acks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'h.db');
  const first = await serve(t, path);
  const subscribe = async (url: string) => {
    const c = sdk(url, { token: await token({ sub: 'alice' }) });
    t.after(() => c.disconnect());
    const sub = c.newSubscription(CH, { data: { ackClient: 'phone' } });
    const got: number[] = [];
    sub.on('publication', (ctx) => got.push(ctx.offset!));
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    c.connect();
    sub.subscribe();
    await until(() => subscribed === 1, 10_000, 'the subscription');
    return { c, got, ack: (offsets: number[]) => c.rpc('$ack', { channel: CH, offsets }) };
  };
  const before = await subscribe(first.url);
  for (let n = 1; n <= 3; n++) await first.sb.publish(CH, { n });
  await until(() => before.got.length === 3, 10_000, 'three publications');
  await before.ack([1]);
  before.c.disconnect();
  await first.stop(); // closes the file

  const second = await serve(t, path);
  assert.deepEqual(await second.sb.unacknowledged(CH, 2), [{ user: 'alice', client: 'phone' }], 'the restarted server knows what is pending');
  const after = await subscribe(second.url);
  await until(() => after.got.length === 2, 10_000, 'the two unacknowledged ones');
  await second.sb.publish(CH, { n: 4 });
  await until(() => after.got.length === 3, 10_000, 'then the live one');
  assert.deepEqual(after.got, [2, 3, 4]);
  await after.ack([2, 3, 4]);
  assert.deepEqual(await second.sb.unacknowledged(CH, 3), []);
});
