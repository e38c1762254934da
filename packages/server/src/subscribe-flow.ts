import { ackClientOf, consumerKey, DEFAULT_ACK_TIMEOUT_MS } from './acks.js';
import type { Authenticator } from './authenticator.js';
import { type ChannelOptions, checkChannelName, historyOf, type ResolvedChannel } from './channels.js';
import { DeclinedError, Disconnects, DisconnectError, Errors, ReplyError } from './codes.js';
import { clientOf, type Connection } from './connection.js';
import type { Client, Credentials, RouteContext, SubscribeContext, SubscribeOverride, SubscriptionGrant } from './context.js';
import { ttlSeconds } from './expiry.js';
import { capAllows, subscribeGrant } from './grants.js';
import { EpochMismatchError } from './history.js';
import type { Hub } from './hub.js';
import { parseJson } from './internal/json.js';
import type { NodeContext } from './node-context.js';
import { DEFAULTS } from './options.js';
import { can } from './permissions.js';
import { runChain, type CommandPipeline } from './pipeline.js';
import type { PendingSubscribe, SubscribeOutcome, SubscribeRequest } from './protocol.js';
import { ChannelPositions, isPattern, MAX_PATTERN_POSITIONS, parsePattern, tagged } from './patterns.js';
import { recover, type HistorySince } from './recovery.js';
import type { Route } from './route.js';
import { Subscription } from './subscription.js';
import type { Publication, StreamPosition } from './types.js';
import { compileTagsFilter, type TagsPredicate } from './tags-filter.js';

const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

/** A subscribe as the core sees it: a client's request, or one the server makes (token, API). */
export interface CoreSubscribeRequest extends SubscribeRequest {
  /** Made by the server (connect claims, personal channel, API): no permission checks; over the channel limit disconnects. */
  serverSide?: boolean;
  /** A server-side subscription's own channel info, reply data and overrides (connect `subs`). */
  grant?: SubscriptionGrant;
}

/** What authorization decided beyond yes: channel info, reply data, expiry, presence data, replies. */
interface Grant {
  chanInfo: string | undefined;
  replyData: string | undefined;
  expireAt: number;
  tracked: Record<string, unknown> | undefined;
  replies: { event: string; payload: unknown }[];
  override: SubscribeOverride | undefined;
  serverRefresh: boolean;
}

/**
 * Subscribing, from permission to a live subscription. The ordering invariant lives in `subscribe`
 * alone: the subscription joins the channel index inactive (publications are buffered), then the
 * broker subscription is made live, then the stream position is read (or recovery runs). A
 * publication racing the subscribe is therefore in the history read or in the buffer, never in
 * neither; `commit()` after the reply delivers the buffer past what the reply carried.
 */
