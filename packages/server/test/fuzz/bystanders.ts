// Well-behaved clients on the fuzzed server: one publisher per protocol publishes a sequence on its
// own channel (native on news:native, plain JSON on news:plain, PondSocket on news:pond, Phoenix on
// news:phoenix), every
// bystander of every protocol (Pusher ones only receive) is subscribed to all of them and keeps doing side subscriptions while
// the fuzzer runs. Every publication must reach every bystander, in order.
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { FUZZ_PUSHER_APP, FUZZ_SECRET } from './config.js';
import { waitFor, within } from '../../src/testing/index.js';

/** How long a bystander waits for the answer to one of its own commands. */
const REPLY_MS = 30_000;

export interface Bystanders {
  finish(): Promise<{ published: number; receivers: number; delivered: boolean; problems: string[]; sideOps: number }>;
  close(): void;
}

type Proto = 'native' | 'plain' | 'pond' | 'phoenix';
const CHANNELS: Record<Proto, string> = { native: 'news:native', plain: 'news:plain', pond: 'news:pond', phoenix: 'news:phoenix' };

async function jwt(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(FUZZ_SECRET));
}

/** The sequence number in a publication's data, whichever way the publisher's protocol shaped it. */
function seqOf(data: unknown): number | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as { seq?: unknown; payload?: { seq?: unknown } };
  if (typeof d.seq === 'number') return d.seq;
  if (typeof d.payload?.seq === 'number') return d.payload.seq;
  return undefined;
}

abstract class Bystander {
  /** Per channel, the last sequence number received (each must be the previous + 1). */
  readonly received = new Map<string, number>();
  readonly problems: string[] = [];
  closed = false;
  constructor(
    readonly name: string,
    readonly ws: WebSocket,
  ) {
    ws.on('close', (code) => {
      this.closed = true;
      this.problem(`closed ${code}`);
      this.onClosed();
    });
  }
  problem(msg: string): void {
    if (this.problems.length < 20) this.problems.push(`${this.name}: ${msg}`);
  }
  seq(channel: string, data: unknown): void {
    const n = seqOf(data);
    if (n === undefined) return this.problem(`publication without a sequence on ${channel}`);
    const last = this.received.get(channel) ?? 0;
    if (n !== last + 1) this.problem(`${channel}: got ${n} after ${last}`);
    this.received.set(channel, n);
  }
  abstract onClosed(): void;
  /** Publish `seq` on this protocol's channel and wait for the acknowledgement. */
  abstract publish(seq: number): Promise<void>;
  /** Subscribe to another channel and leave it again. */
  abstract sideOp(i: number): Promise<void>;
  close(): void {
    this.closed = true;
    this.ws.terminate();
  }
}

async function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { handshakeTimeout: 10_000 });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

class NativeBystander extends Bystander {
  #id = 10;
  #pending = new Map<number, { resolve: () => void; what: string }>();
  constructor(name: string, ws: WebSocket) {
    super(name, ws);
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { id?: number; error?: unknown; push?: { channel?: string; pub?: { data: unknown } } };
        if (m.id === undefined && m.push === undefined) {
          ws.send('{}'); // ping → pong
          continue;
        }
        if (m.id !== undefined) {
          const p = this.#pending.get(m.id);
          this.#pending.delete(m.id);
          if (m.error) this.problem(`${p?.what} failed: ${JSON.stringify(m.error)}`);
          p?.resolve();
          continue;
        }
        if (m.push?.pub && m.push.channel?.startsWith('news:') && !m.push.channel.startsWith('news:side')) this.seq(m.push.channel, m.push.pub.data);
      }
    });
  }
  static async open(base: string, name: string): Promise<NativeBystander> {
    const b = new NativeBystander(name, await openWs(`${base}/connection/websocket`));
    await b.#cmd('connect', { token: await jwt(name) });
    for (const ch of Object.values(CHANNELS)) await b.#cmd('subscribe', { channel: ch });
    return b;
  }
  onClosed(): void {
    for (const p of this.#pending.values()) p.resolve();
  }
  #cmd(method: string, params: Record<string, unknown>): Promise<void> {
    const id = this.#id++;
    const what = `${method} ${JSON.stringify(params).slice(0, 60)}`;
    return within(
      new Promise<void>((resolve) => {
        this.#pending.set(id, { resolve, what });
        this.ws.send(JSON.stringify({ id, [method]: params }));
      }),
      REPLY_MS,
      `the reply to ${what}`,
    );
  }
  publish(seq: number): Promise<void> {
    return this.#cmd('publish', { channel: CHANNELS.native, data: { seq } });
  }
  async sideOp(i: number): Promise<void> {
    await this.#cmd('subscribe', { channel: `news:side-${i}` });
    await this.#cmd('unsubscribe', { channel: `news:side-${i}` });
  }
}

