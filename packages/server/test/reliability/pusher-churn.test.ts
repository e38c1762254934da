// Churn on the Pusher endpoint: 10,000 connect -> subscribe -> disconnect cycles in waves, over
// public, private, presence and cache channels of an app with subscription_count on. Afterwards
// nothing is left: no connection, subscription, presence entry (members folded by user included),
// broker subscription, timer (the subscription counter's included), socket or listener, and RSS is
// back within 10 % of the baseline after GC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { clientIdOf, MemoryBroker } from '../../src/index.js';
import { until } from '../helpers.js';
import { APP, startPusher, type PusherTestServer } from '../pusher-helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CYCLES = Number(process.env.CHURN_CYCLES ?? 10_000);
const WAVE = 200;
const CHANNELS = 50;
const KINDS = ['', 'private-', 'presence-', 'cache-'] as const;

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

const sign = (s: string) => `${APP.key}:${createHmac('sha256', APP.secret).update(s).digest('hex')}`;

/** One cycle; `n % 3` picks the way the connection ends: client close, abrupt drop, or server disconnect. */
async function cycle(srv: PusherTestServer, n: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7&client=churn&version=1`);
  const frames: { event: string; channel?: string; data?: unknown }[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString()) as { event: string });
    wake?.();
  });
  ws.on('error', () => {});
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const frame = async (pred: (f: { event: string; channel?: string; data?: unknown }) => boolean, what: string) => {
    const end = Date.now() + 20_000;
    for (;;) {
      const f = frames.find(pred);
      if (f) return f;
      if (Date.now() > end) throw new Error(`cycle ${n}: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200).unref();
      });
    }
  };
  const hello = await frame((f) => f.event === 'pusher:connection_established', 'connection_established');
  const socketId = (JSON.parse(hello.data as string) as { socket_id: string }).socket_id;
  const kind = KINDS[n % KINDS.length]!;
  const channel = `${kind}room-${n % CHANNELS}`;
  const data: Record<string, unknown> = { auth: '', channel };
  if (kind === 'private-') data['auth'] = sign(`${socketId}:${channel}`);
  if (kind === 'presence-') {
    const cd = JSON.stringify({ user_id: `u${n % 7}`, user_info: { n } });
    data['channel_data'] = cd;
    data['auth'] = sign(`${socketId}:${channel}:${cd}`);
  }
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data }));
  const answer = await frame((f) => (f.event === 'pusher_internal:subscription_succeeded' || f.event === 'pusher:subscription_error') && f.channel === channel, 'the subscribe answer');
  assert.equal(answer.event, 'pusher_internal:subscription_succeeded', JSON.stringify(answer));
  switch (n % 3) {
    case 0:
      ws.close(1000);
      break;
    case 1:
      ws.terminate();
      break;
    default:
      srv.sb.getConnection(clientIdOf(socketId)!)?.disconnect(4009, 'terminated');
  }
  await closed;
}

test(`pusher churn: ${CYCLES} connect/subscribe/disconnect cycles on public, private, presence and cache channels leave nothing behind`, { timeout: 300_000 }, async (t) => {
  // Pings every second of silence (the app's keepalive), so the keepalive path runs during the churn.
  const srv = await startPusher({}, { ...APP, activityTimeout: 1, pongTimeout: 1, enableSubscriptionCount: true });
  try {
    const wave = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += WAVE) {
        await Promise.all(Array.from({ length: Math.min(WAVE, from + count - i) }, (_, k) => cycle(srv, i + k)));
      }
    };
    // Warm-up, then the baseline (timers of the subscription counter stop when nobody is counted).
    await wave(0, 1000);
    await until(() => srv.sb.counts().connections === 0, 10_000, 'warm-up connections gone');
    const baseRss = await settle();
    const baseResources = resources();
    const started = Date.now();
    await wave(1000, CYCLES);
    const seconds = (Date.now() - started) / 1000;

    await until(() => srv.sb.counts().connections === 0, 10_000, 'every connection gone');
    await until(async () => (await srv.sb.presenceStore.get('pusher:presence-room-2')).size === 0, 5_000, 'presence emptied');
    assert.deepEqual(srv.sb.counts(), { connections: 0, users: 0, channels: 0, subscriptions: 0, pendingUpgrades: 0 });
    for (let k = 0; k < CHANNELS; k++) {
      const p = await srv.sb.presenceStore.get(`pusher:presence-room-${k}`);
      assert.equal(p.size, 0, `presence of pusher:presence-room-${k} is empty`);
    }
    assert.equal((srv.sb.broker as MemoryBroker).subscribedChannelCount, 1, 'only the control channel stays subscribed in the broker');
    await until(() => JSON.stringify(resources()) === JSON.stringify(baseResources), 10_000, `resources back to baseline: ${JSON.stringify(resources())} vs ${JSON.stringify(baseResources)}`);
    // A newcomer sees an empty room: the per-node fold of presence members kept nothing.
    const users = (await (await srv.api.get({ path: '/channels/presence-room-2/users' })).json()) as { users: unknown[] };
    assert.deepEqual(users.users, []);
    const rss = await settle();
    const growth = (rss - baseRss) / baseRss;
    t.diagnostic(`${CYCLES} cycles in ${seconds.toFixed(1)} s; counts ${JSON.stringify(srv.sb.counts())}; resources ${JSON.stringify(resources())}`);
    t.diagnostic(`RSS baseline ${(baseRss / 1048576).toFixed(1)} MiB, after ${(rss / 1048576).toFixed(1)} MiB (${(growth * 100).toFixed(1)} %)`);
    assert.ok(growth <= 0.1, `RSS back within 10 % (${(growth * 100).toFixed(1)} %)`);
  } finally {
    await srv.close();
  }
});
