import { Errors, ReplyError } from '../../codes.js';
import type { PendingSubscribe, Protocol, SessionConnection, SessionHost, SubscribeOutcome } from '../../protocol.js';
import { PROTOCOL_SLOTS } from '../../protocol.js';
import { encodeClientInfo as encodeInfo, isObject } from '../../internal/json.js';
import type { Publication } from '../../types.js';
import { SessionBase } from '../session-base.js';

/**
 * Plain JSON over a bare WebSocket (docs/protocols/plain-json.md): for browsers and tools with no
 * SDK. The client authenticates at the upgrade (`token` query parameter), then sends
 * `{"type":"subscribe"|"unsubscribe"|"publish"|"ping", ...}` or `{"action":name,"data":...,"id"?}`;
 * the server pushes `{"channel":...,"type":...,"data":...}`. Bad input gets
 * `{"type":"error","code":...,"message":...}` and the connection stays open.
 */

const q = JSON.stringify;

/** Frame types the server uses for its own frames: a publication's event never takes one of these names. */
export const RESERVED_TYPES: ReadonlySet<string> = new Set([
  'connected',
  'subscribed',
  'unsubscribed',
  'published',
  'reply',
  'pong',
  'error',
  'join',
  'leave',
  'message',
  'presence',
  'history',
]);

/** The `type` of a publication without an event name. */
export const PUBLICATION_TYPE = 'publication';

function idPart(id: unknown): string {
  return id === undefined ? '' : `,"id":${q(id)}`;
}

function validId(id: unknown): boolean {
  return id === undefined || (typeof id === 'string' && id.length <= 128) || (typeof id === 'number' && Number.isFinite(id));
}

/**
 * `{"channel","type","data"}` for a publication: data `{event: string, payload?}` gives
 * type = event and data = payload; anything else type "publication" and the data as it is.
 */
export function pushFrame(channel: string, pub: Publication): string {
  let type = PUBLICATION_TYPE;
  let data = pub.data;
  if (pub.data.startsWith('{') && pub.data.includes('"event"')) {
    let v: unknown;
    try {
      v = JSON.parse(pub.data);
    } catch {
      v = undefined;
    }
    if (isObject(v) && typeof v['event'] === 'string' && v['event'] !== '' && !RESERVED_TYPES.has(v['event'])) {
      type = v['event'];
      data = v['payload'] === undefined ? '{}' : q(v['payload']);
    }
  }
  let s = `{"channel":${q(channel)},"type":${q(type)},"data":${data}`;
  if (pub.info !== undefined) s += `,"info":${encodeInfo(pub.info)}`;
  if (pub.offset) s += `,"offset":${pub.offset}`;
  return s + '}';
}

export class PlainSession extends SessionBase {
  readonly keepalive = 'transport' as const;

  constructor(conn: SessionConnection, host: SessionHost) {
    // Frames are handled in order, and only once the connection is registered (`connected` sent).
    super(conn, host, { gated: true, closeOnFailure: false });
  }