class PlainBystander extends Bystander {
  #id = 1;
  #pending = new Map<number, () => void>();
  constructor(name: string, ws: WebSocket) {
    super(name, ws);
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { type?: string; id?: number; channel?: string; data?: unknown };
      if (m.type === 'error') this.problem(`error ${JSON.stringify(m)}`);
      if (m.id !== undefined) {
        this.#pending.get(m.id)?.();
        this.#pending.delete(m.id);
        return;
      }
      if (m.channel?.startsWith('news:') && !m.channel.startsWith('news:side') && m.type !== 'subscribed' && m.type !== 'unsubscribed') this.seq(m.channel, m.data);
    });
  }
  static async open(base: string, name: string): Promise<PlainBystander> {
    const b = new PlainBystander(name, await openWs(`${base}/ws?token=${await jwt(name)}`));
    for (const ch of Object.values(CHANNELS)) await b.#cmd({ type: 'subscribe', channel: ch });
    return b;
  }
  onClosed(): void {
    for (const p of this.#pending.values()) p();
  }
  #cmd(frame: Record<string, unknown>): Promise<void> {
    const id = this.#id++;
    return within(
      new Promise<void>((resolve) => {
        this.#pending.set(id, resolve);
        this.ws.send(JSON.stringify({ ...frame, id }));
      }),
      REPLY_MS,
      `the reply to ${JSON.stringify(frame).slice(0, 60)}`,
    );
  }
  publish(seq: number): Promise<void> {
    return this.#cmd({ type: 'publish', channel: CHANNELS.plain, data: { seq } });
  }
  async sideOp(i: number): Promise<void> {
    await this.#cmd({ type: 'subscribe', channel: `news:side-${i}` });
    await this.#cmd({ type: 'unsubscribe', channel: `news:side-${i}` });
  }
}

/** A PondSocket client speaking the wire protocol: token in the query, JOIN_CHANNEL / BROADCAST / LEAVE_CHANNEL. */
class PondBystander extends Bystander {
  #acks = new Map<string, () => void>();
  #n = 0;
  constructor(name: string, ws: WebSocket) {
    super(name, ws);
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { action: string; event: string; channelName: string; requestId: string; payload: unknown };
        if (m.action === 'ERROR' || (m.action === 'SYSTEM' && m.event === 'UNAUTHORIZED')) {
          this.problem(line.slice(0, 200));
          this.#ack(m.requestId);
        }
        if (m.action === 'SYSTEM' && m.event === 'ACKNOWLEDGE') this.#ack(`join:${m.channelName}`);
        if (m.action === 'BROADCAST') {
          if (m.channelName.startsWith('news:') && !m.channelName.startsWith('news:side')) this.seq(m.channelName, m.payload);
          this.#ack(m.requestId); // our own broadcast's echo carries its requestId
        }
      }
    });
  }
  #ack(key: string): void {
    this.#acks.get(key)?.();
    this.#acks.delete(key);
  }
  static async open(base: string, name: string): Promise<PondBystander> {
    const b = new PondBystander(name, await openWs(`${base}/api/socket?token=${await jwt(name)}`));
    for (const ch of Object.values(CHANNELS)) await b.#join(ch);
    return b;
  }
  onClosed(): void {
    for (const p of this.#acks.values()) p();
  }
  #send(action: string, event: string, channel: string, payload: unknown): string {
    const requestId = `${this.name}-${++this.#n}`;
    this.ws.send(JSON.stringify({ action, event, channelName: channel, requestId, payload }));
    return requestId;
  }
  #join(channel: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        this.#acks.set(`join:${channel}`, resolve);
        this.#send('JOIN_CHANNEL', 'JOIN_CHANNEL', channel, {});
      }),
      REPLY_MS,
      `the join of ${channel}`,
    );
  }
  publish(seq: number): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const requestId = `${this.name}-${this.#n + 1}`;
        this.#acks.set(requestId, resolve);
        this.#send('BROADCAST', 'seq', CHANNELS.pond, { seq });
      }),
      REPLY_MS,
      `the ack of publication ${seq}`,
    );
  }
  async sideOp(i: number): Promise<void> {
    const channel = `news:side-${i}`;
    await this.#join(channel);
    this.#send('LEAVE_CHANNEL', 'LEAVE_CHANNEL', channel, {});
  }
}

