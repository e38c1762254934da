import { Disconnects, type DisconnectValue } from './codes.js';
import { ClientView } from './client-view.js';
import type { Client } from './context.js';
import type { Protocol, ProtocolName, Session, SessionConnection } from './protocol.js';
import { Subscription } from './subscription.js';
import type { ConnectionRequest, Transport, TransportHandlers } from './transport.js';
import type { ClientInfo, Delivery, TrafficCounters } from './types.js';

export type { ConnectionRequest } from './transport.js';
export { Subscription };


/**
 * The node's side of a connection's lifecycle (implemented by the Hub): where queued writes are
 * scheduled, where a closed connection is unregistered, and the counters it adds to.
 */
export interface ConnectionOwner {
  /** Flush `conn` once this tick's deliveries are queued (one write per connection per tick). */
  scheduleFlush(conn: Connection): void;
  /** `conn`'s socket is backed up: retry its flush shortly, until it drains or closes. */
  hold(conn: Connection): void;
  /** `conn` no longer needs retrying. */
  release(conn: Connection): void;
  connectionClosed(conn: Connection, code: number, reason: string): void;
  /** A transport refused an oversized message (counted as a disconnect with its code). */
  countDisconnect(code: number): void;
  /** A session threw while handling a message. */
  reportError(err: unknown, conn: Connection): void;
  readonly maxQueueBytes: number;
  /** Inbound backpressure: pause reading above this many pending commands, resume at half. */
  readonly maxPendingCommands: number;
  /** Paused longer than this (ms): the keepalive tick disconnects with 3013. */
  readonly pendingStallMs: number;
  readonly stats: { messagesIn: number; bytesIn: number; bytesOut: number; byProtocol: Record<ProtocolName, TrafficCounters> };
}

const NEWLINE = Buffer.from('\n');
const NOTHING = Buffer.alloc(0);

/** The app's read-only view of a connection (one per connection). */
export function clientOf(conn: Connection): Client {
  return conn.client;
}

/**
 * One client transport session: identity, assigns, subscriptions, and a bounded outbound queue
 * flushed once per tick (several messages coalesced into one write).
 */
export class Connection implements SessionConnection {
  user = '';
  /** Connection info (token `info` claim or connect handler), JSON text. */
  info: string | undefined;
  /** Server-side only data (token `meta`). */
  meta: unknown;
  /** The connection token's claims (grants: `caps`, `subscribeByClaim`), if it came with one. */
  claims: Readonly<Record<string, unknown>> | undefined;
  /** Headers sent inside the connect command (Centrifugo's headers emulation), for backend proxies. */
  emulatedHeaders: Readonly<Record<string, string>> | undefined;
  /** Per-connection data set by connect handlers and app code. */
  readonly assigns: Record<string, unknown> = {};
  readonly subscriptions = new Map<string, Subscription<Connection>>();
  session!: Session;
  state: 'connecting' | 'connected' | 'closed' = 'connecting';
  readonly openedAt = Date.now();
  /** When the connection's credentials expire, ms; 0: never. */
  expireAt = 0;
  /** Keepalive bookkeeping (driven by the node's timer). */
  lastPingAt = 0;
  /** More counters this connection's traffic adds to, chosen by its session (Pusher: its app's). */
  traffic: TrafficCounters | undefined;
  awaitingPong = false;
  /** Client name/version from connect (observability only). */
  clientName = '';
  clientVersion = '';
  /** Commands received and not finished yet (inbound backpressure). */
  pendingCommands = 0;
  /** The most commands this connection ever had pending (metrics, tests). */
  peakPendingCommands = 0;
  #pausedAt = 0;

  #queue: Buffer[] = [];
  #queueSubs: (Subscription<Connection> | undefined)[] = [];
  #queued = 0;
  #scheduled = false;
  #info: ClientInfo | undefined;
  #client: ClientView | undefined;

  constructor(
    readonly id: string,
    readonly proto: Protocol,
    readonly transport: Transport,
    readonly request: ConnectionRequest,
    readonly owner: ConnectionOwner,
  ) {}

  get protocol(): ProtocolName {
    return this.proto.name;
  }