  #error(code: number, message: string, id?: unknown, extra = ''): void {
    this.host.countError(code);
    this.send(`{"type":"error","code":${code},"message":${q(message)}${idPart(id)}${extra}}`);
  }

  start(subs: ReadonlyMap<string, PendingSubscribe>): void {
    this.send(`{"type":"connected","client":${q(this.conn.id)},"user":${q(this.conn.user)}}`);
    for (const [channel, pending] of subs) {
      this.send(`{"type":"subscribed","channel":${q(channel)}}`);
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
    if (isBinary) return this.#error(Errors.badRequest.code, 'binary frames are not supported: send JSON text');
    let v: unknown;
    try {
      v = JSON.parse(data.toString('utf8'));
    } catch {
      return this.#error(Errors.badRequest.code, 'invalid JSON');
    }
    if (!isObject(v)) return this.#error(Errors.badRequest.code, 'a frame must be a JSON object');
    await this.#dispatch(v);
  }

  async #dispatch(m: Record<string, unknown>): Promise<void> {
    if (this.conn.state !== 'connected') return;
    const id = m['id'];
    if (!validId(id)) return this.#error(Errors.badRequest.code, 'id must be a string (up to 128 characters) or a number');
    try {
      if ('action' in m) {
        const action = m['action'];
        if (typeof action !== 'string' || action === '') throw new ReplyError(Errors.badRequest, 'action must be a non-empty string');
        const result = await this.host.rpc(this.conn, action, m['data']);
        const text = result === undefined ? 'null' : q(result);
        return this.send(`{"type":"reply","action":${q(action)}${idPart(id)},"data":${text}}`);
      }
      const type = m['type'];
      if (type === undefined) throw new ReplyError(Errors.badRequest, 'missing field: type (or action)');
      if (type === 'ping') return this.send(`{"type":"pong"${idPart(id)}}`);
      if (type !== 'subscribe' && type !== 'unsubscribe' && type !== 'publish' && type !== 'presence' && type !== 'history') {
        throw new ReplyError(Errors.badRequest, typeof type === 'string' ? `unknown type: ${type.slice(0, 64)}` : 'type must be a string');
      }
      const channel = m['channel'];
      if (typeof channel !== 'string' || channel === '') throw new ReplyError(Errors.badRequest, 'missing field: channel');
      switch (type) {
        case 'subscribe': {
          const pending = await this.host.subscribe(this.conn, { channel, data: m['data'] });
          this.send(`{"type":"subscribed","channel":${q(channel)}${idPart(id)}}`);
          pending.commit();
          return;
        }
        case 'unsubscribe':
          await this.host.unsubscribe(this.conn, channel);
          return this.send(`{"type":"unsubscribed","channel":${q(channel)}${idPart(id)}}`);
        case 'publish': {
          if (!('data' in m) || m['data'] === null) throw new ReplyError(Errors.badRequest, 'missing field: data');
          const pos = await this.host.publish(this.conn, channel, m['data']);
          return this.send(`{"type":"published","channel":${q(channel)}${idPart(id)}${pos?.offset ? `,"offset":${pos.offset}` : ''}}`);
        }
        case 'presence': {
          const list = await this.host.presence(this.conn, channel);
          return this.send(`{"type":"presence","channel":${q(channel)}${idPart(id)},"data":[${[...list.values()].map(encodeInfo).join(',')}]}`);
        }
        case 'history': {
          const limit = m['limit'] === undefined ? 10 : m['limit'];
          if (typeof limit !== 'number' || !Number.isInteger(limit)) throw new ReplyError(Errors.badRequest, 'limit must be an integer');
          const r = await this.host.history(this.conn, channel, { limit, reverse: m['reverse'] === true });
          const pubs = r.publications.map((p) => pushFrame(channel, p)).join(',');
          return this.send(
            `{"type":"history","channel":${q(channel)}${idPart(id)},"data":[${pubs}],"offset":${r.position.offset},"epoch":${q(r.position.epoch)}}`,
          );
        }
      }
    } catch (err) {
      const e = this.replyErrorOf(err);
      const extra = typeof m['channel'] === 'string' ? `,"channel":${q(m['channel'])}` : typeof m['action'] === 'string' ? `,"action":${q(m['action'])}` : '';
      this.send(`{"type":"error","code":${e.code},"message":${q(e.message)}${idPart(id)}${extra}}`);
    }
  }

  pushSubscribed(channel: string, _result: SubscribeOutcome): void {
    this.send(`{"type":"subscribed","channel":${q(channel)}}`);
  }

  pushUnsubscribed(channel: string, code: number, reason: string): void {
    this.send(`{"type":"unsubscribed","channel":${q(channel)},"code":${code},"reason":${q(reason)}}`);
  }

  pushMessage(data: string): void {
    this.send(`{"type":"message","data":${data}}`);
  }

  pushReply(channel: string, event: string, payload: unknown): void {
    this.send(`{"channel":${q(channel)},"type":${q(RESERVED_TYPES.has(event) ? PUBLICATION_TYPE : event)},"data":${q(payload ?? {})},"reply":true}`);
  }

}

export function plainProtocol(): Protocol {
  return {
    name: 'plain',
    slot: PROTOCOL_SLOTS.plain,
    newlineBatching: false,
    encodePublication: (channel, pub) => Buffer.from(pushFrame(channel, pub)),
    encodeBroadcast: (pub) => Buffer.from(pushFrame('*', pub)),
    encodeJoin: (channel, info) => Buffer.from(`{"channel":${q(channel)},"type":"join","info":${encodeInfo(info)}}`),
    encodeLeave: (channel, info) => Buffer.from(`{"channel":${q(channel)},"type":"leave","info":${encodeInfo(info)}}`),
    createSession: (conn, host) => new PlainSession(conn, host),
  };
}
