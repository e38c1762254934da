import type { ResolvedChannel } from './channels.js';
import { Disconnects, type DisconnectValue } from './codes.js';
import type { Protocol, ProtocolName, Session } from './protocol.js';
import type { Transport } from './transport.js';
import type { ClientInfo, Delivery, Publication } from './types.js';

/** What a connection knows of the HTTP request that opened it. */
export interface ConnectionRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly remoteAddress: string | undefined;
  readonly query: URLSearchParams;
}

/** The node's side of a connection's lifecycle (implemented by Switchboard). */
export interface ConnectionOwner {
  scheduleFlush(conn: Connection): void;
  connectionClosed(conn: Connection, code: number, reason: string): void;
  readonly maxQueueBytes: number;
  /** The node's counters: bytes handed to transports are added to `bytesOut` (and by protocol). */
  readonly stats: { bytesOut: number; byProtocol: Record<ProtocolName, { messagesOut: number; bytesOut: number }> };
}

/** One client's subscription to one channel on this node. */
export class Subscription {
  /** False while the subscribe is in progress: publications wait in `buffer` until the reply went out. */
  active = false;
  buffer: Publication[] | undefined = [];
  /** Last offset delivered (or the position the client recovered to). */
  offset = 0;
  epoch = '';
  positioned = false;
  recoverable = false;
  joinLeave = false;
  presence = false;
  serverSide = false;
  chanInfo: string | undefined;
  /** Subscription token expiry, ms since the epoch; 0: none. */
  expireAt = 0;
  /** Publications were dropped for this subscriber (slow-consumer policy): it must resync. */
  lagged = false;
  /** Publications dropped or superseded (latest-only) for this subscriber since it was last told. */
  skipped = 0;
  /** Assigns set by a join handler for this channel. */
  readonly assigns: Record<string, unknown> = {};

  constructor(readonly conn: Connection, readonly channel: string, readonly resolved: ResolvedChannel<unknown>) {}

  info(): ClientInfo {
    return this.conn.clientInfo(this.chanInfo);
  }
}

const NEWLINE = Buffer.from('\n');

/**
 * Connections whose socket is backed up (more than a quarter of the queue limit still buffered in
 * the transport) hold their queue instead of writing, so the slow-consumer policy can choose what
 * to drop; one shared timer retries them until they drain or close.
 */
const held = new Set<Connection>();
let heldTimer: NodeJS.Timeout | undefined;
const HELD_RETRY_MS = 20;

function retryHeld(): void {
  for (const conn of [...held]) {
    held.delete(conn);
    conn.flush();
  }
  if (held.size === 0 && heldTimer !== undefined) {
    clearInterval(heldTimer);
    heldTimer = undefined;
  }
}

function hold(conn: Connection): void {
  held.add(conn);
  if (heldTimer === undefined) {
    heldTimer = setInterval(retryHeld, HELD_RETRY_MS);
    heldTimer.unref();
  }
}

function release(conn: Connection): void {
  if (held.delete(conn) && held.size === 0 && heldTimer !== undefined) {
    clearInterval(heldTimer);
    heldTimer = undefined;
  }
}

/**
 * One client transport session: identity, assigns, subscriptions, and a bounded outbound queue
 * flushed once per tick (several messages coalesced into one write).
 */
export class Connection {
  user = '';
  /** Connection info (token `info` claim or connect handler), JSON text. */
  info: string | undefined;
  /** Server-side only data (token `meta`). */
  meta: unknown;
  /** The connection token's claims (grants: `caps`, `subscribeByClaim`), if it came with one. */
  claims: Readonly<Record<string, unknown>> | undefined;
  /** Per-connection data set by connect handlers and app code. */
  readonly assigns: Record<string, unknown> = {};
  readonly subscriptions = new Map<string, Subscription>();
  session!: Session;
  state: 'connecting' | 'connected' | 'closed' = 'connecting';
  readonly openedAt = Date.now();
  /** When the connection's credentials expire, ms; 0: never. */
  expireAt = 0;
  /** Keepalive bookkeeping (driven by the node's timer). */
  lastPingAt = 0;
  awaitingPong = false;
  /** Client name/version from connect (observability only). */
  clientName = '';
  clientVersion = '';

  #queue: Buffer[] = [];
  #queueSubs: (Subscription | undefined)[] = [];
  #queued = 0;
  #scheduled = false;
  #info: ClientInfo | undefined;

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
  enqueue(message: Buffer, sub?: Subscription): void {
    if (this.state === 'closed') return;
    const limit = this.owner.maxQueueBytes;
    if (this.#queued + message.length + this.transport.bufferedAmount > limit) {
      const policy = sub?.resolved.options.slowConsumer ?? 'disconnect';
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

  #dropChannel(sub: Subscription): void {
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

  /** Write everything queued: one WebSocket message where the protocol batches with newlines. */
  flush(): void {
    this.#scheduled = false;
    const q = this.#queue;
    if (q.length === 0 || this.state === 'closed') return release(this);
    if (this.transport.bufferedAmount > this.owner.maxQueueBytes / 4) {
      // Backed up: keep the queue (where the slow-consumer policy can still act) and retry shortly.
      this.#scheduled = true;
      return hold(this);
    }
    this.#flushNow();
  }

  /** Write the queue whatever the transport holds (before a close). */
  #flushNow(): void {
    this.#scheduled = false;
    release(this);
    const q = this.#queue;
    if (q.length === 0 || this.state === 'closed') return;
    // A lone publication's bytes are shared with its other recipients: the transport may frame them once.
    const shared = this.#queueSubs[0] !== undefined;
    const stats = this.owner.stats;
    const perProtocol = stats.byProtocol[this.proto.name];
    stats.bytesOut += this.#queued;
    perProtocol.bytesOut += this.#queued;
    perProtocol.messagesOut += this.proto.newlineBatching || q.length === 1 ? 1 : q.length;
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    const t = this.transport;
    if (q.length === 1) {
      if (shared && t.writeShared !== undefined) t.writeShared(q[0]!);
      else t.write(q[0]!);
    } else if (this.proto.newlineBatching && t.writeJoined !== undefined) t.writeJoined(q, NEWLINE);
    else if (this.proto.newlineBatching) {
      const parts: Buffer[] = new Array(q.length * 2 - 1);
      for (let i = 0; i < q.length; i++) {
        if (i > 0) parts[i * 2 - 1] = NEWLINE;
        parts[i * 2] = q[i]!;
      }
      this.transport.write(Buffer.concat(parts));
    } else this.transport.writeMany(q);
  }

  /** Close with a code: queued messages are written first, then the close frame. */
  close(d: DisconnectValue): void {
    if (this.state === 'closed') return;
    if (d.code !== Disconnects.slow.code) this.#flushNow();
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    try {
      this.session?.onClose?.(d.code, d.reason);
      if (d.code !== Disconnects.slow.code) this.#flushNow();
    } catch {
      // a session that fails while saying goodbye must not stop the close
    }
    this.state = 'closed';
    release(this);
    if (d.code === Disconnects.connectionClosed.code) this.transport.terminate();
    else this.transport.close(d.code, d.reason);
    this.owner.connectionClosed(this, d.code, d.reason);
  }

  /** The transport closed underneath us (client went away). */
  transportClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    release(this);
    this.#queue = [];
    this.#queueSubs = [];
    this.#queued = 0;
    this.owner.connectionClosed(this, code, reason);
  }
}
