import { randomUUID } from 'node:crypto';
import { DeclinedError, Errors, ReplyError } from '../../codes.js';
import type { PendingSubscribe, Protocol, SessionConnection, SessionHost, SubscribeOutcome } from '../../protocol.js';
import { PROTOCOL_SLOTS } from '../../protocol.js';
import type { ClientInfo } from '../../types.js';
import { SessionBase, splitLines } from '../session-base.js';
import * as f from './frames.js';

/** The event of the empty answer to a client broadcast whose handler sent the sender nothing. */
export const ACK_EVENT = 'ack';

/** The pseudo-channel a PondSocket client joins to receive publications to '*'. */
export const BROADCAST_CHANNEL = '*';

type PresenceEvent = 'join' | 'leave' | 'update';
const PRESENCE_EVENTS = { join: 'JOIN', leave: 'LEAVE', update: 'UPDATE' } as const;

/** HTTP-like status for a coded error (what PondSocket clients and apps expect in `statusCode`/`code`). */
export function statusOf(err: ReplyError): number {
  if (err instanceof DeclinedError) return err.status;
  if (err.code >= 400 && err.code < 600) return err.code;
  switch (err.code) {
    case Errors.unauthorized.code:
    case Errors.tokenExpired.code:
      return 401;
    case Errors.unknownChannel.code:
    case Errors.methodNotFound.code:
    case Errors.notAvailable.code:
      return 404;
    case Errors.permissionDenied.code:
      return 403;
    case Errors.alreadySubscribed.code:
      return 409;
    case Errors.limitExceeded.code:
    case Errors.tooManyRequests.code:
      return 429;
    case Errors.badRequest.code:
      return 400;
    case Errors.internal.code:
      return 500;
    default:
      return 400;
  }
}

function broadcastErrorType(err: ReplyError): string {
  switch (err.code) {
    case Errors.permissionDenied.code:
    case Errors.unauthorized.code:
      return 'UNAUTHORIZED_BROADCAST';
    case Errors.methodNotFound.code:
      return 'HANDLER_NOT_FOUND';
    case Errors.badRequest.code:
      return 'INVALID_MESSAGE';
    case Errors.internal.code:
      return 'INTERNAL_SERVER_ERROR';
    default:
      return 'CHANNEL_ERROR';
  }
}

interface PendingPresence {
  readonly channel: string;
  readonly event: PresenceEvent;
  readonly info: ClientInfo;
  readonly sessions: PondSession[];
}

/**
 * The PondSocket protocol: a singleton holding the encoders and the presence fan-out. Presence
 * frames carry the channel's full list; one change on a channel costs one list read and one
 * encoding, shared by every PondSocket member of the channel on this node.
 */
export class PondProtocol implements Protocol {
  readonly name = 'pond' as const;
  readonly slot = PROTOCOL_SLOTS.pond;
  readonly newlineBatching = true;
  readonly #pending = new Map<string, PendingPresence>();

  encodePublication(channel: string, pub: Parameters<Protocol['encodePublication']>[1]): Buffer {
    return Buffer.from(f.publicationFrame(channel, pub));
  }

  encodeEcho(channel: string, pub: Parameters<Protocol['encodePublication']>[1]): Buffer {
    return Buffer.from(f.publicationFrame(channel, pub));
  }

  encodeBroadcast(pub: Parameters<Protocol['encodeBroadcast']>[0]): Buffer {
    return Buffer.from(f.publicationFrame(BROADCAST_CHANNEL, pub));
  }

  encodeJoin(): undefined {
    return undefined; // PondSocket sees joins and leaves as presence frames (presenceChanged)
  }

  encodeLeave(): undefined {
    return undefined;
  }

  createSession(conn: SessionConnection, host: SessionHost): PondSession {
    return new PondSession(conn, host, this);
  }

