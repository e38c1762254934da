// Churn over the HTTP transports: connect -> subscribe (presence on) -> end, in waves, over
// HTTP-streaming, SSE (both with subscribe through the emulation endpoint) and uni_sse (a
// server-side subscription from the token), each ended one of three ways: the client aborts the
// stream, the server disconnects it, or a malformed emulation request makes the server close it.
// Afterwards nothing is left: no connection, subscription, presence entry, channel, emulation
// session or timer, and requests for the old sessions get 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { token, until } from '../helpers.js';
import { startHttpServer, StreamReader } from '../http-transport-helpers.js';

const CYCLES = Number(process.env.HTTP_CHURN_CYCLES ?? 600);
const WAVE = 50;

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test(`HTTP transports: ${CYCLES} connect/subscribe/end cycles leave nothing behind`, { timeout: 300_000 }, async (t) => {
  const srv = await startHttpServer({ namespaces: { room: { allowSubscribeForClient: true, presence: true } } });
  t.after(() => srv.close());
  const post = (path: string, body: string) => fetch(`${srv.base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const baseTimers = timers();
  const stale: { session: string; node: string }[] = [];

  const cycle = async (n: number): Promise<void> => {
    const user = `churn-${n}`;
    const kind = n % 3;
    const channel = `room:${n % 20}`;
    const tok = await token({ sub: user, ...(kind === 2 ? { channels: [channel] } : {}) });
    let r: StreamReader;
    if (kind === 0) {
      r = new StreamReader(`${srv.base}/connection/http_stream`, 'lines', { method: 'POST', body: JSON.stringify({ id: 1, connect: { token: tok } }), headers: { 'content-type': 'application/json' } });
    } else if (kind === 1) {
      r = new StreamReader(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token: tok } }))}`, 'sse');
    } else {
      r = new StreamReader(`${srv.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: tok }))}`, 'sse');
    }
    try {
      if (kind < 2) {
        const reply = await r.find((m) => m['id'] === 1, 'the connect reply');
        const { session, node } = reply['connect'] as { session: string; node: string };
        assert.equal((await post('/emulation', JSON.stringify({ session, node, data: JSON.stringify({ id: 2, subscribe: { channel } }) }))).status, 204);
        await r.find((m) => m['id'] === 2, 'the subscribe reply');
        if (n % 2 === 0) stale.push({ session, node });
        // The end: the client aborts, the server disconnects, or a malformed request closes it.
        const how = Math.floor(n / 3) % 3;
        if (how === 0) r.close();
        else if (how === 1) await srv.sb.disconnectUser({ user });
        else await post('/emulation', JSON.stringify({ session, node, data: '{"id":3,"nope":{}}' }));
      } else {
        await r.find((m) => 'connect' in m, 'the connect push');
        if (n % 2 === 0) r.close();
        else await srv.sb.disconnectUser({ user });
      }
      await until(() => r.ended, 10_000, 'the stream to end');
    } finally {
      r.close();
    }
  };

  for (let i = 0; i < CYCLES; i += WAVE) {
    await Promise.all(Array.from({ length: Math.min(WAVE, CYCLES - i) }, (_, k) => cycle(i + k)));
  }
  await until(() => srv.sb.counts().connections === 0, 20_000, 'every connection gone');
  assert.deepEqual(srv.sb.counts(), { connections: 0, users: 0, channels: 0, subscriptions: 0, pendingUpgrades: 0 });
  for (let c = 0; c < 20; c++) assert.equal((await srv.sb.presence(`room:${c}`)).size, 0, `presence of room:${c}`);
  for (const s of stale.slice(0, 50)) {
    assert.equal((await post('/emulation', JSON.stringify({ ...s, data: '{"id":9,"ping":{}}' }))).status, 404, 'an ended session is unknown');
  }
  await until(() => timers() <= baseTimers, 5000, 'no timers left behind');
});
