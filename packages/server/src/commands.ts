import { ACK_METHOD, MAX_ACK_OFFSETS } from './acks.js';
import { checkChannelName, historyOf, type ResolvedChannel } from './channels.js';
import { Errors, ReplyError } from './codes.js';
import { clientOf, type Connection } from './connection.js';
import type { EventContext, PublishContext, RouteContext, RpcContext } from './context.js';
import type { HistoryReadOptions } from './history.js';
import type { Hub } from './hub.js';
import type { NodeContext } from './node-context.js';
import { authorizePublish, can } from './permissions.js';
import type { PresenceStats } from './presence.js';
import { runChain, type CommandPipeline } from './pipeline.js';
import type { Route } from './route.js';
import type { ClientInfo, Delivery, Publication, StreamPosition } from './types.js';

/** The node operations client commands end in (implemented by the Switchboard facade). */
export interface CommandTargets {
  publish(channel: string, data: unknown, options: { info?: ClientInfo; delivery?: Delivery; raw?: boolean; skipHistory?: boolean }): Promise<StreamPosition | undefined>;
  history(channel: string, opts: Partial<HistoryReadOptions>): Promise<{ publications: Publication[]; position: StreamPosition }>;
  evict(channel: string, user: string, reason?: string): Promise<void>;
  /** Tell every node that a presence entry's data changed. */
  presenceUpdated(channel: string, info: ClientInfo): Promise<void>;
}

/**
 * Client commands other than connect and subscribe: each runs the command pipeline (rate limit,
 * middleware), checks permission, then acts. Every protocol's session ends up here.
 */
