// Churn: 10,000 connect -> subscribe (presence on) -> disconnect cycles in waves, half of them over the
// native protocol, half over Phoenix Channels (phx_join, presence_state). Afterwards nothing
// is left: no connection, subscription, presence entry, channel-index entry, broker subscription,
// timer, socket or listener, and RSS is back within 10 % of the baseline after GC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { MemoryBroker } from '../../src/index.js';
import { startServer, token, until } from '../helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CYCLES = Number(process.env.CHURN_CYCLES ?? 10_000);
const WAVE = 200;
const CHANNELS = 50;

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 30));
  }
  return process.memoryUsage().rss;
}

function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** Ends a connection one of three ways (by `n`): client close, abrupt drop, or server disconnect. */
async function end(ws: WebSocket, n: number, closed: Promise<void>, disconnect: () => void): Promise<void> {
  switch (n % 3) {
    case 0:
      ws.close(1000);
      break;
    case 1:
      ws.terminate();
      break;
    default:
      disconnect();
  }
  await closed;
}

/** One Phoenix cycle: upgrade with a token, phx_join (ok reply, then presence_state), end. */
async function phoenixCycle(srv: Awaited<ReturnType<typeof startServer>>, n: number, tok: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket/websocket?token=${tok}&vsn=2.0.0`);
  const joined = new Promise<unknown[]>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString()) as unknown[];
      if (m[3] === 'presence_state') resolve(m);
    });
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify(['1', '1', `churn:room-${n % CHANNELS}`, 'phx_join', {}]));
  const state = await joined;
  assert.equal(state[0], '1');
  await end(ws, Math.floor(n / 2), closed, () => void srv.sb.disconnectUser({ user: `phx-${n}` }, { code: 3503, reason: 'force disconnect' }));
}

/** One cycle: odd `n` over Phoenix, even over the native protocol; `n` also picks how it ends. */
async function cycle(url: string, n: number, srv: Awaited<ReturnType<typeof startServer>>, tokens: Map<number, string>): Promise<void> {
  if (n % 2 === 1) return phoenixCycle(srv, n, tokens.get(n)!);
  const ws = new WebSocket(url);
  const replies = new Map<number, (m: Record<string, unknown>) => void>();
  ws.on('message', (data) => {
    for (const line of (data as Buffer).toString().split('\n')) {
      if (line === '') continue;
      const m = JSON.parse(line) as { id?: number };
      if (m.id !== undefined) replies.get(m.id)?.(m);
    }
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const ask = (id: number, body: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      replies.set(id, resolve);
      ws.send(`{"id":${id},${body}}`);
    });
  const c = await ask(1, '"connect":{}');
  assert.equal(c['error'], undefined);
  const s = await ask(2, `"subscribe":{"channel":"churn:room-${n % CHANNELS}"}`);
  assert.equal(s['error'], undefined, JSON.stringify(s));
  await end(ws, Math.floor(n / 2), closed, () => srv.sb.getConnection((c['connect'] as { client: string }).client)?.disconnect(3503, 'force disconnect'));
}

test(`churn: ${CYCLES} connect/subscribe/disconnect cycles leave nothing behind`, { timeout: 300_000 }, async (t) => {
  const srv = await startServer({
    allowAnonymous: true,
    namespaces: { churn: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true, presence: true, joinLeave: true, historySize: 10, historyTtlMs: 60_000 } },
    pingIntervalMs: 1_000,
    pongTimeoutMs: 1_000,
  });
  srv.sb.attach(srv.http, { path: '/socket/websocket', protocol: 'phoenix' });
  try {
    const upgradeListeners = srv.http.listenerCount('upgrade');
    const wave = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += WAVE) {
        const n = Math.min(WAVE, from + count - i);
        // Phoenix connections authenticate at the upgrade: their tokens are signed before the wave.
        const tokens = new Map<number, string>();
        for (let k = 0; k < n; k++) if ((i + k) % 2 === 1) tokens.set(i + k, await token({ sub: `phx-${i + k}` }));
        await Promise.all(Array.from({ length: n }, (_, k) => cycle(srv.url, i + k, srv, tokens)));
      }
    };
    // Warm-up, then the baseline.
    await wave(0, 1000);
    await until(() => srv.sb.counts().connections === 0, 10_000, 'warm-up connections gone');
    const baseRss = await settle();
    const baseResources = resources();
    const started = Date.now();
    await wave(1000, CYCLES);
    const seconds = (Date.now() - started) / 1000;

    await until(() => srv.sb.counts().connections === 0, 10_000, 'every connection gone');
    // Presence removals are asynchronous: let them land.
    await until(async () => (await srv.sb.presenceStats('churn:room-0')).numClients === 0, 5_000, 'presence emptied');
    assert.deepEqual(srv.sb.counts(), { connections: 0, users: 0, channels: 0, subscriptions: 0, pendingUpgrades: 0 });
    for (let k = 0; k < CHANNELS; k++) {
      const p = await srv.sb.presence(`churn:room-${k}`);
      assert.equal(p.size, 0, `presence of churn:room-${k} is empty`);
    }
    const broker = srv.sb.broker as MemoryBroker;
    assert.equal(broker.subscribedChannelCount, 1, 'only the control channel stays subscribed in the broker');
    assert.equal(srv.http.listenerCount('upgrade'), upgradeListeners, 'no upgrade listener added');
    // Sockets and timers: the same kinds and counts as at the baseline (the server's own).
    await until(() => JSON.stringify(resources()) === JSON.stringify(baseResources), 10_000, `resources back to baseline: ${JSON.stringify(resources())} vs ${JSON.stringify(baseResources)}`);
    const rss = await settle();
    const growth = (rss - baseRss) / baseRss;
    t.diagnostic(`${CYCLES} cycles in ${seconds.toFixed(1)} s; counts ${JSON.stringify(srv.sb.counts())}; resources ${JSON.stringify(resources())}`);
    t.diagnostic(`RSS baseline ${(baseRss / 1048576).toFixed(1)} MiB, after ${(rss / 1048576).toFixed(1)} MiB (${(growth * 100).toFixed(1)} %)`);
    assert.ok(growth <= 0.1, `RSS back within 10 % (${(growth * 100).toFixed(1)} %)`);
    assert.equal((srv.sb.stats.disconnects.get(3503) ?? 0) + (srv.sb.stats.disconnects.get(1000) ?? 0) + (srv.sb.stats.disconnects.get(1006) ?? 0) >= CYCLES, true);
  } finally {
    await srv.close();
  }
});
