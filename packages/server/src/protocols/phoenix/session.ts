import type { IncomingMessage } from 'node:http';
import { Disconnects, Errors, ReplyError, Unsubscribes } from '../../codes.js';
import type { PendingSubscribe, Protocol, SessionConnection, SessionHost, SubscribeOutcome } from '../../protocol.js';
import { PROTOCOL_SLOTS } from '../../protocol.js';
import type { ClientInfo, Publication } from '../../types.js';
import { SessionBase } from '../session-base.js';
import * as f from './frames.js';

/** Close code for a frame that is not a V2 array (§14): 1007 invalid frame payload data. */
const MALFORMED = { code: 1007, reason: 'malformed frame' } as const;
/** Close code for a binary frame that is not a push (§9). */
const UNSUPPORTED = { code: 1003, reason: 'unsupported binary frame' } as const;

/** No frame from the client for the idle timeout (its heartbeats stopped): closed, the client may come back (§3). */
const IDLE = { code: Disconnects.noPong.code, reason: 'no heartbeat' } as const;

const BEARER_PREFIX = 'base64url.bearer.phx.';

/** The token of the `base64url.bearer.phx.<base64>` subprotocol entry (standard or url alphabet, padding optional). */
export function bearerSubprotocol(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const entry of header.split(',')) {
    const e = entry.trim();
    if (e.startsWith(BEARER_PREFIX)) return Buffer.from(e.slice(BEARER_PREFIX.length), 'base64').toString('utf8');
  }
  return undefined;
}

export interface PhoenixOptions {
  /**
   * Close a connection that sent no frame for this long (ms; 0: never). The client heartbeats
   * every 30 s by default; Phoenix closes after 60 s. Checked at each ping tick of the node
   * (`pingIntervalMs`), so the close comes up to one ping interval later. Default 60 000.
   */
  idleTimeoutMs?: number;
}

/**
 * The Phoenix Channels V2 protocol: a singleton holding the encoders shared by every Phoenix
 * connection. A publication is one broadcast frame for every Phoenix member; a presence change is
 * one `presence_diff` frame for every Phoenix member on this node that is told of it.
 */
export class PhoenixProtocol implements Protocol {
  readonly name = 'phoenix' as const;
  readonly slot = PROTOCOL_SLOTS.phoenix;
  readonly newlineBatching = false;
  /** Selected whenever offered: the 1.8 client's `authToken` handshake fails without it (§1.2). */
  readonly subprotocol = 'phoenix';
  /** The last diff encoded: the core tells each member of the same change with the same ClientInfo. */
  #lastDiff: { channel: string; event: string; info: ClientInfo; buf: Buffer } | undefined;
  readonly idleTimeoutMs: number;

  constructor(options: PhoenixOptions = {}) {
    const idle = options.idleTimeoutMs ?? 60_000;
    if (!Number.isFinite(idle) || idle < 0) throw new TypeError(`phoenix idleTimeoutMs must be a non-negative number, got ${idle}`);
    this.idleTimeoutMs = idle;
  }

  /** `vsn` must be 2.x (V2 JSON); the token is the `authToken` subprotocol's, else query `token` (§14). */
  upgradeToken(req: IncomingMessage, query: URLSearchParams): { token: string | undefined } | { status: number; message: string } {
    const vsn = query.get('vsn') ?? '1.0.0';
    if (!/^2\.\d+\.\d+$/.test(vsn)) return { status: 400, message: `unsupported vsn ${vsn.slice(0, 32)}: only 2.x (V2 JSON) is served` };
    return { token: bearerSubprotocol(req.headers['sec-websocket-protocol']) ?? query.get('token') ?? undefined };
  }

  encodePublication(channel: string, pub: Publication): Buffer {
    return Buffer.from(f.publicationFrame(channel, pub));
  }

  encodeBroadcast(): undefined {
    return undefined; // '*' publications have no Phoenix topic
  }

  encodeJoin(): undefined {
    return undefined; // Phoenix sees joins and leaves as presence diffs (presenceChanged)
  }

  encodeLeave(): undefined {
    return undefined;
  }

  createSession(conn: SessionConnection, host: SessionHost): PhoenixSession {
    return new PhoenixSession(conn, host, this);
  }

  presenceDiff(channel: string, event: 'join' | 'leave' | 'update', info: ClientInfo): Buffer {
    const last = this.#lastDiff;
    if (last !== undefined && last.info === info && last.event === event && last.channel === channel) return last.buf;
    const buf = Buffer.from(f.presenceDiff(channel, event, info));
    this.#lastDiff = { channel, event, info, buf };
    return buf;
  }
}

