import type { Broker, BrokerEventHandler, ClientInfo, HistoryOptions, Publication, StreamPosition } from '@switchboard/server';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodePub, encodePub, H } from './codec.js';
import type { JetStreamHistoryStore } from './history.js';
import { type NatsConnectionOptions, NatsEngineError, NatsLink } from './link.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Moves publications between nodes over core NATS. A node subscribes to a channel's subject only
 * while it has local subscribers. Without history a publication is one core NATS message
 * (`p<json>`; joins `j<json>`, leaves `l<json>`). With history the publication is appended to the
 * channel's JetStream subject (`JetStreamHistoryStore`), and the stream republishes it, after
 * storing it and in stream order, to the channel's subject: so offsets and delivery order agree
 * across nodes, as with Redis's append-and-publish script.
 */
export class NatsBroker implements Broker {
  readonly link: NatsLink;
  readonly #history: JetStreamHistoryStore | undefined;
  readonly #writeTimeoutMs: number;
  #handler: BrokerEventHandler | undefined;
  #nc: NatsConnection | undefined;
  readonly #subs = new Map<string, Subscription>();
  #control: Subscription | undefined;
  #off: (() => void) | undefined;
  #flush: Promise<void> | undefined;
  #closed = false;
  /** Reconnects seen (for tests and metrics). */
  reconnects = 0;

  /** `history`: the JetStream history store publications with history go through (none: publish with history is refused). */
  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { history?: JetStreamHistoryStore; writeTimeoutMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.#history = options.history;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 5000;
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.#handler = handler;
    const nc = await this.link.connection();
    this.#nc = nc;
    this.#control = nc.subscribe(this.link.names.control, { callback: (err, m) => !err && this.#handler?.onControl(dec.decode(m.data)) });
    this.#off = this.link.on((ev) => {
      if (ev !== 'reconnect' || this.#closed) return;
      this.reconnects++;
      this.#handler?.onReconnect?.();
    });
    await nc.flush();
  }

  #onMessage(channel: string, m: Msg): void {
    const h = this.#handler;
    if (h === undefined) return;
    try {
      const hdr = m.headers;
      const offset = hdr?.get(H.offset);
      if (offset) {
        const o = Number(offset);
        if (o > 0) h.onPublication(channel, decodePub(dec.decode(m.data), o, hdr!.get(H.epoch), true)); // 0: an epoch marker
        return;
      }
      const s = dec.decode(m.data);
      const k = s.charCodeAt(0);
      if (k === 112 /* p */) h.onPublication(channel, decodePub(s.slice(1), 0, '', true));
      else if (k === 106 /* j */) h.onJoin(channel, JSON.parse(s.slice(1)) as ClientInfo);
      else if (k === 108 /* l */) h.onLeave(channel, JSON.parse(s.slice(1)) as ClientInfo);
    } catch {
      // not ours (another writer on our prefix): ignore
    }
  }

  #conn(): NatsConnection {
    if (this.#nc === undefined) throw new Error('NatsBroker is not started');
    return this.#nc;
  }

  async subscribe(channel: string): Promise<void> {
    const nc = this.#conn();
    await this.link.ready(); // refused at once while NATS is away, never a hang
    const fresh = !this.#subs.has(channel);
    if (fresh) this.#subs.set(channel, nc.subscribe(this.link.names.client(channel), { callback: (err, m) => !err && this.#onMessage(channel, m) }));
    try {
      await withTimeout(nc.flush(), this.#writeTimeoutMs, 'NATS subscribe'); // the server has the SUB once the PONG is back
    } catch (err) {
      if (fresh) {
        this.#subs.get(channel)?.unsubscribe();
        this.#subs.delete(channel);
      }
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const s = this.#subs.get(channel);
    if (s === undefined) return;
    this.#subs.delete(channel);
    try {
      s.unsubscribe();
    } catch {
      // the connection is gone: so is the subscription
    }
  }

  /**
   * Core NATS publish, then one shared flush per event-loop turn: the promise resolves once the
   * server has everything sent before it, and rejects while NATS is away (nothing is queued).
   */
  async #send(subject: string, body: string): Promise<void> {
    const nc = await this.link.ready();
    nc.publish(subject, enc.encode(body));
    if (this.#flush === undefined) {
      const f = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        if (this.#flush === f) this.#flush = undefined;
        return withTimeout(nc.flush(), this.#writeTimeoutMs, 'NATS publish');
      });
      this.#flush = f;
    }
    await this.#flush;
  }

  async publish(channel: string, pub: Publication, options?: { history?: HistoryOptions }): Promise<StreamPosition | undefined> {
    if (options?.history !== undefined) {
      if (this.#history === undefined) throw new NatsEngineError('history needs JetStream history with the NATS broker (history: "jetstream")');
      return this.#history.append(channel, pub, options.history);
    }
    await this.#send(this.link.names.client(channel), `p${encodePub(pub)}`);
    return undefined;
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(this.link.names.client(channel), `j${JSON.stringify(info)}`);
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(this.link.names.client(channel), `l${JSON.stringify(info)}`);
  }

  async publishControl(message: string): Promise<void> {
    await this.#send(this.link.names.control, message);
  }

  /** Channels this node is subscribed to (for leak checks). */
  get subscribedChannelCount(): number {
    return this.#subs.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#off?.();
    try {
      for (const s of this.#subs.values()) s.unsubscribe();
      this.#control?.unsubscribe();
    } catch {
      // the connection is gone: so are the subscriptions
    }
    this.#subs.clear();
    await this.link.release();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NatsEngineError(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
