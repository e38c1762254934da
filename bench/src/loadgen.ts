/**
 * A load generator child: opens its share of the N real WebSocket connections, subscribes them,
 * and records publish-to-deliver latency of every publication from the timestamp inside it.
 */
import { request } from 'node:http';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { ADAPTERS, type ClientState } from './clients.js';
import { ESCAPED_MARK, Histogram, MARK, SECRET, nowMs, serveRpc, usage } from './common.js';

const hist = new Histogram();
let received = 0;
let firstAt = 0;
let lastAt = 0;
const sockets = new Set<WebSocket>();
/** HTTP-streaming / SSE connections (adapters `http_stream`, `sse`): the native protocol over one long response each. */
const streams = new Set<{ destroy(): void }>();
const HTTP_ADAPTERS = new Set(['http_stream', 'sse']);
let closedUnexpectedly = 0;
let closing = false;

function count(text: string): number {
  let n = 0;
  let mark = MARK;
  let i = text.indexOf(mark);
  if (i < 0) {
    // Pusher frames carry the data as a JSON string: the mark is escaped.
    mark = ESCAPED_MARK;
    i = text.indexOf(mark);
  }
  if (i < 0) return 0;
  const now = nowMs();
  while (i >= 0) {
    const bt = parseFloat(text.slice(i + mark.length, i + mark.length + 24));
    hist.record(now - bt);
    n++;
    i = text.indexOf(mark, i + mark.length);
  }
  if (firstAt === 0) firstAt = now;
  lastAt = now;
  received += n;
  return n;
}

interface ConnectArgs {
  adapter: string;
  base: string;
  conns: { idx: number; channels: string[] }[];
  concurrency: number;
  timeoutMs: number;
  /**
   * Loopback source addresses (127.0.0.x) the connections are spread over: each source address has
   * its own ephemeral port range, so one generator can hold more than ~28k connections to one port.
   */
  localAddresses?: string[];
}

/** What `reconnect` needs to open the same connections again. */
let last: { a: ConnectArgs; tokens: string[] } | undefined;
const specOf = new Map<WebSocket, number>();