  /** Collect the members to tell of one change; the list is read and encoded once, after this tick's calls. */
  queuePresence(channel: string, event: PresenceEvent, info: ClientInfo, session: PondSession): void {
    const key = `${event}\u0000${info.client}\u0000${channel}`;
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = { channel, event, info, sessions: [] };
      this.#pending.set(key, p);
      const pending = p;
      queueMicrotask(() => {
        this.#pending.delete(key);
        void this.#sendPresence(pending, session.host);
      });
    }
    p.sessions.push(session);
  }

  async #sendPresence(p: PendingPresence, host: SessionHost): Promise<void> {
    let list: Map<string, ClientInfo>;
    try {
      list = await host.presenceList(p.channel);
    } catch (err) {
      host.logger.warn({ err, channel: p.channel }, 'presence read failed');
      return;
    }
    const frame = Buffer.from(f.presenceFrame(p.channel, PRESENCE_EVENTS[p.event], p.info, list.values()));
    for (const s of p.sessions) s.sendPresenceFrame(p.channel, frame);
  }
}

/**
 * One PondSocket connection. The client authenticated at the upgrade; `start` sends the CONNECT
 * frame. Frames are handled one after another (a join completes before a broadcast that follows
 * it), and every frame for a channel goes out after that channel's ACKNOWLEDGE.
 */
export class PondSession extends SessionBase {
  readonly keepalive = 'transport' as const;
  /** Channels acknowledged to the client (frames for them may flow). */
  readonly #joined = new Set<string>();
  readonly #joining = new Set<string>();

  constructor(
    conn: SessionConnection,
    host: SessionHost,
    readonly protocol: PondProtocol,
  ) {
    // Frames are handled in order, and only once the connection is registered (CONNECT sent).
    super(conn, host, { gated: true, closeOnFailure: false });
  }

