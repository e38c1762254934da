// Well-behaved clients on the fuzzed server: they subscribe, publish, receive and keep doing side
// subscriptions while the fuzzer runs. Every publication must reach every one of them, in order.
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { FUZZ_SECRET } from './config.js';

export interface Bystanders {
  finish(): Promise<{ published: number; receivers: number; delivered: boolean; problems: string[]; sideOps: number }>;
  close(): void;
}

const CHANNEL = 'news:main';

async function jwt(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(FUZZ_SECRET));
}

/** A well-behaved client of some protocol: receives CHANNEL's publications, may publish, does side ops. */
export interface Bystander {
  readonly name: string;
  /** The last sequence number received (each must be the previous + 1). */
  readonly received: number;
  readonly problems: string[];
  /** Publish `seq` on CHANNEL and wait for the ack (only protocols that can). */
  publish?(seq: number): Promise<void>;
  /** One side operation (subscribe + unsubscribe another channel); resolves when both succeeded. */
  sideOp(i: number): Promise<void>;
  readonly closed: boolean;
  close(): void;
}

class NativeBystander implements Bystander {
  received = 0;
  readonly problems: string[] = [];
  seq(n: number): void {
    if (n !== this.received + 1 && this.problems.length < 20) this.problems.push(`${this.name}: got ${n} after ${this.received}`);
    this.received = n;
  }
  closed = false;
  #id = 10;
  #pending = new Map<number, { resolve: () => void; what: string }>();
  private constructor(
    readonly name: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { id?: number; error?: unknown; push?: { channel?: string; pub?: { data: { seq: number } } } };
        if (m.id === undefined && m.push === undefined) {
          ws.send('{}'); // ping → pong
          continue;
        }
        if (m.id !== undefined) {
          const p = this.#pending.get(m.id);
          this.#pending.delete(m.id);
          if (m.error) this.problems.push(`${name}: ${p?.what} failed: ${JSON.stringify(m.error)}`);
          p?.resolve();
          continue;
        }
        if (m.push?.channel === CHANNEL && m.push.pub) this.seq(m.push.pub.data.seq);
      }
    });
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.problems.push(`${name}: closed ${code} ${reason.toString()}`);
      for (const p of this.#pending.values()) p.resolve();
    });
  }

  static async open(base: string, name: string): Promise<NativeBystander> {
    const ws = new WebSocket(`${base}/connection/websocket`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const b = new NativeBystander(name, ws);
    await b.#cmd('connect', { token: await jwt(name) });
    await b.#cmd('subscribe', { channel: CHANNEL });
    return b;
  }

  #cmd(method: string, params: Record<string, unknown>): Promise<void> {
    const id = this.#id++;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, what: `${method} ${JSON.stringify(params).slice(0, 60)}` });
      this.ws.send(JSON.stringify({ id, [method]: params }));
    });
  }

  publish(seq: number): Promise<void> {
    return this.#cmd('publish', { channel: CHANNEL, data: { seq } });
  }

  async sideOp(i: number): Promise<void> {
    await this.#cmd('subscribe', { channel: `news:side-${i}` });
    await this.#cmd('unsubscribe', { channel: `news:side-${i}` });
  }

  close(): void {
    this.closed = true;
    this.ws.terminate();
  }
}