export class Commands {
  readonly rpcHandlers = new Map<string, (ctx: RpcContext) => unknown>();
  /** The app's publish handler (`Switchboard.onPublish`). */
  onPublish: ((ctx: PublishContext) => unknown) | undefined;

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly pipeline: CommandPipeline,
    readonly targets: CommandTargets,
  ) {}

  get #insecure(): boolean {
    return this.ctx.options.insecure === true;
  }

  #resolve(channel: string): ResolvedChannel<Route> {
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    const resolved = this.ctx.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    return resolved;
  }

  /** Client-initiated unsubscribe. */
  async unsubscribe(conn: Connection, channel: string): Promise<void> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) return;
    await this.pipeline.run({ kind: 'unsubscribe', protocol: conn.protocol, client: clientOf(conn), channel, state: {} }, async () => {
      this.hub.removeSubscription(sub, true);
    });
  }

  /** A publication from a client: permission (namespace rules or onPublish), then publish. */
  async publish(conn: Connection, channel: string, data: unknown, requestId?: string): Promise<StreamPosition | undefined> {
    const resolved = this.#resolve(channel);
    // Event-style data on a route with a handler for that event goes to the handler.
    if (resolved.route && isEvent(data) && (resolved.route.events.has(data.event) || resolved.route.events.has('*'))) {
      await this.event(conn, channel, data.event, data.payload, requestId);
      return undefined;
    }
    let result: StreamPosition | undefined;
    const client = clientOf(conn);
    await this.pipeline.run({ kind: 'publish', protocol: conn.protocol, client, channel, data, state: {} }, async () => {
      const changes = await authorizePublish(conn, client, resolved.options, channel, data, this.#insecure, this.onPublish);
      result = await this.#publishAs(conn, channel, changes.data ?? data, originOf(conn, requestId), changes.data !== undefined, changes.skipHistory === true);
    });
    return result;
  }

  /** Publish as `conn` (its client info); `delivery` carries the origin for echoes and targeting. */
  #publishAs(conn: Connection, channel: string, data: unknown, delivery: Delivery | undefined, raw = false, skipHistory = false): Promise<StreamPosition | undefined> {
    const sub = conn.subscriptions.get(channel);
    return this.targets.publish(channel, data, {
      info: conn.clientInfo(sub?.chanInfo),
      ...(delivery ? { delivery } : {}),
      ...(raw ? { raw: true } : {}),
      ...(skipHistory ? { skipHistory: true } : {}),
    });
  }

  /**
   * A named event from a client on a channel (PondSocket broadcast, plain-JSON event, native
   * publish of {event,payload}). Resolves to whether the sender was sent something for this event
   * (its echo or a reply), so request/response protocols can answer a request the handler left unanswered.
   */
  async event(conn: Connection, channel: string, event: string, payload: unknown, requestId?: string): Promise<boolean> {
    const resolved = this.#resolve(channel);
    const route = resolved.route;
    const handler = route?.events.get(event) ?? route?.events.get('*');
    const client = clientOf(conn);
    if (!handler) {
      // No handler: a plain publication of {event, payload}, where the channel allows client publishing.
      const data = { event, payload: payload === undefined ? {} : payload };
      await this.pipeline.run({ kind: 'publish', protocol: conn.protocol, client, channel, event, data, state: {} }, async () => {
        const changes = await authorizePublish(conn, client, resolved.options, channel, data, this.#insecure, this.onPublish);
        await this.#publishAs(conn, channel, changes.data ?? data, originOf(conn, requestId), changes.data !== undefined, changes.skipHistory === true);
      });
      return true;
    }
    if (!conn.subscriptions.has(channel)) throw new ReplyError(Errors.permissionDenied, 'not a member of this channel');
    let answered = false;
    const emit = async (ev: string, p: unknown, extra: Partial<Delivery> = {}) =>
      void (await this.#publishAs(conn, channel, { event: ev, payload: p ?? {} }, {
        originClient: conn.id,
        ...(requestId !== undefined ? { originRequest: requestId } : {}),
        ...extra,
      }));
    const ctx: EventContext = {
      client,
      channel,
      params: resolved.params,
      event,
      payload,
      broadcast: async (ev, p) => {
        answered = true;
        await emit(ev, p);
      },
      broadcastFrom: async (ev, p) => emit(ev, p, { exceptClient: conn.id }),
      broadcastTo: async (users, ev, p) => {
        if (users.includes(conn.user)) answered = true;
        await emit(ev, p, { toUsers: [...users] });
      },
      reply: (ev, p) => {
        answered = true;
        conn.session.pushReply?.(channel, ev, p ?? {}, requestId);
      },
      updatePresence: async (data) => this.updatePresence(conn, channel, data),
      evict: async (user, reason) => this.targets.evict(channel, user, reason),
    };
    await this.pipeline.run({ kind: 'event', protocol: conn.protocol, client, channel, event, data: payload, state: {} }, async () => {
      const routeCtx: RouteContext = { kind: 'event', protocol: conn.protocol, client, channel, params: resolved.params, event, data: payload, state: {} };
      await runChain(route!.middleware, routeCtx, async () => {
        await handler(ctx);
      });
    });
    return answered;
  }

  async presence(conn: Connection, channel: string): Promise<Map<string, ClientInfo>> {
    let out: Map<string, ClientInfo> | undefined;
    await this.#presenceCommand(conn, channel, async () => void (out = await this.ctx.presence.get(channel)));
    return out!;
  }

  async presenceStats(conn: Connection, channel: string): Promise<PresenceStats> {
    let out: PresenceStats | undefined;
    await this.#presenceCommand(conn, channel, async () => void (out = await this.ctx.presence.stats(channel)));
    return out!;
  }

  async #presenceCommand(conn: Connection, channel: string, read: () => Promise<void>): Promise<void> {
    const resolved = this.#resolve(channel);
    await this.pipeline.run({ kind: 'presence', protocol: conn.protocol, client: clientOf(conn), channel, state: {} }, async () => {
      if (!resolved.options.presence) throw new ReplyError(Errors.notAvailable);
      if (!can(conn, resolved.options, 'presence', channel, this.#insecure)) throw new ReplyError(Errors.permissionDenied);
      await read();
    });
  }

  async history(conn: Connection, channel: string, opts: HistoryReadOptions): Promise<{ publications: Publication[]; position: StreamPosition }> {
    const resolved = this.#resolve(channel);
    let out: { publications: Publication[]; position: StreamPosition } | undefined;
    await this.pipeline.run({ kind: 'history', protocol: conn.protocol, client: clientOf(conn), channel, state: {} }, async () => {
      if (!historyOf(resolved.options)) throw new ReplyError(Errors.notAvailable);
      if (!can(conn, resolved.options, 'history', channel, this.#insecure)) throw new ReplyError(Errors.permissionDenied);
      out = await this.targets.history(channel, opts);
    });
    return out!;
  }

  async rpc(conn: Connection, method: string, data: unknown): Promise<unknown> {
    // '*' answers every method without a handler of its own (an RPC proxy).
    const handler = this.rpcHandlers.get(method) ?? this.rpcHandlers.get('*');
    let result: unknown;
    const client = clientOf(conn);
    await this.pipeline.run({ kind: 'rpc', protocol: conn.protocol, client, method, data, state: {} }, async () => {
      if (method === ACK_METHOD) {
        result = await this.#ack(conn, data);
        return;
      }
      // Native protocol, as Centrifugo: 108 when the app serves no RPC at all, 104 for a method it does not have.
      if (!handler) throw new ReplyError(this.rpcHandlers.size === 0 && conn.protocol === 'centrifuge' ? Errors.notAvailable : Errors.methodNotFound);
      result = await handler({ client, method, data });
    });
    return result;
  }

  /** `$ack { channel, offsets }`: acknowledged delivery (acks.ts). Unknown offsets: 107 after the known ones are acknowledged. */
  async #ack(conn: Connection, data: unknown): Promise<{ acked: number }> {
    const { channel, offsets } = (typeof data === 'object' && data !== null ? data : {}) as { channel?: unknown; offsets?: unknown };
    if (typeof channel !== 'string' || !Array.isArray(offsets) || offsets.length === 0) {
      throw new ReplyError(Errors.badRequest, 'ack: expected { channel: string, offsets: [offset, ...] }');
    }
    if (offsets.length > MAX_ACK_OFFSETS) throw new ReplyError(Errors.limitExceeded, `ack: at most ${MAX_ACK_OFFSETS} offsets at once`);
    if (!offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o > 0)) throw new ReplyError(Errors.badRequest, 'ack: offsets are integers from 1');
    const sub = conn.subscriptions.get(channel);
    if (sub === undefined || !sub.acked) throw new ReplyError(Errors.badRequest, 'ack: not subscribed to this channel with acknowledged delivery');
    const r = await this.hub.acks.ack(channel, sub.ackConsumer, offsets as number[]);
    if (r.unknown.length > 0) {
      const list = r.unknown.slice(0, 10).join(', ') + (r.unknown.length > 10 ? ', …' : '');
      throw new ReplyError(Errors.badRequest, `ack: unknown offsets ${list} (not pending for this consumer; ${r.acked} acknowledged)`);
    }
    return { acked: r.acked };
  }

  /** An async message from a client (native `send`); reaches the 'message' hook. */
  async message(conn: Connection, data: unknown): Promise<void> {
    const client = clientOf(conn);
    await this.pipeline.run({ kind: 'message', protocol: conn.protocol, client, data, state: {} }, async () => {
      this.ctx.events.emit('message', client, data);
    });
  }

  /** Update a member's presence data (PondSocket's presence update). */
  async updatePresence(conn: Connection, channel: string, data: Record<string, unknown>): Promise<void> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) throw new ReplyError(Errors.permissionDenied, 'not a member of this channel');
    sub.chanInfo = JSON.stringify(data);
    sub.presenceRev++;
    sub.presence = true;
    const info = sub.info();
    await this.ctx.presence.add(channel, conn.id, info);
    await this.targets.presenceUpdated(channel, info);
  }
}

/** A client command's publication carries its origin when it has a request id to echo. */
function originOf(conn: Connection, requestId: string | undefined): Delivery | undefined {
  return requestId !== undefined ? { originClient: conn.id, originRequest: requestId } : undefined;
}

function isEvent(data: unknown): data is { event: string; payload?: unknown } {
  return typeof data === 'object' && data !== null && !Array.isArray(data) && typeof (data as { event?: unknown }).event === 'string';
}
