import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Centrifuge, Subscription } from 'centrifuge';
import { createApiHandler, createSwitchboard, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import { SECRET, sdk, token, until } from '../../server/test/helpers.js';

/** An engine for one node (each node gets its own instance on the shared backend). */
export type AckEngine = () => Pick<SwitchboardOptions, 'broker' | 'history' | 'presence' | 'acks'>;
type T = { after: (fn: () => Promise<void> | void) => void };

const CH = 'inbox:42';

interface Node {
  sb: Switchboard;
  url: string;
  stop(): Promise<void>;
}

async function node(t: T, engine: AckEngine, name: string, ackTimeoutMs = 60_000): Promise<Node> {
  const sb = createSwitchboard({
    ...engine(),
    name,
    namespaces: { inbox: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000, acknowledge: true, ackTimeoutMs } },
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

interface Client {
  c: Centrifuge;
  sub: Subscription;
  /** offsets received, in order (redeliveries included) */
  got: number[];
  subscribed: number;
  errors: { code: number; message: string }[];
  ack(offsets: number[]): Promise<unknown>;
}

/** The official SDK, unchanged: the client id goes in the subscription's data. */
async function client(t: T, url: string, user: string, ackClient?: unknown, wait = true): Promise<Client> {
  const c = sdk(url, { token: await token({ sub: user }) });
  t.after(() => c.disconnect());
  const sub = c.newSubscription(CH, ackClient !== undefined ? { data: { ackClient } } : {});
  const me: Client = { c, sub, got: [], subscribed: 0, errors: [], ack: async (offsets) => (await c.rpc('$ack', { channel: CH, offsets })).data };
  sub.on('publication', (ctx) => me.got.push(ctx.offset!));
  sub.on('subscribed', () => me.subscribed++);
  // a refused subscribe (code >= 100) ends in 'unsubscribed' with the error's code and message
  sub.on('unsubscribed', (ctx) => me.errors.push({ code: ctx.code, message: ctx.reason }));
  c.connect();
  sub.subscribe();
  if (wait) await until(() => me.subscribed === 1, 10_000, `${user} to subscribe`);
  return me;
}

const count = (got: number[], off: number) => got.filter((o) => o === off).length;

/** The node's server HTTP API on its own port: `POST /api/<method>` → the parsed reply. */
async function httpApi(t: T, sb: Switchboard): Promise<(method: string, params: unknown) => Promise<unknown>> {
  const handler = createApiHandler(sb, { key: 'k' });
  const http = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api`;
  return async (method, params) => (await fetch(`${base}/${method}`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: JSON.stringify(params) })).json();
}

/** A client that comes back on another node (the first one gone) gets what it had not acknowledged; any node answers who has not acknowledged. */
export async function ackMoveScenario(t: T, engine: AckEngine): Promise<void> {
  const a = await node(t, engine, 'A');
  const b = await node(t, engine, 'B');
  const onA = await client(t, a.url, 'alice', 'phone');
  for (let n = 1; n <= 3; n++) await b.sb.publish(CH, { n });
  await until(() => onA.got.length === 3, 10_000, 'three publications on A');
  assert.deepEqual(await onA.ack([1]), { acked: 1 });
  assert.deepEqual(await b.sb.unacknowledged(CH, 2), [{ user: 'alice', client: 'phone' }], 'B knows what A delivered');
  assert.deepEqual(await b.sb.unacknowledged(CH, 1), []);
  const apiB = await httpApi(t, b.sb);
  assert.deepEqual(await apiB('unacknowledged', { channel: CH, offset: 3 }), { result: { consumers: [{ user: 'alice', client: 'phone' }] } }, "B's HTTP API too");

  // node A goes away (the client with it); the same client comes back on B
  onA.c.disconnect();
  await a.stop();
  const onB = await client(t, b.url, 'alice', 'phone');
  await until(() => onB.got.length === 2, 10_000, 'the two unacknowledged ones on B');
  await b.sb.publish(CH, { n: 4 });
  await until(() => onB.got.length === 3, 10_000, 'the live one after them');
  assert.deepEqual(onB.got, [2, 3, 4]);
  assert.deepEqual(await onB.ack([2, 3, 4]), { acked: 3 });
  for (const off of [2, 3, 4]) assert.deepEqual(await b.sb.unacknowledged(CH, off), []);
  assert.deepEqual(await apiB('unacknowledged', { channel: CH, offset: 3 }), { result: { consumers: [] } });
}

/** Acks are per client: two clients of one user on two nodes, each acknowledges for itself; redelivery after the timeout on the node it is on, none after its ack. */
export async function ackPerClientScenario(t: T, engine: AckEngine): Promise<void> {
  const a = await node(t, engine, 'A', 300);
  const b = await node(t, engine, 'B', 300);
  const phone = await client(t, a.url, 'alice', 'phone');
  const laptop = await client(t, b.url, 'alice', 'laptop');
  await a.sb.publish(CH, { n: 1 });
  await until(() => phone.got.length >= 1 && laptop.got.length >= 1, 10_000, 'both clients to receive offset 1');
  assert.deepEqual(await phone.ack([1]), { acked: 1 });
  // node B records the laptop's delivery in the store in the background, so the laptop can have
  // offset 1 before its record is there: wait for the record; the phone's must stay gone
  await until(async () => (await a.sb.unacknowledged(CH, 1)).length > 0, 10_000, "the laptop's delivery to be recorded");
  assert.deepEqual(await a.sb.unacknowledged(CH, 1), [{ user: 'alice', client: 'laptop' }], 'the phone acknowledged for itself only');
  // the laptop does not ack: node B sends it again, twice
  await until(() => count(laptop.got, 1) >= 3, 20_000, 'offset 1 sent again twice to the laptop');
  const phoneSeen = count(phone.got, 1);
  assert.deepEqual(await laptop.ack([1]), { acked: 1 });
  const laptopSeen = count(laptop.got, 1);
  // offset 2 redelivered twice to both means several timeouts passed since the acks of offset 1
  await b.sb.publish(CH, { n: 2 });
  await until(() => count(laptop.got, 2) >= 3 && count(phone.got, 2) >= 3, 20_000, 'offset 2 sent again twice to each');
  assert.equal(count(phone.got, 1), phoneSeen, 'no redelivery of offset 1 to the phone after its ack');
  assert.equal(count(laptop.got, 1), laptopSeen, 'nor to the laptop after its own');
  assert.deepEqual(await b.sb.unacknowledged(CH, 2), [
    { user: 'alice', client: 'laptop' },
    { user: 'alice', client: 'phone' },
  ]);
}

/** A bad ackClient is refused with 107 at subscribe, the connection goes on; `unacknowledged` refuses bad input. */
export async function ackBadInputScenario(t: T, engine: AckEngine): Promise<void> {
  const a = await node(t, engine, 'A');
  for (const bad of ['', 'has space', 'x'.repeat(65), 42]) {
    const cl = await client(t, a.url, 'alice', bad, false);
    await until(() => cl.errors.length > 0, 10_000, `the subscribe with ackClient ${JSON.stringify(bad)} to fail`);
    assert.equal(cl.errors[0]!.code, 107);
    assert.match(cl.errors[0]!.message, /ackClient/);
    assert.equal(cl.c.state, 'connected');
  }
  await assert.rejects(a.sb.unacknowledged(CH, 0), { code: 107 });
  await assert.rejects(a.sb.unacknowledged('nope:1', 1), { code: 102 });
  await assert.rejects(a.sb.unacknowledged('plain', 1), { code: 108 });
}