async function connectAll(a: ConnectArgs): Promise<{ ms: number; ok: number; failed: number; errors: string[] }> {
  const adapter = HTTP_ADAPTERS.has(a.adapter) ? ADAPTERS['centrifuge'] : ADAPTERS[a.adapter];
  if (!adapter) throw new Error(`no client adapter ${a.adapter}`);
  const key = new TextEncoder().encode(SECRET);
  // Tokens are signed before the clock starts: the storm measures the server, not our signing.
  const tokens = await Promise.all(a.conns.map((c) => new SignJWT({ sub: `u${c.idx}` }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(key)));
  last = { a, tokens };
  return openAll(a, tokens, a.conns.map((_, k) => k), () => 0);
}

/**
 * Open connections `ks` of `a` (at most `a.concurrency` in flight), connection k not before
 * `delayOf(k)` ms after the start: the jitter a reconnecting SDK's backoff adds.
 */
async function openAll(a: ConnectArgs, tokens: string[], ks: number[], delayOf: (k: number) => number): Promise<{ ms: number; ok: number; failed: number; errors: string[] }> {
  const adapter = ADAPTERS[a.adapter]!;
  if (HTTP_ADAPTERS.has(a.adapter)) return openStreams(a, tokens, ks);
  const start = nowMs();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const one = (k: number) =>
    new Promise<void>((resolve) => {
      const c = a.conns[k]!;
      const token = tokens[k]!;
      const st: ClientState = { acks: 0 };
      let ready = false;
      const localAddress = a.localAddresses?.length ? a.localAddresses[k % a.localAddresses.length] : undefined;
      const ws = new WebSocket(a.base + adapter.path(token), { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: a.timeoutMs, ...(localAddress ? { localAddress } : {}) });
      const timer = setTimeout(() => fail(new Error('subscribe timed out')), a.timeoutMs);
      const fail = (err: Error) => {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        failed++;
        if (errors.length < 5) errors.push(err.message);
        ws.terminate();
        resolve();
      };
      ws.on('open', () => adapter.open(ws, token, c.channels, st));
      ws.on('message', (data: Buffer) => {
        const text = data.toString('latin1');
        if (ready) {
          count(text);
          adapter.ping?.(ws, text);
          return;
        }
        try {
          if (adapter.control(ws, text, token, c.channels, st)) {
            ready = true;
            clearTimeout(timer);
            ok++;
            sockets.add(ws);
            specOf.set(ws, k);
            resolve();
          }
        } catch (err) {
          fail(err as Error);
        }
      });
      ws.on('error', (err) => fail(err));
      ws.on('close', (code) => {
        if (!ready) return fail(new Error(`closed ${code} before subscribed`));
        specOf.delete(ws);
        if (sockets.delete(ws) && !closing) closedUnexpectedly++;
      });
    });
  const workers: Promise<void>[] = [];
  for (let w = 0; w < a.concurrency; w++) {
    workers.push(
      (async () => {
        while (next < ks.length) {
          const k = ks[next++]!;
          const wait = start + delayOf(k) - nowMs();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          await one(k);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return { ms: nowMs() - start, ok, failed, errors };
}

/**
 * The native protocol over HTTP-streaming or SSE: the opening request carries the connect command
 * and every subscribe (one body / one `cf_connect`), replies and publications come down the
 * response; the server's pings are answered through the emulation endpoint, as the SDK does.
 */
async function openStreams(a: ConnectArgs, tokens: string[], ks: number[]): Promise<{ ms: number; ok: number; failed: number; errors: string[] }> {
  const start = nowMs();
  const sse = a.adapter === 'sse';
  const base = a.base.replace(/^ws/, 'http');
  let next = 0;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const one = (k: number) =>
    new Promise<void>((resolve) => {
      const c = a.conns[k]!;
      const cmds = [JSON.stringify({ id: 1, connect: { token: tokens[k]!, name: 'bench' } }), ...c.channels.map((ch, i) => JSON.stringify({ id: i + 2, subscribe: { channel: ch } }))].join('\n');
      const localAddress = a.localAddresses?.length ? a.localAddresses[k % a.localAddresses.length] : undefined;
      const req = request(sse ? `${base}/connection/sse?cf_connect=${encodeURIComponent(cmds)}` : `${base}/connection/http_stream`, {
        method: sse ? 'GET' : 'POST',
        agent: false,
        headers: sse ? {} : { 'content-type': 'application/json' },
        ...(localAddress ? { localAddress } : {}),
      });
      let ready = false;
      let acks = 0;
      let session = { session: '', node: '' };
      const handle = { destroy: () => req.destroy() };
      const timer = setTimeout(() => fail(new Error('subscribe timed out')), a.timeoutMs);
      const fail = (err: Error) => {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        failed++;
        if (errors.length < 5) errors.push(err.message);
        req.destroy();
        resolve();
      };
      const pong = () => {
        const p = request(`${base}/emulation`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
        p.on('error', () => {});
        p.on('response', (r) => r.resume());
        p.end(JSON.stringify({ ...session, data: '{}' }));
      };
      const isPing = (text: string) => (sse ? text.includes('data: {}\n') : text.startsWith('{}\n') || text.includes('\n{}\n'));
      req.on('response', (res) => {
        if (res.statusCode !== 200) return fail(new Error(`status ${res.statusCode}`));
        res.setEncoding('latin1');
        let buf = '';
        res.on('data', (text: string) => {
          if (ready) {
            count(text);
            if (isPing(text)) pong();
            return;
          }
          buf += text;
          let i: number;
          while (!ready && (i = buf.indexOf('\n')) >= 0) {
            let line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (sse) {
              if (!line.startsWith('data: ')) continue;
              line = line.slice(6);
            }
            if (line === '{}') pong();
            else if (line.includes('"error"') || line.includes('"disconnect"')) return fail(new Error(`refused: ${line.slice(0, 200)}`));
            else if (line.startsWith('{"id":1,"connect"')) {
              const r = (JSON.parse(line) as { connect: { session: string; node: string } }).connect;
              session = { session: r.session, node: r.node };
            } else if (line.includes('"subscribe":')) acks++;
            if (acks >= c.channels.length && session.session !== '') {
              ready = true;
              clearTimeout(timer);
              ok++;
              streams.add(handle);
              if (buf !== '') count(buf);
              resolve();
            }
          }
        });
        res.on('close', () => {
          if (!ready) return fail(new Error('stream closed before subscribed'));
          if (streams.delete(handle) && !closing) closedUnexpectedly++;
        });
      });
      req.on('error', (err) => fail(err));
      req.end(sse ? undefined : cmds);
    });
  const workers: Promise<void>[] = [];
  for (let w = 0; w < a.concurrency; w++) {
    workers.push(
      (async () => {
        while (next < ks.length) await one(ks[next++]!);
      })(),
    );
  }
  await Promise.all(workers);
  return { ms: nowMs() - start, ok, failed, errors };
}

/**
 * A reconnect storm, as after a server restart behind a balancer: every open connection is
 * dropped, then opened again (new handshake, same JWT, same subscriptions), connection k after a
 * uniform random delay in [0, spreadMs) as the SDK's jittered backoff spreads them.
 */
async function reconnect(r: { spreadMs: number; concurrency: number }): Promise<{ ms: number; ok: number; failed: number; errors: string[] }> {
  if (!last) throw new Error('reconnect before connect');
  const ks = [...sockets].map((ws) => specOf.get(ws)!);
  closing = true;
  for (const ws of sockets) ws.terminate();
  sockets.clear();
  specOf.clear();
  closing = false;
  const delays = new Map(ks.map((k) => [k, Math.random() * r.spreadMs]));
  ks.sort((x, y) => delays.get(x)! - delays.get(y)!);
  return openAll({ ...last.a, concurrency: r.concurrency }, last.tokens, ks, (k) => delays.get(k)!);
}

serveRpc({
  connect: connectAll,
  reconnect,
  reset() {
    hist.reset();
    received = 0;
    firstAt = 0;
    lastAt = 0;
    return usage();
  },
  report() {
    return { received, firstAt, lastAt, counts: Array.from(hist.counts), open: sockets.size + streams.size, closedUnexpectedly, usage: usage() };
  },
  close() {
    setImmediate(() => process.exit(0));
    return true;
  },
  closeAll() {
    closing = true;
    for (const s of streams) s.destroy();
    streams.clear();
    for (const ws of sockets) ws.terminate();
    sockets.clear();
    specOf.clear();
    closing = false;
    return true;
  },
});
process.send!({ ready: true });
