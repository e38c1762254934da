// Nodes for the webhook tests, each a Switchboard on Redis in its own process (webhook-node.ts),
// so a test can SIGKILL one.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { type ReceivedEvent, WebhookBackend } from '../../server/test/webhook-backend.js';
import { SdkClient } from './sdk.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@switchboard/server/testing';
import type { DeadLetter, WebhookStats } from '@switchboard/server';
import { API_KEY } from './cluster.js';
import { REDIS_ADDRESS } from './redis-env.js';

export const HOOK_SECRET = 'multinode-webhook-secret-0123';
export const NODE_TTL_MS = 2000;
const FIXTURE = fileURLToPath(new URL('./webhook-node.ts', import.meta.url));

export class WebhookNode {
  readonly proc: ChildProcess;
  out = '';
  port = 0;
  /** `prefix`: the Redis key prefix; `extraEnv` picks another engine (webhook-node.ts). */
  constructor(readonly name: string, prefix: string, url: string, extraEnv: NodeJS.ProcessEnv = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env, WH_REDIS: REDIS_ADDRESS, WH_PREFIX: prefix, WH_NAME: name, WH_URL: url, WH_SECRET: HOOK_SECRET, WH_NODE_TTL_MS: String(NODE_TTL_MS), ...extraEnv };
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }
  async ready(): Promise<this> {
    await waitFor(
      () => {
        const m = /\{"port":(\d+)\}/.exec(this.out);
        if (m) this.port = Number(m[1]);
        if (this.proc.exitCode !== null) throw new Error(`node ${this.name} exited: ${this.out}`);
        return m !== null;
      },
      90_000,
      `node ${this.name} to start`,
    );
    return this;
  }
  get ws(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }
  async api<T>(method: string, params: Record<string, unknown>): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/${method}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: JSON.stringify(params) });
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
    return body.result as T;
  }
  /** The node's "refusing" webhook (WH_DEAD_URL): its stats, dead letters, and this node's two journals' sizes. */
  async deadLetters(): Promise<{ stats: WebhookStats; deadLetters: DeadLetter<ReceivedEvent>[]; journal: { queued: number; dead: number } }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/wh-dead`);
    return (await res.json()) as { stats: WebhookStats; deadLetters: DeadLetter<ReceivedEvent>[]; journal: { queued: number; dead: number } };
  }
  /** Put the "refusing" webhook's dead letters back in its queue. */
  async redeliver(): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.port}/wh-redeliver`);
    return ((await res.json()) as { redelivered: number }).redelivered;
  }
  /** The node's webhook queue: its stats, whether it is durable, and the node's id. */
  async hookStats(): Promise<WebhookStats & { durable: boolean; id: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/wh-stats`);
    return (await res.json()) as WebhookStats & { durable: boolean; id: string };
  }
  kill(signal: NodeJS.Signals): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.proc.kill(signal);
    });
  }
}

/** A port nothing listens on now (taken from the OS, then released), for the receiver to come up on later. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * The webhook queue survives its node, on any engine with a webhook journal: two node processes,
 * the receiver down (nothing listening on its port), the node holding undelivered events
 * SIGKILLed, then the receiver up: every event the dead node had journaled arrives, delivered by
 * the survivor that claimed its journal (at least once, de-duplicable by id), in order per channel,
 * signed; the journals drain; occupied/vacated once per transition across the two nodes. A second
 * webhook refuses (400) at first: the dead node's dead letters move to the survivor's, which
 * redelivers them once the endpoint accepts.
 */
export async function durableWebhookScenario(
  t: TestContext,
  engine: { node: (name: string, url: string, env: NodeJS.ProcessEnv) => WebhookNode; journalEntries: () => Promise<number> },
): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/hooks`;
  const refusing = await new WebhookBackend(HOOK_SECRET).listen();
  refusing.mode = 400;
  const nodes = [engine.node('A', url, { WH_DEAD_URL: refusing.url }), engine.node('B', url, { WH_DEAD_URL: refusing.url })];
  const backend = new WebhookBackend(HOOK_SECRET);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    if (backend.server.listening) await backend.close();
    await refusing.close();
  });
  const [a, b] = await Promise.all(nodes.map((n) => n.ready()));
  const client = async (node: WebhookNode, user: string) => {
    const cl = await SdkClient.connect(node.ws, user);
    clients.push(cl);
    return cl;
  };
  assert.equal((await a!.hookStats()).durable, true, 'the webhook queue is journaled in the engine');

  // Events on A while the receiver is down: x1 in chat:d1 and chat:d2, x2 in chat:d1 then gone.
  // A's events: connect ×2, channel_occupied ×2, subscribe ×3, presence_join ×3, presence_leave,
  // unsubscribe, disconnect = 13. B's: connect, subscribe, presence_join.
  const x1 = await client(a!, 'x1');
  const x2 = await client(a!, 'x2');
  await x1.subscribe('chat:d1');
  await x1.subscribe('chat:d2');
  await x2.subscribe('chat:d1');
  x2.close();
  const A_EVENTS = 13;
  await waitFor(
    async () => {
      const s = await a!.hookStats();
      return s.journaled === A_EVENTS && s.failures > 0;
    },
    20_000,
    "A's 13 events journaled, delivery failing",
  );
  const y1 = await client(b!, 'y1');
  await y1.subscribe('chat:d1');
  await waitFor(async () => (await b!.hookStats()).journaled === 3, 20_000, "B's 3 events journaled");
  const before = await a!.hookStats();
  assert.equal(before.delivered, 0, 'the receiver is down: nothing delivered yet');
  assert.equal(before.queued + before.inFlight, A_EVENTS, 'all of them pending on A');
  assert.equal(before.deadLettered, 0);
  // the refusing webhook's copies of A's events are dead letters, written to A's dead-letter journal
  await waitFor(
    async () => {
      const d = await a!.deadLetters();
      return d.stats.deadLettered === A_EVENTS && d.journal.dead === A_EVENTS && d.journal.queued === 0;
    },
    20_000,
    "A's 13 dead letters in its dead-letter journal",
  );
  const deadOnA = (await a!.deadLetters()).deadLetters;
  assert.ok(deadOnA.every((d) => d.error === 'HTTP 400' && d.attempts === 1));

  // A dies with its queue; B reaps its clients and claims its journal, still failing to deliver.
  await a!.kill('SIGKILL');
  x1.close();
  await waitFor(async () => (await b!.hookStats()).claimed >= A_EVENTS, NODE_TTL_MS * 10, "B claims A's journal");
  // and A's dead letters are B's, as A recorded them
  await waitFor(async () => (await b!.deadLetters()).stats.deadLettersClaimed === A_EVENTS, NODE_TTL_MS * 10, "B takes A's dead letters");
  const deadOnB = (await b!.deadLetters()).deadLetters;
  assert.deepEqual(
    deadOnB.filter((d) => d.event.node === 'A').map((d) => [d.event.id, d.error, d.attempts, d.at]),
    deadOnA.map((d) => [d.event.id, d.error, d.attempts, d.at]),
    "A's dead letters, kept by B",
  );
  // the endpoint accepts again: B redelivers them (and its own)
  refusing.mode = 200;
  assert.ok((await b!.redeliver()) >= A_EVENTS);
  await waitFor(() => refusing.unique().filter((e) => e.node === 'A').length === A_EVENTS, 20_000, "A's dead letters delivered by B");
  assert.deepEqual(
    refusing.unique().filter((e) => e.node === 'A').map((e) => e.id),
    deadOnA.map((d) => d.event.id),
    "A's dead letters, in the order A put them there",
  );
  assert.equal(refusing.badSignatures, 0);

  // The receiver comes up on the port the nodes were given.
  await backend.listen(port);
  await waitFor(
    () => backend.unique().filter((e) => e.node === 'A').length === A_EVENTS && backend.of('channel_vacated', 'chat:d2').length === 1 && backend.of('disconnect').some((e) => e.user === 'x1'),
    30_000,
    "A's events and the survivor's report of A's clients",
  );

  const fromA = backend.unique().filter((e) => e.node === 'A');
  const count = (type: string, channel?: string) => fromA.filter((e) => e.type === type && (channel === undefined || e.channel === channel)).length;
  assert.deepEqual(
    fromA.map((e) => e.user ?? '').filter((u) => u !== '').sort(),
    ['x1', 'x1', 'x1', 'x1', 'x1', 'x2', 'x2', 'x2', 'x2', 'x2', 'x2'],
    "A's events of its users",
  );
  assert.equal(count('connect'), 2);
  assert.equal(count('disconnect'), 1);
  assert.equal(count('channel_occupied', 'chat:d1'), 1);
  assert.equal(count('channel_occupied', 'chat:d2'), 1);
  assert.equal(count('subscribe'), 3);
  assert.equal(count('presence_join'), 3);
  assert.equal(count('unsubscribe'), 1);
  assert.equal(count('presence_leave'), 1);
  // exactly once per transition across the cluster; the survivor reported x1's loss
  assert.equal(backend.of('channel_occupied', 'chat:d1').length, 1);
  assert.equal(backend.of('channel_vacated', 'chat:d1').length, 0, 'y1 is still in chat:d1');
  const lost = backend.of('disconnect').find((e) => e.user === 'x1')!;
  assert.equal(lost.lost, true);
  assert.equal(lost.node, 'B');
  // signed; in order per channel among the events one node emitted, by first arrival
  assert.equal(backend.badSignatures, 0);
  for (const ch of ['chat:d1', 'chat:d2']) {
    for (const node of ['A', 'B']) {
      const seqs = backend.unique().filter((e) => e.channel === ch && e.node === node).map((e) => e.seq!);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!, `${ch} from ${node} in order: ${seqs.join(',')}`);
    }
  }
  // delivered means removed: the journals (dead-letter journals too) drain
  await waitFor(async () => (await engine.journalEntries()) === 0, 20_000, 'the journals to drain');
  // the last subscriber of chat:d1 leaves on B: vacated once, though chat:d1 was occupied on A
  y1.close();
  await waitFor(() => backend.of('channel_vacated', 'chat:d1').length === 1, 20_000, 'chat:d1 vacated');
  assert.equal(backend.of('channel_occupied', 'chat:d1').length, 1);
  const stats = await b!.hookStats();
  assert.equal(stats.deadLettered, 0);
  t.diagnostic(`duplicates delivered: ${backend.events.length - backend.unique().length}; B claimed ${stats.claimed}`);
}