  /** What app code sees of this connection (handlers, events). */
  get client(): Client {
    return (this.#client ??= new ClientView(this));
  }

  /** Start reading from the transport (the session exists by now). */
  open(): void {
    this.transport.open(new TransportEvents(this));
  }

  /** One whole client message from the transport. */
  transportMessage(data: Buffer, isBinary: boolean): void {
    const owner = this.owner;
    const stats = owner.stats;
    const perProtocol = stats.byProtocol[this.proto.name];
    stats.messagesIn++;
    stats.bytesIn += data.length;
    perProtocol.messagesIn++;
    perProtocol.bytesIn += data.length;
    const traffic = this.traffic;
    if (traffic !== undefined) {
      traffic.messagesIn++;
      traffic.bytesIn += data.length;
    }
    try {
      this.session.handleMessage(data, isBinary);
    } catch (err) {
      owner.reportError(err, this);
      this.close(Disconnects.internal);
    }
  }

  /**
   * Inbound backpressure: one more command waits for its turn. Above `maxPendingCommands` the
   * transport stops reading (TCP pushes back on the client), whether or not a command rate limit
   * is configured: the limit bounds what one connection can queue behind a slow engine.
   */
  commandQueued(): void {
    const n = ++this.pendingCommands;
    if (n > this.peakPendingCommands) this.peakPendingCommands = n;
    if (n > this.owner.maxPendingCommands && this.#pausedAt === 0 && this.state !== 'closed') {
      this.#pausedAt = Date.now();
      this.transport.pause();
    }
  }

  /** A command finished; at half the limit reading resumes. */
  commandDone(): void {
    const n = --this.pendingCommands;
    if (this.#pausedAt !== 0 && n <= this.owner.maxPendingCommands / 2) {
      this.#pausedAt = 0;
      if (this.state !== 'closed') this.transport.resume();
    }
  }

  /** Whether reading has been paused for longer than the node allows (then: disconnect 3013). */
  inboundStalled(now: number): boolean {
    return this.#pausedAt !== 0 && now - this.#pausedAt > this.owner.pendingStallMs;
  }

  get inboundPaused(): boolean {
    return this.#pausedAt !== 0;
  }

  channels(): string[] {
    return [...this.subscriptions.keys()];
  }

  isSubscribed(channel: string): boolean {
    return this.subscriptions.has(channel);
  }

  /** An async message to this connection alone. */
  send(data: unknown): void {
    this.session.pushMessage(JSON.stringify(data));
  }

  /** Close the connection (default: 3503 force disconnect, no reconnect). */
  disconnect(code: number = Disconnects.forceNoReconnect.code, reason: string = Disconnects.forceNoReconnect.reason): void {
    this.close({ code, reason });
  }

  /** ClientInfo for publications/presence; cached when there is no channel info. */
  clientInfo(chanInfo?: string): ClientInfo {
    if (chanInfo !== undefined) {
      return this.info === undefined
        ? { user: this.user, client: this.id, chanInfo }
        : { user: this.user, client: this.id, connInfo: this.info, chanInfo };
    }
    if (this.#info === undefined || this.#info.user !== this.user || this.#info.connInfo !== this.info) {
      this.#info = this.info === undefined ? { user: this.user, client: this.id } : { user: this.user, client: this.id, connInfo: this.info };
    }
    return this.#info;
  }

  /** Whether a targeted publication is for this connection. */
  wants(d: Delivery): boolean {
    if (d.exceptClient !== undefined && d.exceptClient === this.id) return false;
    if (d.toClients !== undefined && !d.toClients.includes(this.id)) return false;
    if (d.toUsers !== undefined && !d.toUsers.includes(this.user)) return false;
    return true;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Queue one message. Over the byte limit (queued + kernel-buffered) the subscription's slow
   * consumer policy applies: disconnect with "slow" (default), drop the oldest queued messages, or
   * keep only the latest per channel. Dropping marks the subscription lagged so the client is told.
   */
  enqueue(message: Buffer, sub?: Subscription<Connection>): void {
    if (this.state === 'closed') return;
    const limit = this.owner.maxQueueBytes;
    if (this.#queued + message.length + this.transport.bufferedAmount > limit) {
      // A delta chain cannot survive a dropped publication: delta subscribers are disconnected as slow.
      const policy = sub?.delta === true ? 'disconnect' : (sub?.resolved.options.slowConsumer ?? 'disconnect');
      if (policy === 'disconnect' || sub === undefined) {
        this.close(Disconnects.slow);
        return;
      }
      if (policy === 'latest-only') this.#dropChannel(sub);
      if (this.#queued + message.length + this.transport.bufferedAmount > limit) this.#dropOldest(limit - message.length - this.transport.bufferedAmount);
      if (this.#queued + message.length + this.transport.bufferedAmount > limit) {
        // Even an empty queue cannot take it: the socket itself is backed up.
        sub.lagged = true;
        sub.skipped++;
        return;
      }
    }
    this.#queue.push(message);
    this.#queueSubs.push(sub);
    this.#queued += message.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.owner.scheduleFlush(this);
    }
  }

  /**
   * Queue a control message (replies, errors, pings) that no policy may drop. A client that never
   * reads its replies still cannot grow memory without bound: when twice the queue limit is
   * already waiting (queued + socket buffer), it is disconnected as slow. One large reply (a
   * subscribe recovering many publications) to a client that keeps up always goes through.
   */
  enqueueControl(message: Buffer): void {
    if (this.state === 'closed') return;
    if (this.#queued + this.transport.bufferedAmount > 2 * this.owner.maxQueueBytes) {
      this.close(Disconnects.slow);
      return;
    }
    this.#queue.push(message);
    this.#queueSubs.push(undefined);
    this.#queued += message.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.owner.scheduleFlush(this);
    }
  }

  #dropChannel(sub: Subscription<Connection>): void {
    for (let i = 0; i < this.#queue.length; i++) {
      if (this.#queueSubs[i] === sub) {
        this.#queued -= this.#queue[i]!.length;
        this.#queue.splice(i, 1);
        this.#queueSubs.splice(i, 1);
        sub.lagged = true;
        sub.skipped++;
        i--;
      }
    }
  }

