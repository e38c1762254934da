// Token revocation, user status and connection queries on one node or across several: the same
// scenario runs on memory (one node) and on Redis (two nodes in one process).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { Centrifuge, State, SubscriptionState } from 'centrifuge';
import { Socket as PhoenixSocket } from 'phoenix';
import { createApiHandler, createSwitchboard, type LifecycleEvent, type Switchboard, type SwitchboardOptions } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { StreamReader } from './http-transport-helpers.js';

export const SECRET = 'cluster-features-secret-for-hs256';
const API_KEY = 'cluster-features-api-key';

export interface FeatureNode {
  sb: Switchboard;
  http: Server;
  ws: string;
  plain: string;
  /** http://host:port (the uni_sse transport is at /connection/uni_sse). */
  base: string;
  /** The Phoenix endpoint (the official client appends /websocket). */
  phoenix: string;
  api<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** The raw API reply (result or error). */
  call(method: string, params: unknown): Promise<{ result?: unknown; error?: { code: number; message: string } }>;
  close(): Promise<void>;
}

/** The options every node of the scenario needs besides its engine. */
export function featureOptions(): SwitchboardOptions {
  return {
    token: { hmacSecret: SECRET },
    userStatus: { activityIntervalMs: 0 },
    cluster: { nodeTtlMs: 1500, revocationReloadMs: 1000 },
    namespaces: { chat: { allowSubscribeForClient: true }, status: {} },
  };
}