/** A Phoenix Channels V2 client speaking the wire protocol: token in the query, phx_join / push / phx_leave, heartbeats. */
class PhoenixBystander extends Bystander {
  #ref = 0;
  #pending = new Map<string, { resolve: () => void; what: string }>();
  readonly #heartbeat: NodeJS.Timeout;
  constructor(name: string, ws: WebSocket) {
    super(name, ws);
    ws.on('message', (data: Buffer) => {
      const [, ref, topic, event, payload] = JSON.parse(data.toString()) as [string | null, string | null, string, string, { status?: string; seq?: unknown }];
      if (event === 'phx_reply' && ref !== null) {
        const p = this.#pending.get(ref);
        this.#pending.delete(ref);
        if (payload.status !== 'ok') this.problem(`${p?.what} failed: ${JSON.stringify(payload)}`);
        p?.resolve();
        return;
      }
      if (topic.startsWith('news:') && !topic.startsWith('news:side') && event !== 'phx_close' && event !== 'presence_state' && event !== 'presence_diff') this.seq(topic, payload);
    });
    // The client's liveness signal (the server closes a socket silent for 60 s).
    this.#heartbeat = setInterval(() => void this.#cmd('phoenix', 'heartbeat', {}).catch(() => {}), 20_000);
  }
  static async open(base: string, name: string): Promise<PhoenixBystander> {
    const b = new PhoenixBystander(name, await openWs(`${base}/socket/websocket?token=${await jwt(name)}&vsn=2.0.0`));
    for (const ch of Object.values(CHANNELS)) await b.#cmd(ch, 'phx_join', {});
    return b;
  }
  onClosed(): void {
    clearInterval(this.#heartbeat);
    for (const p of this.#pending.values()) p.resolve();
  }
  override close(): void {
    clearInterval(this.#heartbeat);
    super.close();
  }
  #cmd(topic: string, event: string, payload: unknown): Promise<void> {
    const ref = String(++this.#ref);
    const what = `${event} ${topic}`;
    return within(
      new Promise<void>((resolve) => {
        this.#pending.set(ref, { resolve, what });
        this.ws.send(JSON.stringify([event === 'phx_join' ? ref : null, ref, topic, event, payload]));
      }),
      REPLY_MS,
      `the reply to ${what}`,
    );
  }
  publish(seq: number): Promise<void> {
    return this.#cmd(CHANNELS.phoenix, 'publish', { seq });
  }
  async sideOp(i: number): Promise<void> {
    await this.#cmd(`news:side-${i}`, 'phx_join', {});
    await this.#cmd(`news:side-${i}`, 'phx_leave', {});
  }
}

/**
 * A Pusher client speaking the wire protocol: a receiver only (Pusher clients publish by client
 * events on private channels, never echoed). Its app's channels are the `news` namespace's, so the
 * Pusher channel `native` is `news:native`. Publications arrive as `message` (plain data) or as
 * the event they name (PondSocket's `{event, payload}`), data a JSON string either way.
 */
class PusherBystander extends Bystander {
  #subscribed = new Map<string, () => void>();
  constructor(name: string, ws: WebSocket) {
    super(name, ws);
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { event: string; channel?: string; data?: unknown };
      if (m.event === 'pusher:ping') return void ws.send('{"event":"pusher:pong","data":{}}');
      if (m.event === 'pusher:error' || m.event === 'pusher:subscription_error') return this.problem(data.toString().slice(0, 200));
      if (m.channel === undefined) return;
      if (m.event === 'pusher_internal:subscription_succeeded') {
        this.#subscribed.get(m.channel)?.();
        this.#subscribed.delete(m.channel);
        return;
      }
      if (m.event.startsWith('pusher')) return;
      if (!m.channel.startsWith('side-')) this.seq(`news:${m.channel}`, typeof m.data === 'string' ? JSON.parse(m.data) : m.data);
    });
  }
  static async open(base: string, name: string): Promise<PusherBystander> {
    const b = new PusherBystander(name, await openWs(`${base}/app/${FUZZ_PUSHER_APP.key}?protocol=7&client=bystander&version=1`));
    for (const ch of Object.values(CHANNELS)) await b.#subscribe(ch.slice('news:'.length));
    return b;
  }
  onClosed(): void {
    for (const p of this.#subscribed.values()) p();
  }
  #subscribe(channel: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        this.#subscribed.set(channel, resolve);
        this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { auth: '', channel } }));
      }),
      REPLY_MS,
      `the subscription to ${channel}`,
    );
  }
  publish(): Promise<void> {
    return Promise.reject(new Error('the Pusher bystander only receives'));
  }
  async sideOp(i: number): Promise<void> {
    await this.#subscribe(`side-${i}`);
    this.ws.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: `side-${i}` } }));
  }
}