/** A plain-JSON client: token in the query, subscribe/unsubscribe with ids. */
class PlainBystander implements Bystander {
  received = 0;
  readonly problems: string[] = [];
  seq(n: number): void {
    if (n !== this.received + 1 && this.problems.length < 20) this.problems.push(`${this.name}: got ${n} after ${this.received}`);
    this.received = n;
  }
  closed = false;
  #id = 1;
  #pending = new Map<number, () => void>();
  private constructor(
    readonly name: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { type?: string; id?: number; channel?: string; data?: { seq: number }; code?: number };
      if (m.type === 'error') this.problems.push(`${name}: error ${JSON.stringify(m)}`);
      if (m.id !== undefined) {
        this.#pending.get(m.id)?.();
        this.#pending.delete(m.id);
        return;
      }
      if (m.channel === CHANNEL && m.type === 'publication') this.seq(m.data!.seq);
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.problems.push(`${name}: closed ${code}`);
      for (const p of this.#pending.values()) p();
    });
  }
  static async open(base: string, name: string): Promise<PlainBystander> {
    const ws = new WebSocket(`${base}/ws?token=${await jwt(name)}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const b = new PlainBystander(name, ws);
    await b.#cmd({ type: 'subscribe', channel: CHANNEL });
    return b;
  }
  #cmd(frame: Record<string, unknown>): Promise<void> {
    const id = this.#id++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }
  async sideOp(i: number): Promise<void> {
    await this.#cmd({ type: 'subscribe', channel: `news:side-${i}` });
    await this.#cmd({ type: 'unsubscribe', channel: `news:side-${i}` });
  }
  close(): void {
    this.closed = true;
    this.ws.terminate();
  }
}

/** A PondSocket client speaking the wire protocol: token in the query, JOIN_CHANNEL / LEAVE_CHANNEL. */
class PondBystander implements Bystander {
  received = 0;
  readonly problems: string[] = [];
  seq(n: number): void {
    if (n !== this.received + 1 && this.problems.length < 20) this.problems.push(`${this.name}: got ${n} after ${this.received}`);
    this.received = n;
  }
  closed = false;
  #acks = new Map<string, () => void>();
  private constructor(
    readonly name: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        if (line === '') continue;
        const m = JSON.parse(line) as { action: string; event: string; channelName: string; payload: { seq?: number } };
        if (m.action === 'ERROR' || (m.action === 'SYSTEM' && m.event === 'UNAUTHORIZED')) this.problems.push(`${name}: ${line.slice(0, 200)}`);
        if (m.action === 'SYSTEM' && m.event === 'ACKNOWLEDGE') {
          this.#acks.get(m.channelName)?.();
          this.#acks.delete(m.channelName);
        }
        if (m.action === 'BROADCAST' && m.channelName === CHANNEL) this.seq(m.payload.seq!);
      }
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.problems.push(`${name}: closed ${code}`);
      for (const p of this.#acks.values()) p();
    });
  }
  static async open(base: string, name: string): Promise<PondBystander> {
    const ws = new WebSocket(`${base}/api/socket?token=${await jwt(name)}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const b = new PondBystander(name, ws);
    await b.#join(CHANNEL);
    return b;
  }
  #n = 0;
  #join(channel: string): Promise<void> {
    return new Promise((resolve) => {
      this.#acks.set(channel, resolve);
      this.ws.send(JSON.stringify({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: channel, requestId: `${this.name}-${++this.#n}`, payload: {} }));
    });
  }
  async sideOp(i: number): Promise<void> {
    const channel = `news:side-${i}`;
    await this.#join(channel);
    this.ws.send(JSON.stringify({ action: 'LEAVE_CHANNEL', event: 'LEAVE_CHANNEL', channelName: channel, requestId: `${this.name}-${++this.#n}`, payload: {} }));
  }
  close(): void {
    this.closed = true;
    this.ws.terminate();
  }
}

export async function startBystanders(base: string, protocols: string[]): Promise<Bystanders> {
  const all: Bystander[] = [];
  for (let i = 0; i < 3; i++) all.push(await NativeBystander.open(base, `native-${i}`));
  if (protocols.includes('plain')) for (let i = 0; i < 2; i++) all.push(await PlainBystander.open(base, `plain-${i}`));
  if (protocols.includes('pond')) for (let i = 0; i < 2; i++) all.push(await PondBystander.open(base, `pond-${i}`));
  const publisher = all[0]!;
  let published = 0;
  let sideOps = 0;
  let running = true;
  const pubLoop = (async () => {
    while (running && !publisher.closed) {
      await publisher.publish!(++published);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const sideLoops = all.map(async (b, i) => {
    let k = 0;
    while (running && !b.closed) {
      await b.sideOp(i * 1_000_000 + k++);
      sideOps++;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  return {
    async finish() {
      running = false;
      await pubLoop;
      await Promise.all(sideLoops);
      const end = Date.now() + 20_000;
      while (Date.now() < end && all.some((b) => b.received < published && !b.closed)) await new Promise((r) => setTimeout(r, 20));
      const problems: string[] = [];
      let delivered = true;
      for (const b of all) {
        problems.push(...b.problems);
        if (b.received !== published) {
          delivered = false;
          problems.push(`${b.name}: received up to ${b.received} of ${published} publications`);
        }
      }
      return { published, receivers: all.length, delivered: delivered && problems.length === 0, problems, sideOps };
    },
    close() {
      running = false;
      for (const b of all) b.close();
    },
  };
}
