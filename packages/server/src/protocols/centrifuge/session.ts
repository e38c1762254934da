import { Disconnects, DisconnectError, type DisconnectValue, Errors, ReplyError } from '../../codes.js';
import type { PendingSubscribe, Protocol, SessionConnection, SessionHost, SubscribeOutcome } from '../../protocol.js';
import { PROTOCOL_SLOTS } from '../../protocol.js';
import type { Subscription } from '../../subscription.js';
import { ttlSeconds } from '../../expiry.js';
import * as c from './codec.js';
import { isObject } from '../../internal/json.js';
import { SessionBase } from '../session-base.js';
import { type CentrifugeWire, type Cmd, jsonWire } from './wire.js';
import { protobufWire } from './proto-wire.js';

const METHODS = new Set(['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh', 'ping']);

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function uint(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/**
 * The Centrifugo client protocol v2 for one connection, in either encoding (`wire`: JSON or
 * Protobuf). Commands of one frame are handled strictly in order; replies and pushes leave through
 * the connection's queue, so a reply always precedes the publications of the channel it subscribed to.
 */
export class CentrifugeSession extends SessionBase {
  readonly keepalive = 'app' as const;
  #connected = false;
  /** connect refused or in progress: further commands are ignored until the client closes. */
  #halted = false;
  #pingsSent = 0;
  /** Unidirectional transport (JSON only): the first message is a connect request (params only); later ones are ignored. */
  readonly #uni: boolean;
  #uniStarted = false;

  constructor(
    conn: SessionConnection,
    host: SessionHost,
    readonly wire: CentrifugeWire = jsonWire,
  ) {
    super(conn, host, { gated: false, closeOnFailure: true });
    this.#uni = conn.transport.mode === 'unidirectional';
  }

  #out(message: Buffer): void {
    this.conn.enqueueControl(message);
  }

  #close(d: DisconnectValue): void {
    this.#halted = true;
    this.conn.close(d);
  }

  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.#halted || this.conn.state === 'closed') return;
    if (this.#uni) return this.#uniConnect(data, isBinary);
    const cmds = this.wire.decode(data, isBinary);
    if (!Array.isArray(cmds)) return this.#close(cmds);
    for (const cmd of cmds) this.queue(() => this.#dispatch(cmd));
  }

  /** Unidirectional: `data` is a connect request (`{token, data, subs, name, version}`), handled as a connect command. */
  #uniConnect(data: Buffer, isBinary: boolean): void {
    if (this.#uniStarted) return;
    this.#uniStarted = true;
    if (isBinary) return this.#close(Disconnects.inappropriateProtocol);
    let v: unknown;
    try {
      v = JSON.parse(data.toString('utf8') || '{}');
    } catch {
      return this.#close(Disconnects.badRequest);
    }
    if (!isObject(v)) return this.#close(Disconnects.badRequest);
    this.queue(() => this.#connect(1, v));
  }

  protected override fail(err: unknown): void {
    this.#halted = true;
    super.fail(err);
  }

  async #dispatch(cmd: Cmd): Promise<void> {
    if (this.#halted || this.conn.state === 'closed') return;
    let method: string | undefined;
    for (const k of Object.keys(cmd)) {
      if (k !== 'id' && METHODS.has(k)) {
        method = k;
        break;
      }
    }
    if (method === undefined) {
      // An empty command is a pong. Anything else with no known method is malformed.
      if (Object.keys(cmd).length === 0 || (Object.keys(cmd).length === 1 && (cmd.id === 0 || cmd.id === undefined))) {
        if (!this.#connected || this.#pingsSent === 0) return this.#close(Disconnects.badRequest);
        this.conn.awaitingPong = false;
        return;
      }
      return this.#close(Disconnects.badRequest);
    }
    const params = cmd[method];
    if (method === 'send') {
      if (!this.#connected) return this.#close(Disconnects.badRequest);
      if (!this.host.hasMessageHandler) return this.#close(Disconnects.notAvailable);
      try {
        const data = isObject(params) ? this.wire.value(params['data']) : undefined;
        await this.host.message(this.conn, data);
      } catch (err) {
        // An async message has no reply: a coded refusal (e.g. 111 over the rate) is counted, not fatal.
        if (!(err instanceof ReplyError)) throw err;
        this.host.countError(err.code);
      }
      return;
    }
    const id = cmd.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return this.#close(Disconnects.badRequest);
    if (params !== undefined && params !== null && !isObject(params)) return this.#close(Disconnects.badRequest);
    const p = params ?? {};
    if (method === 'connect') {
      if (this.#connected) return this.#close(Disconnects.badRequest);
      return this.#connect(id, p);
    }
    if (!this.#connected) return this.#close(Disconnects.badRequest);
    try {
      switch (method) {
        case 'subscribe':
          return await this.#subscribe(id, p);
        case 'unsubscribe': {
          const channel = str(p['channel']);
          if (!channel) return this.#close(Disconnects.badRequest);
          await this.host.unsubscribe(this.conn, channel);
          return this.#out(this.wire.emptyReply(id, 'unsubscribe'));
        }
        case 'publish': {
          const channel = str(p['channel']);
          if (!channel) return this.#close(Disconnects.badRequest);
          const data = this.wire.value(p['data']);
          if (data === null || data === undefined) throw new ReplyError(Errors.badRequest, 'publication data required');
          await this.host.publish(this.conn, channel, data);
          return this.#out(this.wire.emptyReply(id, 'publish'));
        }
        case 'presence': {
          const channel = str(p['channel']);
          if (!channel) return this.#close(Disconnects.badRequest);
          return this.#out(this.wire.presenceReply(id, await this.host.presence(this.conn, channel)));
        }
        case 'presence_stats': {
          const channel = str(p['channel']);
          if (!channel) return this.#close(Disconnects.badRequest);
          return this.#out(this.wire.presenceStatsReply(id, await this.host.presenceStats(this.conn, channel)));
        }
        case 'history':
          return await this.#history(id, p);
        case 'rpc': {
          const m = p['method'] === undefined ? '' : str(p['method']);
          if (m === undefined) throw new ReplyError(Errors.badRequest, 'method must be a string');
          const result = await this.host.rpc(this.conn, m, this.wire.value(p['data']));
          return this.#out(this.wire.rpcReply(id, result === undefined ? undefined : JSON.stringify(result)));
        }
        case 'refresh': {
          const token = str(p['token']);
          if (!token) return this.#close(Disconnects.invalidToken);
          const r = await this.host.refreshConnection(this.conn, token);
          return this.#out(this.wire.refreshReply(id, 'refresh', r));
        }
        case 'sub_refresh': {
          const channel = str(p['channel']);
          const token = str(p['token']);
          if (!channel || !token) throw new ReplyError(Errors.badRequest);
          const r = await this.host.refreshSubscription(this.conn, channel, token);
          return this.#out(this.wire.refreshReply(id, 'sub_refresh', r));
        }
        case 'ping':
          return this.#out(this.wire.emptyReply(id, 'ping'));
      }
    } catch (err) {
      this.#replyError(id, err);
    }
  }

  #replyError(id: number, err: unknown): void {
    if (err instanceof DisconnectError) return this.#close(err);
    const e = this.replyErrorOf(err);
    this.#out(this.wire.errorReply(id, e.code, e.message, e.temporary));
  }

  async #connect(id: number, p: Record<string, unknown>): Promise<void> {
    this.conn.clientName = (str(p['name']) ?? '').slice(0, 64);
    this.conn.clientVersion = (str(p['version']) ?? '').slice(0, 64);
    let data: unknown;
    try {
      data = this.wire.value(p['data']);
    } catch (err) {
      this.#halted = true;
      const e = this.replyErrorOf(err);
      return this.#out(this.wire.errorReply(id, e.code, e.message));
    }
    const headers = emulatedHeaders(p['headers']);
    if (headers === null) return this.#close(Disconnects.badRequest);
    if (headers !== undefined) this.conn.emulatedHeaders = headers;
    const decision = await this.host.authenticate({
      protocol: 'centrifuge',
      request: this.conn.request,
      token: str(p['token']),
      data,
      clientId: this.conn.id,
      name: this.conn.clientName,
      version: this.conn.clientVersion,
      ...(headers !== undefined ? { headers } : {}),
    });
    if (this.conn.state === 'closed') return;
    if (decision.kind === 'decline') {
      const code = decision.code;
      this.#halted = true; // Centrifuge stops reading after a refused connect
      if (decision.error && code < 3000) {
        // A reply error code as it is (a connect proxy's error): temporary ones make the SDK reconnect.
        this.host.countError(code);
        this.#out(this.wire.errorReply(id, code, decision.message || 'error', decision.error.temporary));
        return;
      }
      if (code >= 3000) return this.#close({ code, reason: decision.message || 'unauthorized' });
      // A unidirectional client has no reply to read: the refusal is a disconnect.
      if (this.#uni) return this.#close(code === Errors.tokenExpired.code ? Disconnects.expired : { code: Disconnects.invalidToken.code, reason: decision.message || 'unauthorized' });
      // Codes below 600 are HTTP statuses (the same decline serves protocols that refuse at the upgrade).
      const replyCode = code >= 600 && code < 2000 ? code : code >= 100 && code < 400 ? code : Errors.unauthorized.code;
      this.host.countError(replyCode);
      this.#out(this.wire.errorReply(id, replyCode, decision.message || 'unauthorized'));
      // The client reconnects (109) or gives up (101); either way this connection is done.
      return;
    }
    const creds = { user: '', ...decision.credentials };
    const expireAt = creds.expireAt ?? 0;
    if (expireAt > 0 && expireAt * 1000 <= Date.now()) {
      this.#halted = true;
      if (this.#uni) return this.#close(Disconnects.expired);
      this.#out(this.wire.errorReply(id, Errors.tokenExpired.code, Errors.tokenExpired.message));
      return;
    }
    const recover: Record<string, { recover?: boolean; offset?: number; epoch?: string }> = {};
    if (isObject(p['subs'])) {
      for (const [ch, v] of Object.entries(p['subs'])) {
        if (isObject(v)) recover[ch] = { recover: v['recover'] === true, offset: uint(v['offset']) ?? 0, epoch: str(v['epoch']) ?? '' };
      }
    }
    let subs: ReadonlyMap<string, PendingSubscribe>;
    try {
      subs = await this.host.register(this.conn, creds, recover);
    } catch (err) {
      if (err instanceof DisconnectError) return this.#close(err);
      if (err instanceof ReplyError) {
        this.#halted = true;
        if (this.#uni) return this.#close({ code: Disconnects.badRequest.code, reason: err.message });
        this.#out(this.wire.errorReply(id, err.code, err.message, err.temporary));
        return;
      }
      throw err;
    }
    this.#connected = true;
    this.#halted = false;
    this.#out(
      this.wire.connectReply(id, {
        client: this.conn.id,
        version: '0.1.0',
        // With server-side refresh (a refresh proxy) the client is not asked to refresh.
        ttl: expireAt > 0 && this.host.serverRefresh !== true ? ttlSeconds(expireAt * 1000) : undefined,
        data: creds.data === undefined ? undefined : JSON.stringify(creds.data),
        subs: [...subs].map(([ch, s]) => [ch, s.outcome] as const),
        ping: Math.round(this.host.pingIntervalMs / 1000),
        // HTTP-streaming/SSE/unidirectional: the session the client's requests name, and (emulation) its node.
        session: this.conn.transport.session?.id,
        node: this.conn.transport.mode === 'emulation' ? this.conn.transport.session?.node : undefined,
        uni: this.#uni,
      }),
    );
    for (const s of subs.values()) s.commit();
  }

  async #subscribe(id: number, p: Record<string, unknown>): Promise<void> {
    const channel = p['channel'];
    if (typeof channel !== 'string' || channel === '') return this.#close(Disconnects.badRequest);
    const flag = typeof p['flag'] === 'number' ? p['flag'] : 0;
    const pending = await this.host.subscribe(this.conn, {
      channel,
      token: str(p['token']),
      data: this.wire.value(p['data']),
      recover: p['recover'] === true,
      offset: uint(p['offset']),
      epoch: str(p['epoch']),
      positioned: p['positioned'] === true,
      recoverable: p['recoverable'] === true,
      joinLeave: p['join_leave'] === true,
      delta: str(p['delta']),
      tagsFilter: p['tf'],
      compaction: (flag & 1) !== 0,
    });
    const outcome = pending.outcome;
    if (outcome.wasRecovering && !outcome.recovered && (flag & 2) !== 0) {
      await this.host.unsubscribe(this.conn, channel);
      throw new ReplyError(Errors.unrecoverablePosition);
    }
    this.#out(this.wire.subscribeReply(id, outcome));
    pending.commit();
  }

  async #history(id: number, p: Record<string, unknown>): Promise<void> {
    const channel = str(p['channel']);
    if (!channel) return this.#close(Disconnects.badRequest);
    const limit = p['limit'] === undefined ? 0 : typeof p['limit'] === 'number' && Number.isInteger(p['limit']) ? p['limit'] : NaN;
    if (Number.isNaN(limit)) throw new ReplyError(Errors.badRequest, 'limit must be an integer');
    let since: { offset: number; epoch: string } | undefined;
    if (p['since'] !== undefined) {
      if (!isObject(p['since'])) throw new ReplyError(Errors.badRequest, 'since must be an object');
      since = { offset: uint(p['since']['offset']) ?? 0, epoch: str(p['since']['epoch']) ?? '' };
    }
    const r = await this.host.history(this.conn, channel, { limit, ...(since ? { since } : {}), ...(p['reverse'] === true ? { reverse: true } : {}) });
    this.#out(this.wire.historyReply(id, r.publications, r.position.epoch, r.position.offset));
  }

  pushSubscribed(channel: string, result: SubscribeOutcome): void {
    this.#out(this.wire.subscribePush(channel, result));
  }

  pushUnsubscribed(channel: string, code: number, reason: string): void {
    this.#out(this.wire.unsubscribePush(channel, code, reason));
  }

  pushMessage(data: string): void {
    this.#out(this.wire.messagePush(data));
  }

  pushReply(channel: string, event: string, payload: unknown): void {
    this.#out(this.wire.messagePush(JSON.stringify({ channel, event, payload })));
  }

  override pushLagged(sub: Subscription): void {
    if (sub.serverSide) return this.conn.close(Disconnects.insufficientState);
    // The client resubscribes and recovers from its last position (or learns it cannot).
    super.pushLagged(sub);
  }

  override sendPing(): void {
    this.#pingsSent++;
    this.#out(this.wire.ping);
    // A unidirectional client cannot answer: the ping only keeps proxies from closing an idle stream.
    if (this.#uni) this.conn.awaitingPong = false;
  }

  /** A transport without close codes (HTTP streams, unidirectional): the code goes in a disconnect push. */
  onClose(code: number, reason: string): void {
    if (this.conn.transport.closeInBand === true) this.#out(this.wire.disconnectPush(code, reason));
  }
}

/** Centrifugo's Protobuf encoding, selected by the `centrifuge-protobuf` subprotocol or `?format=protobuf`. */
export function centrifugeProtobufProtocol(): Protocol {
  const w = protobufWire;
  return {
    name: 'centrifuge',
    slot: PROTOCOL_SLOTS['centrifuge-protobuf'],
    newlineBatching: false,
    binary: true,
    subprotocol: 'centrifuge-protobuf',
    encodePublication: (channel, pub) => w.pubPush(channel, pub),
    encodeDelta: (channel, pub, delta) => w.deltaPubPush(channel, pub, delta),
    deltaSafe: (delta) => w.deltaSafe(delta),
    // No channel compaction in Protobuf: the official Protobuf SDK decodes the int64 ids as Long
    // objects and matches them with ===, so a compacted push would never find its subscription.
    encodeBroadcast: (pub) => w.messagePush(pub.data),
    encodeJoin: (channel, info) => w.joinPush(channel, info),
    encodeLeave: (channel, info) => w.leavePush(channel, info),
    createSession: (conn, host) => new CentrifugeSession(conn, host, w),
  };
}

/** The connect command's `headers` (emulated headers): a map of strings; null when malformed. */
function emulatedHeaders(v: unknown): Record<string, string> | undefined | null {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return null;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string' || ++n > 64) return null;
    out[k] = val;
  }
  return n === 0 ? undefined : out;
}

/**
 * The native protocol: Centrifugo client protocol v2, JSON, newline-batched; a client that asks
 * for Protobuf (subprotocol `centrifuge-protobuf` or `?format=protobuf`) gets its Protobuf variant.
 */
export function centrifugeProtocol(): Protocol {
  const protobufVariant = centrifugeProtobufProtocol();
  const json: Protocol = {
    name: 'centrifuge',
    slot: PROTOCOL_SLOTS.centrifuge,
    newlineBatching: true,
    encodePublication: (channel, pub) => Buffer.from(c.pubPush(channel, pub)),
    encodeDelta: (channel, pub, delta) => jsonWire.deltaPubPush(channel, pub, delta),
    deltaSafe: (delta) => jsonWire.deltaSafe(delta),
    compact: jsonWire.compact,
    encodeBroadcast: (pub) => Buffer.from(c.messagePush(pub.data)),
    encodeJoin: (channel, info) => Buffer.from(c.joinPush(channel, info)),
    encodeLeave: (channel, info) => Buffer.from(c.leavePush(channel, info)),
    createSession: (conn, host) => new CentrifugeSession(conn, host),
    variant: (offered, query) => (offered.has('centrifuge-protobuf') || query.get('format') === 'protobuf' ? protobufVariant : json),
  };
  return json;
}