  #dropOldest(room: number): void {
    let i = 0;
    while (this.#queued > room && i < this.#queue.length) {
      const s = this.#queueSubs[i];
      if (s === undefined) {
        i++;
        continue;
      }
      s.lagged = true;
      s.skipped++;
      this.#queued -= this.#queue[i]!.length;
      this.#queue.splice(i, 1);
      this.#queueSubs.splice(i, 1);
    }
  }

  /** Write everything queued: one WebSocket message where the protocol batches (newlines, or concatenation for binary ones). */
  flush(): void {
    this.#scheduled = false;
    const q = this.#queue;
    if (q.length === 0 || this.state === 'closed') return this.owner.release(this);
    if (this.transport.bufferedAmount > this.owner.maxQueueBytes / 4) {
      // Backed up: keep the queue (where the slow-consumer policy can still act) and retry shortly.
      this.#scheduled = true;
      return this.owner.hold(this);
    }
    this.#flushNow();
  }

  /** Write the queue whatever the transport holds (before a close). */
  #flushNow(): void {
    this.#scheduled = false;
    this.owner.release(this);
    const q = this.#queue;
    if (q.length === 0 || this.state === 'closed') return;
    // A lone publication's bytes are shared with its other recipients: the transport may frame them once.
    const shared = this.#queueSubs[0] !== undefined;
    const stats = this.owner.stats;
    const perProtocol = stats.byProtocol[this.proto.name];
    stats.bytesOut += this.#queued;
    perProtocol.bytesOut += this.#queued;
    // Binary protocols (Centrifugo's Protobuf) batch by concatenation: each message carries its length.
    const batching = this.proto.newlineBatching || this.proto.binary === true;
    const sep = this.proto.binary === true ? NOTHING : NEWLINE;
    const messages = batching || q.length === 1 ? 1 : q.length;
    perProtocol.messagesOut += messages;
    const traffic = this.traffic;
    if (traffic !== undefined) {
      traffic.messagesOut += messages;
      traffic.bytesOut += this.#queued;
    }
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    const t = this.transport;
    if (q.length === 1) {
      if (shared && t.writeShared !== undefined) t.writeShared(q[0]!);
      else t.write(q[0]!);
    } else if (batching && t.writeJoined !== undefined) t.writeJoined(q, sep);
    else if (batching) {
      const parts = new Array<Buffer>(q.length * 2 - 1);
      for (let i = 0; i < q.length; i++) {
        if (i > 0) parts[i * 2 - 1] = sep;
        parts[i * 2] = q[i]!;
      }
      this.transport.write(Buffer.concat(parts));
    } else this.transport.writeMany(q);
  }

  /** Close with a code: queued messages are written first, then the close frame. */
  close(core: DisconnectValue): void {
    if (this.state === 'closed') return;
    // The code on the wire is the protocol's (Pusher's for a core disconnect); the core keeps its own.
    const d = this.proto.closeFor?.(core) ?? core;
    if (core.code !== Disconnects.slow.code) this.#flushNow();
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    try {
      this.session?.onClose?.(d.code, d.reason);
      if (core.code !== Disconnects.slow.code) this.#flushNow();
    } catch {
      // a session that fails while saying goodbye must not stop the close
    }
    this.state = 'closed';
    this.owner.release(this);
    if (core.code === Disconnects.connectionClosed.code) this.transport.terminate();
    else this.transport.close(d.code, d.reason);
    this.owner.connectionClosed(this, core.code, core.reason);
    this.#sessionClosed();
  }

  #sessionClosed(): void {
    try {
      this.session?.closed?.();
    } catch (err) {
      this.owner.reportError(err, this);
    }
  }

  /** The transport closed underneath us (client went away). */
  transportClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.owner.release(this);
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    this.owner.connectionClosed(this, code, reason);
    this.#sessionClosed();
  }
}

/**
 * The transport's events, routed to their connection. One small object per connection with its
 * methods on the prototype, where an object literal of arrow functions would cost four closures
 * and their context per connection.
 */
class TransportEvents implements TransportHandlers {
  constructor(readonly conn: Connection) {}
  message(data: Buffer, isBinary: boolean): void {
    this.conn.transportMessage(data, isBinary);
  }
  pong(): void {
    this.conn.awaitingPong = false;
  }
  oversized(code: number): void {
    this.conn.owner.countDisconnect(code);
  }
  closed(code: number, reason: string): void {
    this.conn.transportClosed(code, reason);
  }
}