/**
 * One Phoenix connection. Authenticated at the upgrade (no welcome frame: the client is connected
 * at `open`). Frames are handled one after another, so a join completes before a push that follows.
 * `#topics` holds the join ref of every joined topic (null for server-side subscriptions).
 */
export class PhoenixSession extends SessionBase {
  readonly keepalive = 'transport' as const;
  readonly #topics = new Map<string, string | null>();
  /** Refs of pushes already answered by a handler's `reply` (no extra ok). */
  readonly #replied = new Set<string>();
  /** When the client last sent a frame (heartbeats included): the idle timeout's clock. */
  #lastFrameAt = Date.now();

  constructor(
    conn: SessionConnection,
    host: SessionHost,
    readonly protocol: PhoenixProtocol,
  ) {
    super(conn, host, { gated: true, closeOnFailure: false });
  }

  start(subs: ReadonlyMap<string, PendingSubscribe>): void {
    // Server-side subscriptions: delivered as broadcasts to whatever channel object holds the topic.
    for (const [channel, pending] of subs) {
      this.#topics.set(channel, null);
      pending.commit();
    }
    this.open();
  }

  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.conn.state === 'closed') return;
    this.#lastFrameAt = Date.now();
    this.queue(() => this.#frame(data, isBinary));
  }

  async #frame(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.conn.state !== 'connected') return;
    if (isBinary) {
      const h = f.binaryHeader(data);
      if (h === undefined) return this.conn.close(UNSUPPORTED);
      this.host.countError(Errors.badRequest.code);
      return this.send(f.reply(h.joinRef, h.ref, h.topic, 'error', f.errorResponse('binary payloads are not supported', Errors.badRequest.code)));
    }
    const m = f.decode(data.toString('utf8'));
    if (m === undefined) {
      this.host.countError(Errors.badRequest.code);
      return this.conn.close(MALFORMED);
    }
    if (m.topic === f.SOCKET_TOPIC) {
      // Heartbeat: ok with the same ref. Nothing else is routed on the socket's own topic (Phoenix: unmatched topic).
      if (m.event === 'heartbeat') return this.send(f.reply(null, m.ref, f.SOCKET_TOPIC, 'ok', '{}'));
      this.host.countError(Errors.badRequest.code);
      return this.send(f.reply(null, m.ref, f.SOCKET_TOPIC, 'error', f.errorResponse('unmatched topic')));
    }
    switch (m.event) {
      case 'phx_join':
        return this.#join(m);
      case 'phx_leave':
        return this.#leave(m);
      default:
        return this.#push(m);
    }
  }

  async #join(m: f.InFrame): Promise<void> {
    const joinRef = m.joinRef ?? m.ref;
    if (this.#topics.has(m.topic)) {
      // Duplicate join (§4.1): close the old one with its join ref, then join anew.
      const old = this.#topics.get(m.topic) ?? null;
      this.#topics.delete(m.topic);
      this.send(f.frame(old, old, m.topic, 'phx_close', '{}'));
      if (this.conn.subscriptions.has(m.topic)) await this.host.unsubscribe(this.conn, m.topic);
    }
    try {
      const since = f.recoverParam(m.payload);
      const pending = await this.host.subscribe(this.conn, {
        channel: m.topic,
        data: m.payload === undefined ? {} : m.payload,
        recoverable: true,
        ...(since !== undefined ? { recover: true, offset: since.offset, epoch: since.epoch } : {}),
      });
      const sub = pending.sub;
      const outcome = pending.outcome;
      if (this.conn.state !== 'connected') return;
      this.send(f.reply(joinRef, m.ref, m.topic, 'ok', f.joinResponse(outcome)));
      this.#topics.set(m.topic, joinRef);
      // Recovery beyond Phoenix: what the client missed, in order, before anything live (commit below).
      if (outcome.recovered) for (const pub of outcome.publications) this.conn.enqueueControl(this.protocol.encodePublication(m.topic, pub));
      for (const r of pending.replies) this.send(f.frame(joinRef, null, m.topic, f.isReserved(r.event) ? 'message' : r.event, f.objectPayload(r.payload)));
      if (sub.presence || sub.resolved.options.presence === true) {
        // The joiner's state, after its ok reply and with its join ref (the client buffers diffs until then).
        const list = await this.host.presenceList(m.topic);
        if (this.conn.subscriptions.get(m.topic) !== sub) return;
        this.send(f.frame(joinRef, null, m.topic, 'presence_state', f.presenceState(list.values())));
      }
      pending.commit();
    } catch (err) {
      const e = this.replyErrorOf(err);
      this.send(f.reply(joinRef, m.ref, m.topic, 'error', f.errorResponse(e.message, e.code)));
    }
  }

  async #leave(m: f.InFrame): Promise<void> {
    // Phoenix replies ok even for a topic not joined; delivery stops before the reply.
    const joined = this.#topics.has(m.topic);
    this.#topics.delete(m.topic);
    if (joined && this.conn.subscriptions.has(m.topic)) await this.host.unsubscribe(this.conn, m.topic);
    this.send(f.reply(m.joinRef, m.ref, m.topic, 'ok', '{}'));
    if (joined) this.send(f.frame(m.joinRef, m.joinRef, m.topic, 'phx_close', '{}'));
  }

  async #push(m: f.InFrame): Promise<void> {
    const current = this.#topics.get(m.topic);
    if (current === undefined) {
      this.host.countError(Errors.badRequest.code);
      return this.send(f.reply(null, m.ref, m.topic, 'error', f.errorResponse('unmatched topic')));
    }
    if (m.joinRef !== null && current !== null && m.joinRef !== current) return; // stale join ref: ignored (§14)
    const ref = m.ref;
    try {
      if (f.isReserved(m.event)) throw new ReplyError(Errors.badRequest, 'reserved event');
      const payload = m.payload === undefined ? {} : m.payload;
      if (m.event === 'publish') await this.host.publish(this.conn, m.topic, payload, ref ?? undefined);
      else await this.host.event(this.conn, m.topic, m.event, payload, ref ?? undefined);
      if (ref !== null && this.#replied.delete(ref)) return;
      this.send(f.reply(m.joinRef, ref, m.topic, 'ok', '{}'));
    } catch (err) {
      if (ref !== null) this.#replied.delete(ref);
      const e = this.replyErrorOf(err);
      this.send(f.reply(m.joinRef, ref, m.topic, 'error', f.errorResponse(e.message, e.code)));
    }
  }

  /** The node's ping tick: a transport ping, unless the client has been silent past the idle timeout. */
  override sendPing(): void {
    const idle = this.protocol.idleTimeoutMs;
    // (Request-based transports such as LongPoll have no heartbeat: their polls are their liveness.)
    if (idle > 0 && this.conn.transport.kind === 'websocket' && Date.now() - this.#lastFrameAt >= idle) return this.conn.close(IDLE);
    super.sendPing();
  }

  presenceChanged(channel: string, event: 'join' | 'leave' | 'update', info: ClientInfo): void {
    if (!this.#topics.has(channel) || this.conn.state !== 'connected') return;
    this.conn.enqueueControl(this.protocol.presenceDiff(channel, event, info));
  }

  pushSubscribed(channel: string, _result: SubscribeOutcome): void {
    this.#topics.set(channel, null);
  }

  pushUnsubscribed(channel: string, code: number, _reason: string): void {
    if (!this.#topics.has(channel)) return;
    const joinRef = this.#topics.get(channel) ?? null;
    this.#topics.delete(channel);
    // "Resubscribe needed" → phx_error (the client rejoins by itself); any other unsubscribe → phx_close.
    if (code === Unsubscribes.insufficientState.code) this.send(f.frame(joinRef, joinRef, channel, 'phx_error', '{"reason":"insufficient state"}'));
    else this.send(f.frame(joinRef, joinRef, channel, 'phx_close', '{}'));
  }

  pushMessage(data: string): void {
    // No connection-level messages in Phoenix: on the socket topic, seen by `socket.onMessage`.
    this.send(f.frame(null, null, f.SOCKET_TOPIC, 'message', f.objectPayload(JSON.parse(data))));
  }

  pushReply(channel: string, _event: string, payload: unknown, requestId: string | undefined): void {
    const joinRef = this.#topics.get(channel);
    if (joinRef === undefined) return;
    if (requestId !== undefined) {
      // A handler's reply to a push: the push's ok reply carrying the payload.
      this.#replied.add(requestId);
      this.send(f.reply(joinRef, requestId, channel, 'ok', f.objectPayload(payload)));
    } else this.send(f.frame(joinRef, null, channel, f.isReserved(_event) ? 'message' : _event, f.objectPayload(payload)));
  }
}

export function phoenixProtocol(options: PhoenixOptions = {}): PhoenixProtocol {
  return new PhoenixProtocol(options);
}
