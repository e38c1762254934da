import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import type { Centrifuge } from 'centrifuge';
import { EventSource } from 'eventsource';
import { Disconnects } from '../src/index.js';
import { Command, EmulationRequest, Reply } from '../src/protocols/centrifuge/proto-schema.js';
import { once, startApi, token, until, SDK_CHAT_NAMESPACE, jsonBytes as enc, fromJsonBytes as dec } from './helpers.js';
import { type HttpTestServer, sdkOver, startHttpServer, StreamReader } from './http-transport-helpers.js';

/**
 * The official SDK's Protobuf build (`centrifuge/build/protobuf`), unchanged, over HTTP-streaming:
 * `POST /connection/http_stream` with `Content-Type: application/octet-stream` carries
 * varint-length-delimited `Command`s in the body and `Reply`s back to back on the response; the
 * client's later commands come as Protobuf `EmulationRequest`s to `/emulation`.
 */

const namespaces = {
  chat: SDK_CHAT_NAMESPACE,
  secret: {},
};

const OCTET = { 'content-type': 'application/octet-stream' };

type Pub = { data: unknown; offset?: number; info?: { user: string } };

function pbOver(base: string, options: Record<string, unknown> = {}): CentrifugeProtobuf {
  return new CentrifugeProtobuf([{ transport: 'http_stream', endpoint: `${base}/connection/http_stream` }], {
    emulationEndpoint: `${base}/emulation`,
    fetch: globalThis.fetch,
    readableStream: globalThis.ReadableStream,
    minReconnectDelay: 50,
    maxReconnectDelay: 300,
    timeout: 5000,
    ...options,
  });
}

type ReplyObj = Record<string, unknown> & { id?: number; push?: Record<string, unknown>; connect?: Record<string, unknown>; error?: { code: number } };

/** A raw reader of a Protobuf HTTP-streaming response: every Reply decoded, in order. */
class ProtoStreamReader {
  readonly replies: ReplyObj[] = [];
  ended = false;
  status = 0;
  contentType: string | null = null;
  readonly #abort = new AbortController();
  #buf = Buffer.alloc(0);

  constructor(url: string, body: Uint8Array) {
    void this.#run(url, body);
  }

  async #run(url: string, body: Uint8Array): Promise<void> {
    try {
      const res = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers: OCTET, signal: this.#abort.signal });
      this.status = res.status;
      this.contentType = res.headers.get('content-type');
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#buf = Buffer.concat([this.#buf, value]);
        this.#drain();
      }
    } catch {
      // aborted or reset: ended either way
    }
    this.ended = true;
  }

  #drain(): void {
    for (;;) {
      // A varint length prefix, then that many bytes.
      let len = 0;
      let shift = 0;
      let i = 0;
      for (; i < this.#buf.length; i++) {
        const b = this.#buf[i]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
      }
      if (i >= this.#buf.length || this.#buf.length < i + 1 + len) return;
      const msg = this.#buf.subarray(0, i + 1 + len);
      this.#buf = this.#buf.subarray(i + 1 + len);
      this.replies.push(Reply.toObject(Reply.decodeDelimited(msg), { longs: Number }));
    }
  }

  async find(match: (m: ReplyObj) => boolean, what = 'a matching reply'): Promise<ReplyObj> {
    let found: ReplyObj | undefined;
    await until(() => (found = this.replies.find(match)) !== undefined, 10_000, what);
    return found!;
  }

  close(): void {
    this.#abort.abort();
  }
}

const commands = (...cmds: Record<string, unknown>[]): Uint8Array => {
  const w = Command.encodeDelimited(cmds[0]!);
  for (const c of cmds.slice(1)) {
    w.fork();
    Command.encodeDelimited(c, w);
  }
  return w.finish();
};