export class SubscribeFlow {
  /** The app's handler for channels no route handles (`Switchboard.onSubscribe`). */
  onSubscribe: ((ctx: SubscribeContext) => unknown) | undefined;

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly auth: Authenticator,
    readonly pipeline: CommandPipeline,
  ) {}

  /** Make an authenticated connection live: limits, user index, server-side subscriptions, hooks. */
  async register(
    conn: Connection,
    creds: Credentials,
    recoverFrom: Readonly<Record<string, { recover?: boolean; offset?: number; epoch?: string }>> = {},
  ): Promise<Map<string, PendingSubscribe>> {
    if (conn.state === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
    conn.user = creds.user ?? '';
    conn.info = creds.info === undefined ? undefined : typeof creds.info === 'string' && isJsonText(creds.info) ? creds.info : JSON.stringify(creds.info);
    conn.meta = creds.meta;
    conn.claims = creds.claims;
    if (creds.assigns) Object.assign(conn.assigns, creds.assigns);
    conn.expireAt = creds.expireAt ? creds.expireAt * 1000 : 0;
    // the revocation list must be known before anyone is let in (a node that just started loads it)
    const loaded = this.ctx.revocations.loaded(10_000);
    if (loaded !== true && !(await loaded)) throw new DisconnectError(Disconnects.internal);
    if ((conn.state as string) === 'closed') throw new DisconnectError(Disconnects.connectionClosed); // closed while waiting
    if (this.ctx.revocations.revoked(conn.user, conn.claims)) throw new DisconnectError(Disconnects.tokenRevoked);
    this.hub.addUser(conn);
    conn.state = 'connected';
    conn.lastPingAt = Date.now();
    this.ctx.logger.debug({ client: conn.id, user: conn.user, protocol: conn.protocol }, 'connect');
    const subs = new Map<string, PendingSubscribe>();
    const channels = [...(creds.channels ?? [])];
    for (const ch of Object.keys(creds.subs ?? {})) if (!channels.includes(ch)) channels.push(ch);
    const personal = this.ctx.options.userPersonalChannel;
    if (personal && conn.user !== '') channels.push(personal.namespace ? `${personal.namespace}:#${conn.user}` : `#${conn.user}`);
    for (const ch of channels) {
      if (conn.subscriptions.has(ch)) continue;
      const r = recoverFrom[ch];
      // committed by the session once the connect reply is written (no 'subscribe' event: part of connect)
      const pending = await this.subscribe(
        conn,
        {
          channel: ch,
          serverSide: true,
          recoverable: true,
          ...(creds.subs?.[ch] ? { grant: creds.subs[ch] } : {}),
          ...(r?.recover ? { recover: true, offset: r.offset ?? 0, epoch: r.epoch ?? '' } : {}),
        },
        false,
      );
      subs.set(ch, pending);
    }
    this.hub.lifecycle?.connected(conn);
    this.ctx.events.emit('connect', clientOf(conn));
    return subs;
  }

  /**
   * Subscribe `conn` to a channel: permission and limits, then the ordered steps above, then
   * presence. The result is not live: the session writes its reply, then calls `commit()`.
   * `emitOnCommit`: whether `commit` emits the app's 'subscribe' event.
   */
  async subscribe(conn: Connection, req: CoreSubscribeRequest, emitOnCommit = true): Promise<PendingSubscribe> {
    const channel = req.channel;
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    if (isPattern(channel)) return this.#subscribePattern(conn, req, emitOnCommit);
    const resolved = this.ctx.registry.resolve(channel);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (this.ctx.revocations.revoked(conn.user, conn.claims)) throw new DisconnectError(Disconnects.tokenRevoked);
    if (conn.subscriptions.has(channel)) throw new ReplyError(Errors.alreadySubscribed);
    const delta = req.delta !== undefined && req.delta !== '';
    if (delta && !(resolved.options.allowedDeltaTypes ?? []).includes(req.delta as 'fossil')) {
      throw new ReplyError(Errors.badRequest, `delta type ${JSON.stringify(req.delta).slice(0, 40)} not allowed in this channel`);
    }
    let tagsFilter: TagsPredicate | undefined;
    if (req.tagsFilter !== undefined && req.tagsFilter !== null) {
      if (resolved.options.allowTagsFilter !== true) throw new ReplyError(Errors.badRequest, 'tags filter not allowed in this channel');
      if (delta) throw new ReplyError(Errors.badRequest, 'tags filter and delta compression cannot be used together');
      tagsFilter = compileTagsFilter(req.tagsFilter);
    }
    if (conn.subscriptions.size >= this.ctx.limits.maxChannelsPerConnection) {
      if (req.serverSide) throw new DisconnectError(Disconnects.channelLimit);
      throw new ReplyError(Errors.limitExceeded, 'too many channels');
    }
    const grant: Grant = {
      chanInfo: req.grant?.info,
      replyData: req.grant?.data,
      expireAt: 0,
      tracked: undefined,
      replies: [],
      override: req.grant?.override,
      serverRefresh: false,
    };
    const client = clientOf(conn);
    await this.pipeline.run(
      { kind: 'subscribe', protocol: conn.protocol, client, channel, data: req.data, state: {} },
      async () => {
        if (!req.serverSide) await this.#authorize(conn, client, req, resolved, grant);
      },
      !req.serverSide,
    );

    if (conn.state === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
    if (conn.subscriptions.has(channel)) throw new ReplyError(Errors.alreadySubscribed);
    const o = grant.override ? overridden(resolved.options, grant.override) : resolved.options;
    const maxSubs = o.maxSubscribers ?? 0;
    if (maxSubs > 0 && this.hub.subscriberCount(channel) >= maxSubs) throw new ReplyError(Errors.limitExceeded, 'channel is full');
    const ackClient = o.acknowledge === true ? ackClientOf(req.data) : undefined;
    if (ackClient instanceof Error) throw new ReplyError(Errors.badRequest, ackClient.message);

    // 1. the index, inactive (publications are buffered from here on)
    const sub = new Subscription(conn, channel, resolved);
    const state = this.hub.join(sub);
    const { chanInfo, tracked } = grant;
    sub.chanInfo = tracked !== undefined ? JSON.stringify({ ...(chanInfo ? (parseJson(chanInfo) as object) : {}), ...tracked }) : chanInfo;
    sub.expireAt = grant.expireAt;
    sub.serverSide = req.serverSide === true;
    sub.serverRefresh = grant.serverRefresh;
    sub.tagsFilter = tagsFilter;
    try {
      // 2. the broker subscription, live
      state.brokerSubscribed ??= this.ctx.broker.subscribe(channel);
      await state.brokerSubscribed;
      // 3. the position (or recovery)
      const history = historyOf(o);
      const canHistory = can(conn, o, 'history', channel, this.ctx.options.insecure === true);
      sub.recoverable = history !== undefined && (o.forceRecovery === true || (req.recoverable === true && (o.allowRecovery === true || canHistory)));
      sub.positioned = history !== undefined && (sub.recoverable || o.forcePositioning === true || (req.positioned === true && canHistory));
      sub.joinLeave = o.forcePushJoinLeave === true || (o.joinLeave === true && (req.joinLeave === true || req.serverSide === true || conn.protocol !== 'centrifuge'));
      sub.presence = o.presence === true || tracked !== undefined;
      sub.acked = o.acknowledge === true && history !== undefined && conn.user !== '';
      if (sub.acked) sub.ackConsumer = consumerKey(conn.user, ackClient);
      let outcome: SubscribeOutcome;
      const cacheMode = history !== undefined && o.forceRecoveryMode === 'cache';
      // auto_cache_recover: every subscribe in cache mode recovers, asked or not (server-side ones too).
      const wasRecovering = req.recover === true || (cacheMode && o.autoCacheRecover === true);
      if (cacheMode) {
        // Cache recovery: the latest publication is the state; a recovering client gets it unless it has it.
        sub.recoverable = true;
        sub.positioned = true;
        const r = await this.ctx.history.read(channel, { limit: wasRecovering ? 1 : 0, reverse: true });
        const top = r.position;
        const latest = wasRecovering ? r.publications[0] : undefined;
        const upToDate = req.recover === true && req.epoch === top.epoch && (req.offset ?? 0) >= top.offset;
        sub.offset = top.offset;
        sub.epoch = top.epoch;
        outcome = { recoverable: true, positioned: true, wasRecovering, joinLeave: sub.joinLeave, epoch: top.epoch, offset: top.offset, recovered: wasRecovering, publications: latest !== undefined && !upToDate ? [latest] : [] };
      } else if (history !== undefined && (sub.positioned || wasRecovering)) {
        if (wasRecovering && sub.recoverable) {
          const r = recover({ offset: req.offset ?? 0, epoch: req.epoch ?? '' }, await this.#readSince(channel, req.offset ?? 0, req.epoch ?? ''), DEFAULTS.recoveryMaxPublications);
          sub.offset = r.position.offset;
          sub.epoch = r.position.epoch;
          outcome = { recoverable: true, positioned: true, wasRecovering: true, joinLeave: sub.joinLeave, epoch: r.position.epoch, offset: r.offset, recovered: r.recovered, publications: r.publications };
        } else {
          const pos = await this.ctx.history.position(channel);
          sub.offset = pos.offset;
          sub.epoch = pos.epoch;
          outcome = { recoverable: sub.recoverable, positioned: sub.positioned, epoch: pos.epoch, offset: pos.offset, wasRecovering, recovered: false, publications: [], joinLeave: sub.joinLeave };
        }
      } else {
        outcome = { recoverable: false, positioned: false, wasRecovering, recovered: false, publications: [], joinLeave: sub.joinLeave };
      }
      if (tagsFilter !== undefined && outcome.publications.length > 0) {
        const pubs = outcome.publications.filter((p) => tagsFilter(p.tags ?? NO_TAGS));
        outcome = { ...outcome, publications: pubs };
      }
      if (req.compaction === true && o.allowChannelCompaction === true && conn.proto.compact !== undefined) {
        sub.compactId = state.id;
        outcome = { ...outcome, id: state.id };
      }
      if (delta) {
        // The chain starts at the last publication the reply hands over (recovered ones go full), else at the next one.
        sub.delta = true;
        sub.deltaBase = outcome.publications.length > 0 ? outcome.publications[outcome.publications.length - 1]!.data : undefined;
        outcome = { ...outcome, delta: true };
      }
      if (grant.replyData !== undefined) outcome = { ...outcome, data: grant.replyData };
      // A subscription the server refreshes itself (sub refresh proxy) is not asked for a token.
      if (grant.expireAt > 0 && !grant.serverRefresh) outcome = { ...outcome, ttl: ttlSeconds(grant.expireAt) };
      if (sub.presence) {
        const info = sub.info();
        await this.ctx.presence.add(channel, conn.id, info);
        // Always announced: sessions that push presence lists (PondSocket) learn of changes from it.
        await this.ctx.broker.publishJoin(channel, info);
      }
      // what the consumer had not acknowledged (a reconnect, here or on another node): sent after the reply
      const pending = sub.acked ? await this.hub.acks.pending(channel, sub.ackConsumer, o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS) : [];
      if ((conn.state as string) === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
      this.ctx.logger.debug({ client: conn.id, channel }, 'subscribe');
      const hub = this.hub;
      const events = this.ctx.events;
      return {
        sub,
        outcome,
        replies: grant.replies,
        commit() {
          if (sub.acked) {
            // what the consumer had not acknowledged (a reconnect), then the reply's recovered publications as pending
            const inReply = new Set(outcome.publications.map((p) => p.offset!));
            hub.activate(sub);
            hub.resendPending(
              sub,
              pending.filter((p) => !inReply.has(p.offset!)),
            );
            for (const p of outcome.publications) hub.ackPending(sub, p);
          } else hub.activate(sub);
          if (emitOnCommit) events.emit('subscribe', client, channel);
        },
      };
    } catch (err) {
      this.hub.removeSubscription(sub, false);
      if (err instanceof ReplyError || err instanceof DisconnectError) throw err;
      this.hub.reportError(err, conn);
      throw new ReplyError(Errors.internal);
    }
  }

  /**
   * A pattern subscription (`ns:prefix*`, patterns.ts): allowed by a token `caps` entry granting
   * `psub`, or by the namespace's `allowPatternSubscribe` for a client that may subscribe there.
   * The same ordering as a channel: into the pattern index inactive, the broker pattern
   * subscription live, then recovery of each channel the client names in
   * `data.positions` (`{ "<channel>": { "offset": n, "epoch": "e" } }`) from its own position.
   * The reply's `data` says, per channel, whether it was recovered.
   */
  async #subscribePattern(conn: Connection, req: CoreSubscribeRequest, emitOnCommit: boolean): Promise<PendingSubscribe> {
    const pattern = req.channel;
    const parsed = parsePattern(pattern);
    if ('error' in parsed) throw new ReplyError(Errors.badRequest, parsed.error);
    if (req.serverSide) throw new ReplyError(Errors.badRequest, 'pattern subscriptions are made by clients');
    const resolved = this.ctx.registry.resolve(pattern);
    if (!resolved) throw new ReplyError(Errors.unknownChannel);
    if (resolved.route) throw new ReplyError(Errors.badRequest, 'malformed pattern: patterns are for namespaces, not routes');
    if (this.ctx.broker.subscribePattern === undefined) throw new ReplyError(Errors.notAvailable, 'this engine has no pattern subscriptions');
    if (conn.subscriptions.has(pattern)) throw new ReplyError(Errors.alreadySubscribed);
    if (conn.subscriptions.size >= this.ctx.limits.maxChannelsPerConnection) throw new ReplyError(Errors.limitExceeded, 'too many channels');
    const positions = patternPositions(req.data, parsed.prefix);
    const client = clientOf(conn);
    const o = resolved.options;
    await this.pipeline.run({ kind: 'subscribe', protocol: conn.protocol, client, channel: pattern, data: req.data, state: {} }, async () => {
      if (this.ctx.options.insecure === true || capAllows(conn.claims, pattern, 'psub')) return;
      const anonymous = conn.user === '';
      const byNamespace = o.allowPatternSubscribe === true && !resolved.isPrivate && o.allowSubscribeForClient === true && (!anonymous || o.allowSubscribeForAnonymous === true);
      if (!byNamespace) throw new ReplyError(Errors.permissionDenied, 'pattern not allowed');
    });
    if (conn.state === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
    if (conn.subscriptions.has(pattern)) throw new ReplyError(Errors.alreadySubscribed);

    // 1. the pattern index, inactive (publications are buffered from here on)
    const sub = new Subscription(conn, pattern, resolved);
    sub.pattern = parsed.prefix;
    sub.positions = new ChannelPositions();
    const state = this.hub.joinPattern(sub);
    try {
      // 2. the broker pattern subscription, live
      state.brokerSubscribed ??= this.ctx.broker.subscribePattern(parsed.prefix);
      await state.brokerSubscribed;
      // 3. each named channel from its own position
      const history = historyOf(o);
      const recovered: Record<string, boolean> = {};
      const publications: Publication[] = [];
      if (positions !== undefined) {
        for (const [channel, from] of positions) {
          if (history === undefined) {
            recovered[channel] = false;
            continue;
          }
          const r = recover(from, await this.#readSince(channel, from.offset, from.epoch), DEFAULTS.recoveryMaxPublications);
          recovered[channel] = r.recovered;
          sub.positions.set(channel, r.position);
          for (const p of r.publications) publications.push(tagged(channel, p));
        }
      }
      if ((conn.state as string) === 'closed') throw new DisconnectError(Disconnects.connectionClosed);
      const wasRecovering = positions !== undefined;
      const outcome: SubscribeOutcome = {
        recoverable: false,
        positioned: false,
        wasRecovering,
        recovered: wasRecovering && Object.values(recovered).every(Boolean),
        publications,
        joinLeave: false,
        ...(wasRecovering ? { data: JSON.stringify({ recovered }) } : {}),
      };
      this.ctx.logger.debug({ client: conn.id, pattern }, 'pattern subscribe');
      const hub = this.hub;
      const events = this.ctx.events;
      return {
        sub,
        outcome,
        replies: [],
        commit() {
          hub.activate(sub);
          if (emitOnCommit) events.emit('subscribe', client, pattern);
        },
      };
    } catch (err) {
      this.hub.removeSubscription(sub, false);
      if (err instanceof ReplyError || err instanceof DisconnectError) throw err;
      this.hub.reportError(err, conn);
      throw new ReplyError(Errors.internal);
    }
  }

  async #readSince(channel: string, offset: number, epoch: string): Promise<HistorySince> {
    try {
      return await this.ctx.history.read(channel, { since: { offset, epoch }, limit: DEFAULTS.recoveryMaxPublications + 1 });
    } catch (err) {
      if (err instanceof EpochMismatchError) return { mismatch: err.position };
      throw err;
    }
  }

  /** May this client subscribe? A subscription token alone decides; else route/namespace rules and the join handler. */
  async #authorize(conn: Connection, client: Client, req: CoreSubscribeRequest, resolved: ResolvedChannel<Route>, grant: Grant): Promise<void> {
    const channel = req.channel;
    if (req.authorized) {
      grant.chanInfo = req.authorized.info;
      if (req.authorized.presence) grant.tracked = {};
      return;
    }
    if (req.token) {
      const claims = await this.auth.verifySubscriptionToken(conn, channel, req.token);
      grant.chanInfo = claims.info;
      grant.replyData = claims.data;
      grant.expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
      return;
    }
    if (resolved.isPrivate) throw new ReplyError(Errors.permissionDenied);
    const o = resolved.options;
    const anonymous = conn.user === '';
    let allowed: boolean;
    if (resolved.allowedUsers) allowed = !anonymous && resolved.allowedUsers.includes(conn.user);
    else allowed = (o.allowSubscribeForClient === true && (!anonymous || o.allowSubscribeForAnonymous === true)) || this.ctx.options.insecure === true;
    if (!resolved.route && !this.ctx.options.insecure) allowed = subscribeGrant(channel, resolved.namespace, o.subscribeByClaim, conn.user, conn.claims, allowed);
    const handler = resolved.route?.join ?? (resolved.route ? undefined : this.onSubscribe);
    if (handler && !resolved.allowedUsers) {
      let decided: 'accept' | 'decline' | undefined;
      let declineErr: DeclinedError | undefined;
      const ctx: SubscribeContext = {
        client,
        channel,
        params: resolved.params,
        data: req.data,
        allowedByNamespace: allowed,
        accept(opts) {
          if (decided !== undefined) return this;
          decided = 'accept';
          const text = (v: unknown) => (opts?.raw ? (v as string) : JSON.stringify(v));
          if (opts?.info !== undefined) grant.chanInfo = text(opts.info);
          if (opts?.data !== undefined) grant.replyData = text(opts.data);
          if (opts?.expireAt !== undefined && opts.expireAt > 0) grant.expireAt = opts.expireAt * 1000;
          if (opts?.override !== undefined) grant.override = opts.override;
          if (opts?.serverRefresh) grant.serverRefresh = true;
          return this;
        },
        decline(code = 403, message = 'permission denied') {
          if (decided === undefined) {
            decided = 'decline';
            declineErr = new DeclinedError(code, message);
          }
          return this;
        },
        assign(key, value) {
          conn.assigns[key] = value;
          return this;
        },
        track(data = {}) {
          grant.tracked = data;
          return this;
        },
        reply(event, payload) {
          grant.replies.push({ event, payload });
          return this;
        },
      };
      const routeCtx: RouteContext = { kind: 'subscribe', protocol: conn.protocol, client, channel, params: resolved.params, data: req.data, state: {} };
      await runChain(resolved.route?.middleware ?? [], routeCtx, async () => {
        await handler(ctx);
      });
      if (decided === 'decline') throw declineErr!;
      if (decided === 'accept') allowed = true;
    }
    if (!allowed) throw new ReplyError(Errors.permissionDenied);
  }

  /** A subscribe the server makes at runtime (API, control plane): the client is told with a push. */
  async serverSubscribe(conn: Connection, channel: string): Promise<void> {
    if (conn.state !== 'connected' || conn.subscriptions.has(channel)) return;
    try {
      const pending = await this.subscribe(conn, { channel, serverSide: true });
      conn.session.pushSubscribed(channel, pending.outcome);
      // Recovered publications (auto cache recovery: the latest) follow the push, which cannot carry them.
      if (pending.outcome.recovered) for (const p of pending.outcome.publications) conn.enqueue(conn.proto.encodePublication(channel, p), conn.subscriptions.get(channel));
      pending.commit();
    } catch (err) {
      if (err instanceof DisconnectError) conn.close(err);
      else if (!(err instanceof ReplyError)) this.hub.reportError(err, conn);
    }
  }
}

/** `data.positions` of a pattern subscribe, checked: each channel under the prefix, each position an offset and an epoch. */
function patternPositions(data: unknown, prefix: string): Map<string, StreamPosition> | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data !== 'object' || Array.isArray(data)) throw new ReplyError(Errors.badRequest, 'pattern subscribe data: expected an object');
  const raw = (data as { positions?: unknown }).positions;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ReplyError(Errors.badRequest, 'pattern subscribe data.positions: expected an object of channel → { offset, epoch }');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_PATTERN_POSITIONS) throw new ReplyError(Errors.limitExceeded, `pattern subscribe data.positions: at most ${MAX_PATTERN_POSITIONS} channels`);
  const out = new Map<string, StreamPosition>();
  for (const [channel, v] of entries) {
    if (!checkChannelName(channel) || !channel.startsWith(prefix) || channel.length === prefix.length) {
      throw new ReplyError(Errors.badRequest, `pattern subscribe data.positions: ${JSON.stringify(channel.slice(0, 100))} does not match the pattern`);
    }
    const { offset, epoch } = (v ?? {}) as { offset?: unknown; epoch?: unknown };
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || typeof epoch !== 'string') {
      throw new ReplyError(Errors.badRequest, `pattern subscribe data.positions[${JSON.stringify(channel)}]: expected { offset: integer >= 0, epoch: string }`);
    }
    out.set(channel, { offset, epoch });
  }
  return out;
}

/** A namespace's options with one subscription's overrides applied. */
function overridden(o: ChannelOptions, ov: SubscribeOverride): ChannelOptions {
  const out: ChannelOptions = { ...o };
  if (ov.presence !== undefined) out.presence = ov.presence;
  if (ov.joinLeave !== undefined) out.joinLeave = ov.joinLeave;
  if (ov.forcePushJoinLeave !== undefined) out.forcePushJoinLeave = ov.forcePushJoinLeave;
  if (ov.forceRecovery !== undefined) out.forceRecovery = ov.forceRecovery;
  if (ov.forcePositioning !== undefined) out.forcePositioning = ov.forcePositioning;
  return out;
}

function isJsonText(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