export async function startBystanders(base: string, protocols: string[]): Promise<Bystanders> {
  const all: Bystander[] = [];
  const publishers: [Proto, Bystander][] = [];
  for (let i = 0; i < 3; i++) all.push(await NativeBystander.open(base, `native-${i}`));
  publishers.push(['native', all[0]!]);
  if (protocols.includes('plain')) {
    for (let i = 0; i < 2; i++) all.push(await PlainBystander.open(base, `plain-${i}`));
    publishers.push(['plain', all[all.length - 2]!]);
  }
  if (protocols.includes('pond')) {
    for (let i = 0; i < 2; i++) all.push(await PondBystander.open(base, `pond-${i}`));
    publishers.push(['pond', all[all.length - 2]!]);
  }
  if (protocols.includes('phoenix')) {
    for (let i = 0; i < 2; i++) all.push(await PhoenixBystander.open(base, `phoenix-${i}`));
    publishers.push(['phoenix', all[all.length - 2]!]);
  }
  if (protocols.includes('pusher')) for (let i = 0; i < 2; i++) all.push(await PusherBystander.open(base, `pusher-${i}`));
  const published = new Map<string, number>();
  let sideOps = 0;
  let running = true;
  const pubLoops = publishers.map(async ([proto, p]) => {
    const channel = CHANNELS[proto];
    let n = 0;
    published.set(channel, 0);
    while (running && !p.closed) {
      await p.publish(++n);
      published.set(channel, n);
      await new Promise((r) => setTimeout(r, 3));
    }
  });
  const sideLoops = all.map(async (b, i) => {
    let k = 0;
    while (running && !b.closed) {
      await b.sideOp(i * 1_000_000 + k++);
      sideOps++;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const total = () => [...published.values()].reduce((a, b) => a + b, 0);
  return {
    async finish() {
      running = false;
      await Promise.all(pubLoops);
      await Promise.all(sideLoops);
      const missing = (b: Bystander) => [...published].some(([ch, n]) => (b.received.get(ch) ?? 0) < n);
      // bounded; what is still missing after it is reported below
      await waitFor(() => !all.some((b) => missing(b) && !b.closed), 20_000, 'every bystander to receive every publication').catch(() => {});
      const problems: string[] = [];
      let delivered = true;
      for (const b of all) {
        problems.push(...b.problems);
        for (const [ch, n] of published) {
          if ((b.received.get(ch) ?? 0) !== n) {
            delivered = false;
            problems.push(`${b.name}: ${ch}: received up to ${b.received.get(ch) ?? 0} of ${n}`);
          }
        }
      }
      return { published: total(), receivers: all.length, delivered: delivered && problems.length === 0, problems, sideOps };
    },
    close() {
      running = false;
      for (const b of all) b.close();
    },
  };
}