describe('the official Protobuf SDK over HTTP-streaming', () => {
  let srv: HttpTestServer;
  const clients: { disconnect(): void }[] = [];
  const client = async (opts: Record<string, unknown> = {}, user = '42'): Promise<CentrifugeProtobuf> => {
    const c = pbOver(srv.base, { token: await token({ sub: user, info: { name: `user-${user}` } }), ...opts });
    clients.push(c);
    return c;
  };
  const connected = async (c: CentrifugeProtobuf | Centrifuge) => {
    const p = once<{ client: string; transport: string }>(c, 'connected', 10_000);
    c.connect();
    return p;
  };
  const subscribed = async (c: CentrifugeProtobuf, channel: string, opts = {}) => {
    const sub = c.newSubscription(channel, opts);
    const p = once<Record<string, unknown>>(sub, 'subscribed', 10_000);
    sub.subscribe();
    return { sub, ctx: await p };
  };
  /** A session opened by a raw Protobuf HTTP-streaming request. */
  const rawSession = async (user: string) => {
    const r = new ProtoStreamReader(`${srv.base}/connection/http_stream`, commands({ id: 1, connect: { token: await token({ sub: user }) } }));
    const reply = await r.find((m) => m.id === 1, 'the connect reply');
    const result = reply.connect as { client: string; session: string; node: string };
    return { r, ...result };
  };
  const emulate = (body: Uint8Array | string, headers: Record<string, string> = OCTET) =>
    fetch(`${srv.base}/emulation`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers });
  const emulationRequest = (session: string, node: string, data: Uint8Array) => EmulationRequest.encode({ session, node, data }).finish();

  before(async () => {
    srv = await startHttpServer({ namespaces }, (sb) => {
      sb.rpc('echo', async (ctx) => ({ got: ctx.data, by: ctx.client.user }));
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  test('connects over http_stream in the Protobuf encoding; the server sees the transport and the user', async () => {
    const c = await client();
    const ctx = await connected(c);
    assert.equal(ctx.transport, 'http_stream');
    const conn = srv.sb.liveConnection(ctx.client);
    assert.equal(conn?.user, '42');
    assert.equal(conn?.transport.kind, 'http_stream');
  });

  test('SSE is JSON only: the Protobuf SDK given sse first is refused there (400) and connects over http_stream next', async (t) => {
    // The EventSource makes its own requests: their statuses are read on the server.
    const refused: number[] = [];
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/connection/sse') === true) res.on('finish', () => refused.push(res.statusCode));
    };
    srv.http.prependListener('request', onRequest);
    t.after(() => void srv.http.off('request', onRequest));
    const c = new CentrifugeProtobuf(
      [
        { transport: 'sse', endpoint: `${srv.base}/connection/sse` },
        { transport: 'http_stream', endpoint: `${srv.base}/connection/http_stream` },
      ],
      {
        token: await token({ sub: 'fallback-pb' }),
        emulationEndpoint: `${srv.base}/emulation`,
        eventsource: EventSource,
        fetch: globalThis.fetch,
        readableStream: globalThis.ReadableStream,
        minReconnectDelay: 50,
        maxReconnectDelay: 300,
        timeout: 5000,
      },
    );
    clients.push(c);
    const ctx = await connected(c);
    assert.equal(ctx.transport, 'http_stream');
    assert.ok(refused.length > 0 && refused.every((s) => s === 400), `the SSE attempts were refused with 400: ${refused.join(',')}`);
  });

  test('subscribe, app publications with offsets, client publish with info', async () => {
    const a = await client({}, 'alice');
    const b = await client({}, 'bob');
    await connected(a);
    await connected(b);
    const { sub: sa, ctx } = await subscribed(a, 'chat:pb1');
    assert.equal(ctx['recoverable'], true);
    const { sub: sb2 } = await subscribed(b, 'chat:pb1');
    const got: Pub[] = [];
    sb2.on('publication', (p) => got.push(p as Pub));
    for (let i = 1; i <= 3; i++) await srv.sb.publish('chat:pb1', { n: i });
    await sa.publish(enc({ text: 'hi' }));
    await until(() => got.length === 4, 10_000, 'four publications');
    assert.deepEqual(got.map((p) => dec(p.data)), [{ n: 1 }, { n: 2 }, { n: 3 }, { text: 'hi' }]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4]);
    assert.equal(got[3]!.info?.user, 'alice');
  });

  test('a JSON client and a Protobuf client over HTTP-streaming share a channel: both get every publication from app code, the HTTP API and each other', async () => {
    const pb = await client({}, 'pb');
    const js = sdkOver(srv.base, 'http_stream', { token: await token({ sub: 'js' }) });
    clients.push(js);
    await connected(pb);
    await connected(js);
    const { sub: pbSub } = await subscribed(pb, 'chat:mixed');
    const jsSub = js.newSubscription('chat:mixed');
    const s = once(jsSub, 'subscribed', 10_000);
    jsSub.subscribe();
    await s;
    const pbGot: unknown[] = [];
    const jsGot: unknown[] = [];
    pbSub.on('publication', (p) => pbGot.push(dec(p.data)));
    jsSub.on('publication', (p) => jsGot.push(p.data));
    await srv.sb.publish('chat:mixed', { from: 'app' });
    await until(() => pbGot.length === 1 && jsGot.length === 1, 10_000, 'the app publication');
    const api = await startApi(srv.sb);
    try {
      const r = await api.post('publish', { channel: 'chat:mixed', data: { from: 'api' } });
      assert.equal(typeof r.result?.['offset'], 'number', JSON.stringify(r));
    } finally {
      await api.close();
    }
    await until(() => pbGot.length === 2 && jsGot.length === 2, 10_000, 'the API publication');
    await pbSub.publish(enc({ from: 'pb' }));
    await until(() => pbGot.length === 3 && jsGot.length === 3, 10_000, 'the Protobuf client publication');
    await jsSub.publish({ from: 'js' });
    await until(() => pbGot.length === 4 && jsGot.length === 4, 10_000, 'the JSON client publication');
    const want = [{ from: 'app' }, { from: 'api' }, { from: 'pb' }, { from: 'js' }];
    assert.deepEqual(pbGot, want);
    assert.deepEqual(jsGot, want);
  });

  test('presence, presence stats, history, join and leave', async () => {
    const a = await client({}, 'p1');
    const b = await client({}, 'p2');
    const ida = (await connected(a)).client;
    const idb = (await connected(b)).client;
    const { sub } = await subscribed(a, 'chat:pbpres', { joinLeave: true });
    const joins: string[] = [];
    const leaves: string[] = [];
    sub.on('join', (j) => joins.push(j.info.user));
    sub.on('leave', (l) => leaves.push(l.info.user));
    const { sub: s2 } = await subscribed(b, 'chat:pbpres');
    await until(() => joins.includes('p2'), 10_000, 'the join');
    const pr = await sub.presence();
    assert.deepEqual(Object.keys(pr.clients).sort(), [ida, idb].sort());
    assert.deepEqual(dec(pr.clients[ida]!.connInfo), { name: 'user-p1' });
    assert.deepEqual(await sub.presenceStats(), { numClients: 2, numUsers: 2 });
    for (let i = 1; i <= 5; i++) await srv.sb.publish('chat:pbpres', { i });
    const all = await sub.history({ limit: -1 });
    assert.deepEqual(all.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
    const since = await sub.history({ limit: 10, since: { offset: 3, epoch: all.epoch } });
    assert.deepEqual(since.publications.map((p) => dec(p.data)), [{ i: 4 }, { i: 5 }]);
    const rev = await sub.history({ limit: 2, reverse: true });
    assert.deepEqual(rev.publications.map((p) => p.offset), [5, 4]);
    s2.unsubscribe();
    await until(() => leaves.includes('p2'), 10_000, 'the leave');
  });

  test('RPC round trip; an unknown method gets 104; a publish of bytes that are not JSON gets 107 and the connection stays', async () => {
    const c = await client({}, 'rpc-pb');
    await connected(c);
    const r = await c.rpc('echo', enc({ id: 17 }));
    assert.deepEqual(dec(r.data), { got: { id: 17 }, by: 'rpc-pb' });
    await assert.rejects(c.rpc('nope', enc({})), (e: { code: number }) => e.code === 104);
    const { sub } = await subscribed(c, 'chat:pbbinary');
    await assert.rejects(sub.publish(new Uint8Array([0xff, 0x00, 0x01])), (e: { code: number }) => e.code === 107);
    assert.equal(c.state, 'connected');
  });

  test('a dropped stream is followed by a reconnect that recovers what was published meanwhile', async () => {
    const c = await client({ minReconnectDelay: 400, maxReconnectDelay: 600 });
    const id = (await connected(c)).client;
    const { sub } = await subscribed(c, 'chat:pbrecover');
    const got: Pub[] = [];
    sub.on('publication', (p) => got.push(p as Pub));
    await srv.sb.publish('chat:pbrecover', { n: 0 });
    await until(() => got.length === 1, 10_000, 'the first publication');
    const resubscribed = once<Record<string, unknown>>(sub, 'subscribed', 10_000);
    const dropped = once(c, 'connecting', 10_000);
    srv.sb.liveConnection(id)!.transport.terminate();
    await dropped;
    for (let i = 1; i <= 3; i++) await srv.sb.publish('chat:pbrecover', { n: i });
    const ctx = await resubscribed;
    assert.equal(ctx['wasRecovering'], true);
    assert.equal(ctx['recovered'], true);
    await until(() => got.length === 4, 10_000, 'the recovered publications');
    assert.deepEqual(got.map((p) => (dec(p.data) as { n: number }).n), [0, 1, 2, 3]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4]);
  });

  test('the connection token is refreshed through getToken and the connection stays', async () => {
    let issued = 0;
    const c = pbOver(srv.base, {
      getToken: async () => {
        issued++;
        return token({ sub: 'refresher' }, { expiresIn: 2 });
      },
    });
    clients.push(c);
    const id = (await connected(c)).client;
    await until(() => issued >= 3, 15_000, 'two refreshes');
    assert.equal(c.state, 'connected');
    assert.ok(srv.sb.liveConnection(id), 'the same connection throughout');
  });

  test('server pings are answered with pongs through Protobuf emulation requests', async () => {
    const s2 = await startHttpServer({ namespaces, pingIntervalMs: 1000, pongTimeoutMs: 1000 });
    try {
      const c = pbOver(s2.base, { token: await token({ sub: 'pinger' }) });
      clients.push(c);
      const id = (await connected(c)).client;
      const conn = s2.sb.liveConnection(id)!;
      // The node sends its next ping only once the previous one was answered (maintenance.ts), and
      // a missing pong would close the connection with 3012: three pings sent means two pongs came
      // back. Each ping's time stays visible for a whole interval, so polling cannot miss it (a
      // pong's round trip can).
      const pings = new Set<number>();
      await until(
        () => {
          if (conn.lastPingAt > 0) pings.add(conn.lastPingAt);
          return pings.size >= 3;
        },
        10_000,
        'three pings, so two pongs',
      );
      assert.equal(c.state, 'connected');
      assert.equal(s2.sb.liveConnection(id), conn);
      c.disconnect();
    } finally {
      await s2.close();
    }
  });

  test('a server disconnect reaches the SDK with its code in a Protobuf disconnect push: reconnect or not by the code', async () => {
    const c = await client({}, 'bouncer-pb');
    await connected(c);
    const reconnecting = once<{ code: number }>(c, 'connecting', 10_000);
    await srv.sb.disconnectUser({ user: 'bouncer-pb' }, Disconnects.forceReconnect);
    assert.equal((await reconnecting).code, Disconnects.forceReconnect.code);
    await once(c, 'connected', 10_000);
    const d = once<{ code: number; reason: string }>(c, 'disconnected', 10_000);
    await srv.sb.disconnectUser({ user: 'bouncer-pb' });
    const ctx = await d;
    assert.equal(ctx.code, 3503);
    assert.equal(ctx.reason, 'force disconnect');
  });

  test('the raw wire: an octet-stream response of length-delimited Replies; the connect result names session and node; Protobuf emulation requests are answered 204', async () => {
    const s = await rawSession('raw-pb');
    try {
      assert.equal(s.r.status, 200);
      assert.equal(s.r.contentType, 'application/octet-stream');
      assert.ok(s.session && s.node && s.session !== s.client);
      const ping = commands({ id: 2, ping: {} }, { id: 3, presence_stats: { channel: 'chat:none' } });
      assert.equal((await emulate(emulationRequest(s.session, s.node, ping))).status, 204);
      await s.r.find((m) => m.id === 2 && m['ping'] !== undefined, 'the ping reply');
      const stats = await s.r.find((m) => m.id === 3, 'the presence stats reply');
      // Not subscribed: permission denied, as over WebSocket.
      assert.equal(stats.error?.code, 103);
    } finally {
      s.r.close();
    }
  });

  test('bad input: every malformed request gets its status, malformed commands end the session with 3501, a bystander is untouched', async () => {
    const bystander = await client({}, 'bystander-pb');
    await connected(bystander);
    const { sub } = await subscribed(bystander, 'chat:bystander-pb');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(dec(p.data)));

    const post = (path: string, body: Uint8Array, headers: Record<string, string> = OCTET) => fetch(`${srv.base}${path}`, { method: 'POST', body: new Uint8Array(body), headers });
    // The opening request.
    assert.equal((await post('/connection/http_stream', new Uint8Array(0))).status, 400, 'no body');
    const junk = await post('/connection/http_stream', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
    assert.equal(junk.status, 400, 'a length past the end');
    assert.match(await junk.text(), /Protobuf/);
    assert.equal((await post('/connection/http_stream', new Uint8Array([3, 0x0f, 0x0f, 0x0f]))).status, 400, 'a field of an unknown wire type');
    // SSE and the unidirectional transports are JSON only, as in Centrifugo.
    for (const path of ['/connection/sse', '/connection/uni_http_stream', '/connection/uni_sse']) {
      const r = await post(path, commands({ id: 1, connect: {} }));
      assert.equal(r.status, 415, path);
      assert.match(await r.text(), /JSON encoding only/);
    }

    const s = await rawSession('eve-pb');
    const json = await new StreamReaderSession(srv.base).open('eve-json');
    try {
      const ping = commands({ id: 2, ping: {} });
      assert.equal((await emulate(new Uint8Array([0x1a, 0x7f]))).status, 400, 'not an EmulationRequest');
      assert.equal((await emulate(EmulationRequest.encode({ session: s.session, node: s.node }).finish())).status, 400, 'no data');
      assert.equal((await emulate(EmulationRequest.encode({ node: s.node, data: ping }).finish())).status, 400, 'no session');
      assert.equal((await emulate(emulationRequest('nope', s.node, ping))).status, 404, 'unknown session');
      assert.equal((await emulate(emulationRequest(s.client, s.node, ping))).status, 404, 'the client id');
      assert.equal((await emulate(emulationRequest(s.session, 'no-such-node', ping))).status, 404, 'unknown node');
      // The encoding of the request must be the session's.
      const mixed = await emulate(JSON.stringify({ session: s.session, node: s.node, data: '{"id":2,"ping":{}}' }), { 'content-type': 'application/json' });
      assert.equal(mixed.status, 400, 'a JSON request for a Protobuf session');
      assert.match(await mixed.text(), /encoding/);
      assert.equal((await emulate(emulationRequest(json.session, json.node, ping))).status, 400, 'a Protobuf request for a JSON session');
      // The real session works, then malformed commands in a well-formed request end it with 3501.
      assert.equal((await emulate(emulationRequest(s.session, s.node, ping))).status, 204);
      await s.r.find((m) => m.id === 2, 'the ping reply');
      assert.equal((await emulate(emulationRequest(s.session, s.node, new Uint8Array([5, 1, 2])))).status, 204);
      const d = await s.r.find((m) => m.push?.['disconnect'] !== undefined, 'the disconnect push');
      assert.deepEqual(d.push!['disconnect'], { code: 3501, reason: 'bad request' });
      await until(() => s.r.ended, 5000, 'the stream to end');
      await until(() => srv.sb.liveConnection(s.client) === undefined, 5000, 'the connection gone');
      assert.equal((await emulate(emulationRequest(s.session, s.node, ping))).status, 404, 'gone');
    } finally {
      s.r.close();
      json.close();
    }
    // The bystander still works.
    await srv.sb.publish('chat:bystander-pb', { still: 'here' });
    await until(() => got.length === 1, 10_000, 'the bystander publication');
    assert.deepEqual(got, [{ still: 'here' }]);
    assert.equal(bystander.state, 'connected');
  });
});

/** A JSON HTTP-streaming session opened with a raw request (for the encoding mismatch case). */
class StreamReaderSession {
  session = '';
  node = '';
  #r: StreamReader | undefined;
  constructor(readonly base: string) {}
  async open(user: string): Promise<this> {
    this.#r = new StreamReader(`${this.base}/connection/http_stream`, 'lines', {
      method: 'POST',
      body: JSON.stringify({ id: 1, connect: { token: await token({ sub: user }) } }),
      headers: { 'content-type': 'application/json' },
    });
    const reply = await this.#r.find((m) => m['id'] === 1, 'the JSON connect reply');
    const c = reply['connect'] as { session: string; node: string };
    this.session = c.session;
    this.node = c.node;
    return this;
  }
  close(): void {
    this.#r?.close();
  }
}
