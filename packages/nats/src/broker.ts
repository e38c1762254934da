import { type Broker, type BrokerEventHandler, type ClientInfo, type HistoryOptions, IdempotencyCache, type IdempotentPublish, type Publication, type StreamPosition, type VersionedPublish } from '@switchboard/server';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodePub, encodePub, H } from './codec.js';
import type { JetStreamHistoryStore } from './history.js';
import { type NatsConnectionOptions, NatsEngineError, NatsLink, untoken } from './link.js';
import { OffsetReorder } from './reorder.js';

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
  /** Idempotent publications without history (core NATS): this node's own results. */
  readonly #idempotency = new IdempotencyCache();
  readonly #writeTimeoutMs: number;
  #handler: BrokerEventHandler | undefined;
  #nc: NatsConnection | undefined;
  readonly #subs = new Map<string, Subscription>();
  #control: Subscription | undefined;
  /** Pattern prefixes subscribed (the node's index does the matching). */
  readonly #patterns = new Set<string>();
  /** While a pattern is subscribed: the wildcard subscription to every channel's subject. */
  #patternSub: Subscription | undefined;
  #off: (() => void) | undefined;
  /** History publications back in offset order (JetStream may republish two concurrent appends swapped). */
  readonly #order: OffsetReorder;
  readonly #patternOrder: OffsetReorder;
  #flush: Promise<void> | undefined;
  #closed = false;
  /** Reconnects seen (for tests and metrics). */
  reconnects = 0;

  /** `history`: the JetStream history store publications with history go through (none: publish with history is refused). */
  /**
   * `reorderHoldMs`: how long a history publication that arrived ahead of a missing offset waits
   * for it before both are handed on as they are (default 250 ms; see `OffsetReorder`).
   */
  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { history?: JetStreamHistoryStore; writeTimeoutMs?: number; reorderHoldMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.#history = options.history;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 5000;
    const holdMs = options.reorderHoldMs ?? 250;
    this.#order = new OffsetReorder(holdMs, (channel, pub) => this.#handler?.onPublication(channel, pub));
    this.#patternOrder = new OffsetReorder(holdMs, (channel, pub) => this.#handler?.onPatternPublication?.(channel, pub), 10_000);
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
        if (o > 0) this.#order.push(channel, decodePub(dec.decode(m.data), o, hdr!.get(H.epoch), true)); // 0: an epoch marker
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

  /** A message on the wildcard subscription: publications only, for the node's pattern subscribers. */
  #onPatternMessage(m: Msg): void {
    const h = this.#handler;
    if (h?.onPatternPublication === undefined) return;
    const channel = untoken(m.subject.slice(this.#clientPrefix.length));
    if (channel === undefined) return;
    try {
      const hdr = m.headers;
      const offset = hdr?.get(H.offset);
      if (offset) {
        const o = Number(offset);
        if (o > 0) this.#patternOrder.push(channel, decodePub(dec.decode(m.data), o, hdr!.get(H.epoch), true));
        return;
      }
      const s = dec.decode(m.data);
      if (s.charCodeAt(0) === 112 /* p */) h.onPatternPublication(channel, decodePub(s.slice(1), 0, '', true));
    } catch {
      // not ours: ignore
    }
  }

  /** `<prefix>.client.`: what precedes a channel's token in its subject. */
  get #clientPrefix(): string {
    return this.link.names.clientAll.slice(0, -1);
  }

  /**
   * Pattern subscriptions (issue 21). A channel is one subject token (`token`: `orders:eu:1` is
   * `orders_3Aeu_3A1`), and NATS wildcards match whole tokens only, so no NATS subject wildcard
   * selects the channels under a character prefix: while any pattern is subscribed the node holds
   * one subscription to every channel's subject (`<prefix>.client.*`) and the node's pattern
   * index picks the publications that match. Resolves once the server has the subscription.
   */
  async subscribePattern(prefix: string): Promise<void> {
    const nc = this.#conn();
    await this.link.ready();
    this.#patterns.add(prefix);
    const fresh = this.#patternSub === undefined;
    if (fresh) this.#patternSub = nc.subscribe(this.link.names.clientAll, { callback: (err, m) => !err && this.#onPatternMessage(m) });
    try {
      await withTimeout(nc.flush(), this.#writeTimeoutMs, 'NATS pattern subscribe');
    } catch (err) {
      this.#patterns.delete(prefix);
      if (fresh) this.#dropPatternSub();
      throw err;
    }
  }

  async unsubscribePattern(prefix: string): Promise<void> {
    this.#patterns.delete(prefix);
    if (this.#patterns.size === 0) {
      this.#dropPatternSub();
      this.#patternOrder.close();
    }
  }

  #dropPatternSub(): void {
    const s = this.#patternSub;
    this.#patternSub = undefined;
    try {
      s?.unsubscribe();
    } catch {
      // the connection is gone: so is the subscription
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
    this.#order.forget(channel);
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

  /**
   * Publish versions are checked across nodes when publications with history go through JetStream:
   * the channel's last version rides on its top history message, checked by the append that
   * expects that top (`JetStreamHistoryStore.append`).
   */
  get versionedPublish(): boolean {
    return this.#history !== undefined;
  }

  /**
   * With JetStream history, idempotent publications with history are deduplicated across nodes by
   * JetStream (`Nats-Msg-Id`, within the stream's duplicate window of 5 minutes). Core NATS keeps
   * nothing to check against: an idempotent publication without history is deduplicated on this
   * node only (the same as the node's own cache).
   */
  get idempotentPublish(): boolean {
    return this.#history !== undefined;
  }

  async publish(
    channel: string,
    pub: Publication,
    options?: { history?: HistoryOptions; version?: VersionedPublish; idempotent?: IdempotentPublish },
  ): Promise<StreamPosition | undefined> {
    if (options?.version !== undefined && options.history === undefined) throw new RangeError('a publish version needs history');
    if (options?.history !== undefined) {
      if (this.#history === undefined) throw new NatsEngineError('history needs JetStream history with the NATS broker (history: "jetstream")');
      return this.#history.append(channel, pub, options.history, options.version, options.idempotent);
    }
    const idem = options?.idempotent;
    if (idem !== undefined) {
      return this.#idempotency.run(channel, idem.key, () => this.#publishPlain(channel, pub), () => idem.duplicate?.());
    }
    return this.#publishPlain(channel, pub);
  }

  async #publishPlain(channel: string, pub: Publication): Promise<undefined> {
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
    this.#order.close();
    this.#patternOrder.close();
    this.#off?.();
    try {
      for (const s of this.#subs.values()) s.unsubscribe();
      this.#control?.unsubscribe();
      this.#patternSub?.unsubscribe();
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
