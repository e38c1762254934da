// Churn over the HTTP transports: connect -> subscribe (presence on) -> end, in waves, over
// HTTP-streaming, SSE (both with subscribe through the emulation endpoint) and the unidirectional
// uni_sse, uni_http_stream and uni_websocket (a server-side subscription from the token), each
// ended one of three ways (emulation: the client aborts the stream, the server disconnects it, or a
// malformed emulation request makes the server close it; unidirectional: the first two).
// Afterwards nothing is left: no connection, subscription, presence entry, channel, emulation
// session or timer, and requests for the old sessions get 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { token, until } from '../helpers.js';
import { startHttpServer, StreamReader } from '../http-transport-helpers.js';

/** What a cycle needs of a client: its messages, found by a bounded wait; whether it ended. */
interface Reader {
  readonly ended: boolean;
  find(match: (m: Record<string, unknown>) => boolean, what?: string): Promise<Record<string, unknown>>;
  close(): void;
}

/** A raw uni_websocket client, connect as its first message. */
class UniWs implements Reader {
  readonly messages: Record<string, unknown>[] = [];
  ended = false;
  readonly #ws: WebSocket;
  constructor(url: string, connect: unknown) {
    this.#ws = new WebSocket(url);
    this.#ws.on('open', () => this.#ws.send(JSON.stringify(connect)));
    this.#ws.on('message', (d: Buffer) => this.messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    this.#ws.on('error', () => {});
    this.#ws.on('close', () => (this.ended = true));
  }
  async find(match: (m: Record<string, unknown>) => boolean, what = 'a matching message'): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(() => (found = this.messages.find(match)) !== undefined, 10_000, what);
    return found!;
  }
  close(): void {
    this.#ws.terminate();
  }
}

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
    const kind = n % 5;
    const channel = `room:${n % 20}`;
    const tok = await token({ sub: user, ...(kind >= 2 ? { channels: [channel] } : {}) });
    let r: Reader;
    if (kind === 0) {
      r = new StreamReader(`${srv.base}/connection/http_stream`, 'lines', { method: 'POST', body: JSON.stringify({ id: 1, connect: { token: tok } }), headers: { 'content-type': 'application/json' } });
    } else if (kind === 1) {
      r = new StreamReader(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token: tok } }))}`, 'sse');
    } else if (kind === 2) {
      r = new StreamReader(`${srv.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: tok }))}`, 'sse');
    } else if (kind === 3) {
      r = new StreamReader(`${srv.base}/connection/uni_http_stream`, 'lines', { method: 'POST', body: JSON.stringify({ token: tok }), headers: { 'content-type': 'application/json' } });
    } else {
      r = new UniWs(`${srv.base.replace('http', 'ws')}/connection/uni_websocket`, { token: tok });
    }
    try {
      if (kind < 2) {
        const reply = await r.find((m) => m['id'] === 1, 'the connect reply');
        const { session, node } = reply['connect'] as { session: string; node: string };
        assert.equal((await post('/emulation', JSON.stringify({ session, node, data: JSON.stringify({ id: 2, subscribe: { channel } }) }))).status, 204);
        await r.find((m) => m['id'] === 2, 'the subscribe reply');
        if (n % 2 === 0) stale.push({ session, node });
        // The end: the client aborts, the server disconnects, or a malformed request closes it.
        const how = Math.floor(n / 5) % 3;
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