export async function startFeatureNode(options: SwitchboardOptions): Promise<FeatureNode> {
  const sb = createSwitchboard(options);
  const api = createApiHandler(sb, { key: API_KEY });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  sb.attach(http, '/connection/websocket');
  sb.attach(http, { path: '/ws', protocol: 'plain' });
  sb.attach(http, { transport: 'uni_sse' });
  sb.attach(http, { path: '/socket/websocket', protocol: 'phoenix' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const call = async (method: string, params: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/${method}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: JSON.stringify(params) });
    return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
  };
  return {
    sb,
    http,
    ws: `ws://127.0.0.1:${port}/connection/websocket`,
    plain: `ws://127.0.0.1:${port}/ws`,
    base: `http://127.0.0.1:${port}`,
    phoenix: `ws://127.0.0.1:${port}/socket`,
    call,
    async api<T>(method: string, params: Record<string, unknown> = {}) {
      const r = await call(method, params);
      if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
      return r.result as T;
    },
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

export function jwt(claims: Record<string, unknown>, iat = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(iat).sign(new TextEncoder().encode(SECRET));
}

/** The official SDK, recording disconnects. */
class Client {
  readonly c: Centrifuge;
  readonly disconnects: { code: number; reason: string }[] = [];
  constructor(url: string, token: string | (() => Promise<string>)) {
    this.c = new Centrifuge(url, {
      websocket: WebSocket,
      ...(typeof token === 'string' ? { token } : { getToken: token }),
      minReconnectDelay: 50,
      maxReconnectDelay: 300,
      timeout: 3000,
    });
    this.c.on('disconnected', (ctx) => this.disconnects.push({ code: ctx.code, reason: ctx.reason }));
    this.c.on('error', () => {});
  }
  get state(): string {
    return this.c.state;
  }
}

export async function clusterFeaturesScenario(t: TestContext, nodes: FeatureNode[], restart: () => Promise<FeatureNode>): Promise<void> {
  const first = nodes[0]!;
  const last = nodes[nodes.length - 1]!;
  const clients: Client[] = [];
  const sockets: WebSocket[] = [];
  t.after(() => {
    for (const c of clients) c.c.disconnect();
    for (const s of sockets) s.terminate();
  });
  const connect = async (node: FeatureNode, token: string | (() => Promise<string>)) => {
    const cl = new Client(node.ws, token);
    clients.push(cl);
    cl.c.connect();
    await waitFor(() => cl.state === 'connected' || cl.disconnects.length > 0, 10_000, 'the connect outcome');
    return cl;
  };
  const now = () => Math.floor(Date.now() / 1000);

  await t.test('revoke_token: the connection holding the jti is closed with 3520 at once; others stay; it cannot come back', async () => {
    const victimToken = await jwt({ sub: 'rv', jti: 'jti-victim' });
    const victim = await connect(first, victimToken);
    const other = await connect(last, await jwt({ sub: 'rv', jti: 'jti-other' }));
    assert.equal(victim.state, 'connected');
    await last.api('revoke_token', { uid: 'jti-victim' });
    await waitFor(() => victim.disconnects.length > 0, 10_000, 'the revoked connection to close');
    assert.deepEqual(victim.disconnects[0], { code: 3520, reason: 'token revoked' });
    assert.equal(victim.state, 'disconnected', '3520 is terminal: the SDK does not reconnect');
    assert.equal(other.state, 'connected');
    for (const node of nodes) {
      const again = await connect(node, victimToken);
      await waitFor(() => again.disconnects.length > 0, 10_000, 'the reconnect to be refused');
      assert.equal(again.disconnects[0]!.code, 3520);
    }
  });

  await t.test('revoke_token with a plain-protocol connection: closed with 3520 at once, across nodes, and refused when it comes back (403 before the upgrade, or 3520 right after it)', async () => {
    const plainToken = await jwt({ sub: 'rvp', jti: 'jti-plain' });
    const open = async (node: FeatureNode) => {
      const ws = new WebSocket(`${node.plain}?token=${plainToken}`);
      sockets.push(ws);
      // A node that has loaded its revocation list refuses the upgrade itself (403, see
      // upgrade-gate.ts); before that the connect step closes the socket with 3520.
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
        ws.once('unexpected-response', (_req, res) => resolve({ code: res.statusCode ?? 0, reason: 'refused before the upgrade' }));
        ws.on('error', () => {});
      });
      return { ws, closed };
    };
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), 10_000).unref())]);
    const held = await open(last);
    await within(new Promise((resolve, reject) => (held.ws.once('open', resolve), held.ws.once('error', reject))), 'the plain connection to open');
    await waitFor(async () => (await first.api<{ connections: unknown[] }>('connections', { user: 'rvp' })).connections.length === 1, 10_000, 'the plain connection to register');
    await first.api('revoke_token', { uid: 'jti-plain' });
    assert.deepEqual(await within(held.closed, 'the revoked plain connection to close'), { code: 3520, reason: 'token revoked' });
    for (const node of nodes) {
      const again = await open(node);
      assert.ok([3520, 403].includes((await within(again.closed, 'the plain reconnect to be refused')).code), 'refused with 3520 or 403');
    }
  });

  await t.test('revoke_token with a Phoenix connection (the official client): closed with 3520 at once, across nodes; each reconnect refused (403 before the upgrade, or 3520)', async () => {
    const phxToken = await jwt({ sub: 'rvx', jti: 'jti-phoenix' });
    const socket = new PhoenixSocket(last.phoenix, { transport: WebSocket, params: { token: phxToken }, reconnectAfterMs: () => 100, timeout: 3000 });
    const closes: number[] = [];
    let opens = 0;
    socket.onOpen(() => void opens++);
    socket.onClose((e: unknown) => void closes.push((e as { code: number }).code));
    socket.onError(() => {});
    t.after(() => socket.disconnect());
    socket.connect();
    await waitFor(() => opens === 1, 10_000, 'the Phoenix socket open');
    await waitFor(async () => (await first.api<{ connections: unknown[] }>('connections', { user: 'rvx', protocol: 'phoenix' })).connections.length === 1, 10_000, 'the Phoenix connection to register');
    await first.api('revoke_token', { uid: 'jti-phoenix' });
    await waitFor(() => closes.length >= 1, 10_000, 'the revoked Phoenix connection to close');
    assert.equal(closes[0], 3520);
    // the official client reconnects on its own (it has no terminal close codes): each attempt is
    // refused before it registers, at the upgrade (the client sees 1006) once the node has loaded its
    // revocation list, or closed with 3520 right after the upgrade before that
    await waitFor(() => closes.length >= 3, 10_000, 'two refused reconnects');
    for (const code of closes.slice(1, 3)) assert.ok([3520, 1006].includes(code), `a refused reconnect: ${code}`);
    assert.deepEqual((await first.api<{ connections: unknown[] }>('connections', { user: 'rvx' })).connections, []);
    socket.disconnect();
  });

  await t.test('invalidate_user_tokens: every connection of the user with an older iat closes with 3520 on every node; newer tokens work', async () => {
    const old = now() - 60;
    const a = await connect(first, await jwt({ sub: 'inv' }, old));
    const b = await connect(last, await jwt({ sub: 'inv' }, old));
    const bystander = await connect(first, await jwt({ sub: 'not-inv' }, old));
    await first.api('invalidate_user_tokens', { user: 'inv', issued_before: now() - 30 });
    await waitFor(() => a.disconnects.length > 0 && b.disconnects.length > 0, 10_000, 'both connections to close');
    assert.equal(a.disconnects[0]!.code, 3520);
    assert.equal(b.disconnects[0]!.code, 3520);
    assert.equal(bystander.state, 'connected');
    const fresh = await connect(last, await jwt({ sub: 'inv' }));
    assert.equal(fresh.state, 'connected', 'a token issued after the cut connects');
    const stale = await connect(last, await jwt({ sub: 'inv' }, old));
    assert.equal(stale.disconnects[0]?.code, 3520);
  });

  await t.test('a revoked subscription token is refused (103), a revoked token at refresh disconnects with 3520', async () => {
    const conn = await connect(first, await jwt({ sub: 'subr' }));
    await last.api('revoke_token', { uid: 'sub-jti' });
    const subToken = await jwt({ sub: 'subr', channel: 'chat:private', jti: 'sub-jti' });
    const sub = conn.c.newSubscription('chat:private', { token: subToken });
    const errors: number[] = [];
    sub.on('error', (ctx) => errors.push(ctx.error.code));
    sub.on('unsubscribed', (ctx) => errors.push(ctx.code));
    sub.subscribe();
    await waitFor(() => errors.length > 0, 10_000, 'the subscribe error');
    assert.equal(errors[0], 103);
    sub.unsubscribe();
    // refresh: the first token expires in 2 s; the SDK asks for a new one, which is revoked
    let calls = 0;
    const refreshing = await connect(first, async () => {
      calls++;
      return calls === 1 ? jwt({ sub: 'refr', exp: now() + 2 }) : jwt({ sub: 'refr', jti: 'refresh-jti' });
    });
    assert.equal(refreshing.state, 'connected');
    await first.api('revoke_token', { uid: 'refresh-jti' });
    await waitFor(() => refreshing.disconnects.length > 0, 15_000, 'the refresh to be refused');
    assert.equal(refreshing.disconnects[0]!.code, 3520);
    assert.ok(calls >= 2, 'the SDK refreshed');
  });

  await t.test('revocations survive a restart: a new node on the same engine refuses the revoked token', async (st) => {
    const fresh = await restart();
    st.after(async () => {
      for (const c of clients) if (c.c.state !== State.Disconnected) c.c.disconnect();
      await fresh.close();
    });
    const again = await connect(fresh, await jwt({ sub: 'rv', jti: 'jti-victim' }));
    assert.equal(again.disconnects[0]?.code, 3520);
    const ok = await connect(fresh, await jwt({ sub: 'rv', jti: 'jti-fine' }));
    assert.equal(ok.state, 'connected');
  });

  await t.test('user status: online on connect anywhere, offline after the last connection closes; last_seen moves; the status channel delivers changes and refuses a subscriber without a token (103)', async () => {
    const status = async () => (await last.api<{ statuses: { user: string; online: boolean; last_seen?: number }[] }>('user_status', { users: ['st'] })).statuses[0]!;
    assert.deepEqual(await status(), { user: 'st', online: false });
    const watcher = await connect(last, await jwt({ sub: 'watcher' }));
    const changes: { online: boolean; last_seen: number }[] = [];
    // the status channel is private ($): without a subscription token it is refused (103)
    const refused = watcher.c.newSubscription('$status:st');
    const refusal = new Promise<number>((resolve) => refused.on('unsubscribed', (ctx) => resolve(ctx.code)));
    refused.subscribe();
    assert.equal(await Promise.race([refusal, new Promise<string>((r) => setTimeout(() => r('no answer'), 10_000).unref())]), 103);
    watcher.c.removeSubscription(refused);
    const sub = watcher.c.newSubscription('$status:st', { token: await jwt({ sub: 'watcher', channel: '$status:st' }) });
    sub.on('publication', (ctx) => changes.push(ctx.data as { online: boolean; last_seen: number }));
    sub.subscribe();
    await waitFor(() => sub.state === SubscriptionState.Subscribed, 10_000, 'the status subscription');
    const before = Date.now();
    const a = await connect(first, await jwt({ sub: 'st' }));
    await waitFor(async () => (await status()).online, 10_000, 'st online');
    const seen1 = (await status()).last_seen!;
    assert.ok(seen1 >= before - 5);
    const b = await connect(last, await jwt({ sub: 'st' }));
    await waitFor(() => changes.length >= 1, 10_000, 'the online change');
    assert.equal(changes[0]!.online, true);
    // explicit activity moves last_seen
    await waitFor(() => Date.now() > seen1 + 5, 1000, 'the clock to move');
    await b.c.rpc('update_user_status', {});
    await waitFor(async () => (await status()).last_seen! > seen1, 10_000, 'activity to move last_seen');
    a.c.disconnect();
    await waitFor(async () => (await status()).online === true, 10_000, 'still online with one connection');
    b.c.disconnect();
    await waitFor(async () => !(await status()).online, 10_000, 'st offline');
    await waitFor(() => changes.length >= 2, 10_000, 'the offline change');
    assert.deepEqual(
      changes.map((c) => c.online),
      [true, false],
      'one change per transition, whatever the number of connections',
    );
    assert.equal((await status()).last_seen, changes[1]!.last_seen);
  });

  await t.test("user status: a node that stops renewing its lease is taken for dead: its users go offline within the lease, told by a survivor", async () => {
    const sb = first.sb;
    const watcher = await connect(first, await jwt({ sub: 'watcher2' }));
    const changes: { online: boolean }[] = [];
    const sub = watcher.c.newSubscription('$status:ghost', { token: await jwt({ sub: 'watcher2', channel: '$status:ghost' }) });
    sub.on('publication', (ctx) => changes.push(ctx.data as { online: boolean }));
    sub.subscribe();
    await waitFor(() => sub.state === SubscriptionState.Subscribed, 10_000, 'the status subscription');
    // a node that died with one connection of user "ghost": it never renews its lease
    await sb.stateStore.heartbeat('ghost-node', 1000);
    await sb.stateStore.join('u:ghost', 'ghost-conn', 'ghost-node', JSON.stringify({ user: 'ghost' }), 1);
    const s = await last.api<{ statuses: { online: boolean }[] }>('user_status', { users: ['ghost'] });
    assert.equal(s.statuses[0]!.online, true);
    await waitFor(async () => !(await last.api<{ statuses: { online: boolean }[] }>('user_status', { users: ['ghost'] })).statuses[0]!.online, 15_000, 'ghost offline');
    await waitFor(() => changes.length === 1, 10_000, 'one offline change');
    assert.equal(changes[0]!.online, false);
  });

  await t.test("order per client: each client's events are emitted connect, its subscribes and unsubscribes, then disconnect, seq never going back, with its user's other connections busy at once", async () => {
    const node = first;
    const events: LifecycleEvent[] = [];
    const unlisten = node.sb.lifecycle.listen((e) => void (e.user === 'order' && events.push(e)), { channels: (ch) => ch.startsWith('chat:order-') });
    try {
      const tok = await jwt({ sub: 'order' });
      // eight connections of one user at once: their connects queue on the user's group while
      // their subscribes (two channels each) go to the channel groups
      const cls = Array.from({ length: 8 }, () => new Client(node.ws, tok));
      clients.push(...cls);
      const subs = cls.map((cl, i) => [0, 1].map((j) => cl.c.newSubscription(`chat:order-${i}-${j}`)));
      cls.forEach((cl, i) => {
        for (const sub of subs[i]!) sub.subscribe();
        cl.c.connect();
      });
      await waitFor(() => subs.flat().every((sub) => sub.state === SubscriptionState.Subscribed), 10_000, 'every subscription');
      for (const pair of subs) pair[0]!.unsubscribe();
      for (const cl of cls) cl.c.disconnect(); // the other subscription leaves with the connection
      await waitFor(() => events.filter((e) => e.type === 'disconnect').length === 8, 15_000, 'eight disconnects');
      await waitFor(() => events.filter((e) => e.type === 'unsubscribe').length === 16, 15_000, 'sixteen unsubscribes');
      const byClient = new Map<string, LifecycleEvent[]>();
      for (const e of events) byClient.set(e.client!, [...(byClient.get(e.client!) ?? []), e]);
      assert.equal(byClient.size, 8);
      for (const [client, evs] of byClient) {
        const types = evs.map((e) => `${e.type}${e.channel !== undefined ? ':' + e.channel.replace(/^chat:order-\d+-/, '') : ''}`);
        assert.equal(types[0], 'connect', `${client}: connect first (${types.join(' ')})`);
        assert.equal(types.at(-1), 'disconnect', `${client}: disconnect last (${types.join(' ')})`);
        assert.equal(types.length, 6, `${client}: ${types.join(' ')}`);
        for (const ch of ['0', '1']) assert.ok(types.indexOf(`subscribe:${ch}`) < types.indexOf(`unsubscribe:${ch}`), `${client}: subscribe before unsubscribe (${types.join(' ')})`);
        const seqs = evs.map((e) => e.seq!);
        assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `${client}: seq never goes back (${seqs.join(' ')})`);
      }
    } finally {
      unlisten();
    }
  });

  await t.test('connections: each filter, across nodes, with pagination', async () => {
    const meta = { tenant: 'acme', tier: 2 };
    const c1 = await connect(first, await jwt({ sub: 'cq1', meta, info: { name: 'Cq One' } }));
    const c2 = await connect(last, await jwt({ sub: 'cq1' }));
    const c3 = await connect(last, await jwt({ sub: 'cq2', meta: { tenant: 'other' } }));
    const plain = new WebSocket(`${first.plain}?token=${await jwt({ sub: 'cq3' })}`);
    sockets.push(plain);
    await new Promise<void>((resolve, reject) => {
      plain.once('open', () => resolve());
      plain.once('error', reject);
    });
    const s1 = c1.c.newSubscription('chat:cq');
    s1.subscribe();
    const s3 = c3.c.newSubscription('chat:cq');
    s3.subscribe();
    await waitFor(() => s1.state === SubscriptionState.Subscribed && s3.state === SubscriptionState.Subscribed, 10_000, 'subscriptions');
    type Page = { connections: { client: string; user: string; node: string; protocol: string; transport: string; channels: string[]; age: number; meta?: unknown; info?: unknown }[]; next_cursor?: string };
    const users = async (q: Record<string, unknown>) => (await last.api<Page>('connections', q)).connections.map((c) => c.user).sort();
    await waitFor(async () => (await users({ user: 'cq3' })).length === 1, 10_000, 'the plain connection to register');
    // a unidirectional SSE connection on the first node, found by its transport from the last one
    const sse = new StreamReader(`${first.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: await jwt({ sub: 'cq4' }) }))}`, 'sse');
    t.after(() => sse.close());
    await waitFor(async () => (await users({ user: 'cq4' })).length === 1, 10_000, 'the uni_sse connection to register');
    assert.deepEqual(await users({ transport: 'uni_sse' }), ['cq4']);
    const cq1 = (await last.api<Page>('connections', { user: 'cq1', meta: { tenant: 'acme' } })).connections;
    assert.equal(cq1.length, 1);
    assert.deepEqual(cq1[0]!.info, { name: 'Cq One' }, 'the connection info of the token');
    assert.equal(cq1[0]!.node, first.sb.name);
    assert.deepEqual(await users({ user: 'cq1' }), ['cq1', 'cq1']);
    assert.deepEqual(await users({ channel: 'chat:cq' }), ['cq1', 'cq2']);
    assert.deepEqual(await users({ protocol: 'plain' }), ['cq3']);
    assert.deepEqual(await users({ meta: { tenant: 'acme' } }), ['cq1']);
    assert.deepEqual(await users({ meta: { tenant: 'acme', tier: 3 } }), []);
    assert.deepEqual(await users({ transport: 'websocket', user: 'cq2' }), ['cq2']);
    assert.deepEqual(await users({ transport: 'sse' }), []);
    const one = (await last.api<Page>('connections', { user: 'cq2' })).connections[0]!;
    assert.deepEqual(one.channels, ['chat:cq']);
    assert.equal(one.protocol, 'centrifuge');
    assert.equal(one.transport, 'websocket');
    assert.deepEqual(one.meta, { tenant: 'other' });
    assert.ok(one.age >= 0);
    if (nodes.length > 1) {
      const byUser = (await last.api<Page>('connections', { user: 'cq1' })).connections;
      assert.equal(new Set(byUser.map((c) => c.node)).size, 2, 'found on both nodes');
    }
    // pagination: pages of 2 cover every connection once, in client id order
    const all = (await first.api<Page>('connections', { limit: 1000 })).connections.map((c) => c.client);
    assert.ok(all.length >= 5);
    const paged: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page: Page = await first.api<Page>('connections', { limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(page.connections.length <= 2);
      paged.push(...page.connections.map((c) => c.client));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(paged, [...all].sort());
    void c2;
  });

  await t.test('bad input: malformed revocation, status and connection queries are API errors (107)', async () => {
    const bad: [string, unknown][] = [
      ['revoke_token', {}],
      ['revoke_token', { uid: '' }],
      ['revoke_token', { uid: 5 }],
      ['revoke_token', { uid: 'x', expire_at: now() - 10 }],
      ['revoke_token', { uid: 'x', expire_at: 'tomorrow' }],
      ['invalidate_user_tokens', {}],
      ['invalidate_user_tokens', { user: 'u', issued_before: -1 }],
      ['invalidate_user_tokens', { user: 'u', issued_before: 1.5 }],
      ['user_status', {}],
      ['user_status', { users: 'u' }],
      ['user_status', { users: [] }],
      ['user_status', { users: [''] }],
      ['connections', { limit: 0 }],
      ['connections', { limit: 5000 }],
      ['connections', { user: 5 }],
      ['connections', { meta: 'x' }],
      ['connections', { cursor: 5 }],
      ['connections', { channel: '' }],
    ];
    for (const [method, params] of bad) {
      const r = await first.call(method, params);
      assert.equal(r.error?.code, 107, `${method} ${JSON.stringify(params)} → ${JSON.stringify(r)}`);
      assert.ok(r.error.message.length > 0);
    }
  });
}