  start(subs: ReadonlyMap<string, PendingSubscribe>): void {
    this.send(f.connectFrame());
    // Server-side subscriptions (token claims, personal channel): the client creates a channel
    // object for every ACKNOWLEDGE it gets, so they become ordinary joined channels.
    for (const [channel, pending] of subs) {
      this.send(f.acknowledgeFrame(channel));
      this.#joined.add(channel);
      pending.commit();
    }
    this.open();
  }

  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.conn.state === 'closed') return;
    this.queue(() => this.#frame(data, isBinary));
  }

  async #frame(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.conn.state !== 'connected') return;
    if (isBinary) return this.#invalid('binary frames are not supported');
    // The official client may batch frames with newlines (it splits ours the same way).
    for (const line of splitLines(data.toString('utf8'))) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        this.#invalid('invalid JSON');
        continue;
      }
      if (!f.isPlainObject(v)) {
        this.#invalid('a frame must be a JSON object');
        continue;
      }
      await this.#dispatch(v);
    }
  }

  #invalid(message: string, requestId: string = randomUUID()): void {
    this.host.countError(Errors.badRequest.code);
    this.send(f.errorFrame(f.ENDPOINT, requestId, 'INVALID_MESSAGE', message, 400));
  }

  async #dispatch(m: Record<string, unknown>): Promise<void> {
    if (this.conn.state !== 'connected') return;
    const action = m['action'];
    if (action === 'ping') return; // the client's optional keepalive: no answer expected
    const channel = m['channelName'];
    const requestId = m['requestId'];
    const event = m['event'];
    if (typeof requestId !== 'string' || requestId === '') return this.#invalid('missing field: requestId');
    if (typeof channel !== 'string' || channel === '') return this.#invalid('missing field: channelName', requestId);
    switch (action) {
      case 'JOIN_CHANNEL':
        return this.#join(channel, requestId, m['payload']);
      case 'LEAVE_CHANNEL':
        return this.#leave(channel);
      case 'BROADCAST':
        if (typeof event !== 'string' || event === '') return this.#invalid('missing field: event', requestId);
        return this.#broadcast(channel, event, m['payload'], requestId);
      default:
        return this.#invalid(typeof action === 'string' ? `unknown action: ${action.slice(0, 64)}` : 'missing field: action', requestId);
    }
  }

  async #join(channel: string, requestId: string, params: unknown): Promise<void> {
    if (channel === BROADCAST_CHANNEL || this.#joined.has(channel)) {
      // '*' needs no subscription (every connection receives it); a repeated join is answered again.
      this.#joined.add(channel);
      return this.send(f.acknowledgeFrame(channel));
    }
    if (this.#joining.has(channel)) return;
    this.#joining.add(channel);
    try {
      const pending = await this.host.subscribe(this.conn, { channel, data: params === undefined ? {} : params });
      const sub = pending.sub;
      if (this.conn.state !== 'connected') return;
      this.send(f.acknowledgeFrame(channel));
      this.#joined.add(channel);
      if (sub.presence || sub.resolved.options.presence === true) {
        // The joiner's own JOIN with the list as it stands now (changes before the ACKNOWLEDGE were not sent).
        const list = await this.host.presenceList(channel);
        if (this.conn.subscriptions.get(channel) !== sub) return;
        this.send(f.presenceFrame(channel, 'JOIN', sub.info(), list.values()));
      }
      for (const r of pending.replies) this.send(f.replyFrame(channel, r.event, r.payload, requestId));
      pending.commit();
    } catch (err) {
      const e = this.replyErrorOf(err);
      this.send(f.declineFrame(channel, requestId, e.message, statusOf(e), e.code));
    } finally {
      this.#joining.delete(channel);
    }
  }

  async #leave(channel: string): Promise<void> {
    // No answer (the client closed its channel already); unknown channels are ignored.
    if (!this.#joined.delete(channel)) return;
    if (channel === BROADCAST_CHANNEL) return;
    await this.host.unsubscribe(this.conn, channel);
  }

  async #broadcast(channel: string, event: string, payload: unknown, requestId: string): Promise<void> {
    // Every client BROADCAST gets at least one frame back with its requestId (sendForResponse
    // has no timeout in the official client): an echo, a reply, or an error.
    try {
      if (f.RESERVED_EVENTS.has(event)) throw new ReplyError(Errors.permissionDenied, `event name ${event} is reserved`);
      if (!this.#joined.has(channel) || channel === BROADCAST_CHANNEL) throw new ReplyError(Errors.permissionDenied, 'not a member of this channel');
      const answered = await this.host.event(this.conn, channel, event, payload, requestId);
      // A handler that sent the sender nothing (broadcastFrom, presence update, nothing at all):
      // an empty SYSTEM `ack` carries the requestId so a pending sendForResponse settles.
      if (!answered) this.send(f.frame('SYSTEM', ACK_EVENT, channel, requestId, '{}'));
    } catch (err) {
      const e = this.replyErrorOf(err);
      this.send(f.errorFrame(channel, requestId, broadcastErrorType(e), e.message, statusOf(e)));
    }
  }

  /** A presence frame from the protocol's fan-out: only for channels acknowledged to the client. */
  sendPresenceFrame(channel: string, frame: Buffer): void {
    if (!this.#joined.has(channel) || this.conn.state !== 'connected') return;
    this.conn.enqueueControl(frame);
  }

  presenceChanged(channel: string, event: PresenceEvent, info: ClientInfo): void {
    // Before the ACKNOWLEDGE the client would drop the frame: the join sends the list itself.
    if (!this.#joined.has(channel)) return;
    this.protocol.queuePresence(channel, event, info, this);
  }

  pushSubscribed(channel: string, _result: SubscribeOutcome): void {
    this.#joined.add(channel);
    this.send(f.acknowledgeFrame(channel));
  }

  pushUnsubscribed(channel: string, code: number, reason: string): void {
    if (!this.#joined.delete(channel)) return;
    // The reference's eviction frame, then a decline so the client's channel state follows.
    this.send(f.frame('SYSTEM', 'kicked_out', channel, randomUUID(), JSON.stringify({ message: reason, code: 403 })));
    this.send(f.declineFrame(channel, randomUUID(), reason, 403, code));
  }

  pushMessage(data: string): void {
    // PondSocket has no connection-level messages: ENDPOINT frames never reach the app, so use '*'.
    this.send(f.frame('SYSTEM', 'message', BROADCAST_CHANNEL, randomUUID(), f.objectPayload(JSON.parse(data))));
  }

  pushReply(channel: string, event: string, payload: unknown, requestId: string | undefined): void {
    if (!this.#joined.has(channel)) return;
    this.send(f.replyFrame(channel, event, payload, requestId));
  }

}

export function pondProtocol(): PondProtocol {
  return new PondProtocol();
}
