import { isObject } from '../../internal/json.js';
import type { PendingSubscribe, SessionConnection, SessionHost, SubscribeOutcome } from '../../protocol.js';
import type { ClientInfo, Publication } from '../../types.js';
import { SessionBase } from '../session-base.js';
import { isCacheChannel, type PusherApp, type PusherApps, MAX_EVENT_NAME, validChannelName } from './apps.js';
import { errorFrame, frame, publicationFrame, subscriptionErrorFrame } from './frames.js';
import { PresenceFold } from './presence-fold.js';
import { authValid } from './signature.js';
import { socketIdOf } from './socket-id.js';
import type { PusherStats } from './stats.js';
import type { CountListener, SubscriptionCounter } from './subscription-count.js';
import type { PusherWebhooks } from './webhooks.js';

/**
 * Pusher protocol 7 (docs/protocols/pusher.md): the connection is accepted at the upgrade with
 * no token; the app key in the path decides. Channels: public, `private-`, `private-encrypted-`,
 * `presence-` (authorized by the app backend's HMAC signature, checked here, then handed to the
 * core as already authorized), `#server-to-user-{id}` (after `pusher:signin`). Client events
 * `client-*` on private and presence channels when the app enables them, never echoed.
 */

const USER_CHANNEL = '#server-to-user-';
/** Hidden channel `#online-{id}`: every signed-in connection of `id` is in its presence (watchlist events). */
const ONLINE_CHANNEL = '#online-';
/** Most user ids in a watchlist ([SB]). */
export const MAX_WATCHLIST = 100;

export interface PusherShared {
  readonly apps: PusherApps;
  readonly fold: PresenceFold;
  /** Per-app counters (metrics, admin). */
  readonly stats: PusherStats;
  /** The publication a cache channel keeps (its history of size 1), if any. Without it cache channels are plain ones. */
  readonly lastPublication?: (channel: string) => Promise<Publication | undefined>;
  /** `subscription_count` events, for apps that enable them (made by the mount when a reload enables them). */
  counter?: SubscriptionCounter;
  /** The open sessions, so that a reload can close those of the apps it removed. */
  readonly sessions?: Set<PusherSession>;
  /** Webhooks in Pusher's format, for apps that have any. */
  readonly webhooks?: PusherWebhooks;
}

/** Pusher's 4201: the server's ping went unanswered. */
export const PONG_TIMEOUT = { code: 4201, reason: 'Pong reply not received' } as const;

/** The app key of a connection URL: the last path segment (`.../app/{key}`). */
export function appKeyOf(url: string): string {
  const path = url.split('?')[0]!;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

export class PusherSession extends SessionBase implements CountListener {
  readonly keepalive = 'app' as const;
  readonly noPongClose = PONG_TIMEOUT;
  /** The app's: `pusher:ping` after `activity_timeout` seconds without a client frame, 4201 after `pongTimeout` more (§4 [SB]). */
  keepaliveMs: { readonly pingInterval: number; readonly pongTimeout: number } | undefined;
  #app: PusherApp | undefined;
  readonly socketId: string;
  /** Pusher channel → Switchboard channel, for channels whose subscription succeeded. */
  readonly #ready = new Map<string, string>();
  /** Signed-in user id (`pusher:signin`). */
  #user: { id: string; info: unknown } | undefined;
  #tokens = 0;
  #tokensAt = 0;
  /** Watchlist: `#online-{id}` channel → the watched user and their connections seen online. */
  #watch: Map<string, { id: string; clients: Set<string> }> | undefined;

  constructor(
    conn: SessionConnection,
    host: SessionHost,
    readonly shared: PusherShared,
  ) {
    super(conn, host, { gated: true, closeOnFailure: false });
    this.socketId = socketIdOf(conn.id);
  }

  /** `pusher:error` with the code, then close with it (the frame is written by `onClose`). */
  #fatal(code: number, message: string): void {
    this.host.countError(code);
    this.conn.close({ code, reason: message });
  }

  #error(code: number | null, message: string, channel?: string): void {
    if (code !== null) this.host.countError(code);
    this.send(errorFrame(code, message, channel));
  }

  start(subs: ReadonlyMap<string, PendingSubscribe>): void {
    const key = appKeyOf(this.conn.request.url);
    const app = this.shared.apps.byKey(key);
    if (!app) return this.#fatal(4001, `App key ${key.slice(0, 64)} does not exist`);
    const version = this.conn.request.query.get('protocol');
    if (version !== null && !/^[5-7]$/.test(version)) return this.#fatal(4007, `Unsupported protocol version: ${version.slice(0, 16)} (5 to 7 are served)`);
    this.#app = app;
    this.shared.sessions?.add(this);
    this.conn.traffic = this.shared.stats.opened(app);
    this.keepaliveMs = app.keepaliveMs;
    this.conn.lastPingAt = Date.now(); // the first ping comes after a silence, not at once
    this.conn.clientName = this.conn.request.query.get('client')?.slice(0, 32) ?? 'pusher';
    this.conn.clientVersion = this.conn.request.query.get('version')?.slice(0, 32) ?? '';
    this.#tokens = app.maxClientEventsPerSecond;
    this.#tokensAt = performance.now();
    this.send(frame('pusher:connection_established', undefined, JSON.stringify({ socket_id: this.socketId, activity_timeout: app.activityTimeout })));
    for (const pending of subs.values()) pending.commit();
    this.open();
  }

  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.conn.state === 'closed') return;
    // Any client frame is activity: it answers a ping, and the next one is due after a silence from now.
    this.conn.awaitingPong = false;
    if (this.keepaliveMs !== undefined) this.conn.lastPingAt = Date.now();
    this.queue(() => this.#frame(data, isBinary));
  }

  /** The app of this connection, if any (undefined before the key is checked). */
  get app(): PusherApp | undefined {
    return this.#app;
  }

  /** The app was removed by a reload (or became another app): told as an unknown app is, 4001, which pusher-js does not retry. */
  appGone(): void {
    if (this.conn.state === 'closed' || !this.#app) return;
    this.#fatal(4001, `App key ${this.#app.key.slice(0, 64)} no longer exists`);
  }

  async #frame(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.conn.state !== 'connected' || !this.#app) return;
    // A reload may have changed the app's secret or limits: the next signature is checked with the new ones.
    this.#app = this.shared.apps.current(this.#app) ?? this.#app;
    if (isBinary) return this.#error(null, 'binary frames are not supported: send JSON text');
    let v: unknown;
    try {
      v = JSON.parse(data.toString('utf8'));
    } catch {
      return this.#error(null, 'invalid JSON');
    }
    if (!isObject(v) || typeof v['event'] !== 'string') return this.#error(null, 'a frame must be a JSON object with an event name');
    const event = v['event'];
    const d = v['data'];
    switch (event) {
      case 'pusher:ping':
        return this.send('{"event":"pusher:pong","data":{}}');
      case 'pusher:pong':
        return;
      case 'pusher:subscribe':
        return this.#subscribe(this.#app, d);
      case 'pusher:unsubscribe':
        return this.#unsubscribe(d);
      case 'pusher:signin':
        return this.#signin(this.#app, d);
    }
    if (event.startsWith('client-')) return this.#clientEvent(this.#app, event, v['channel'], d);
    this.#error(null, `unknown event: ${event.slice(0, 64)}`);
  }

  async #subscribe(app: PusherApp, d: unknown): Promise<void> {
    if (!isObject(d) || typeof d['channel'] !== 'string') return this.#error(null, 'pusher:subscribe needs data.channel');
    const name = d['channel'];
    const isUser = name.startsWith(USER_CHANNEL);
    if (!(isUser ? validChannelName(name.slice(1)) : validChannelName(name))) {
      return this.send(subscriptionErrorFrame(name.slice(0, 200), 'InvalidChannel', 'Invalid channel name: letters, digits and -_=@,.; up to 200 characters', 400));
    }
    const channel = this.shared.apps.channelOf(app, name);
    const presence = name.startsWith('presence-');
    let info: string | undefined;
    if (isUser) {
      if (this.#user === undefined || name !== `${USER_CHANNEL}${this.#user.id}`) {
        return this.send(subscriptionErrorFrame(name, 'AuthError', 'The user channel needs a sign-in as that user', 401));
      }
    } else if (presence || name.startsWith('private-')) {
      const channelData = d['channel_data'];
      if (channelData !== undefined && typeof channelData !== 'string') return this.send(subscriptionErrorFrame(name, 'AuthError', 'channel_data must be a string', 400));
      const signed = presence && channelData !== undefined ? `${this.socketId}:${name}:${channelData}` : `${this.socketId}:${name}`;
      if (!authValid(app.key, app.secret, d['auth'], signed)) {
        return this.send(subscriptionErrorFrame(name, 'AuthError', 'Invalid signature', 401));
      }
      if (presence) {
        const member = this.#member(app, channelData);
        if ('error' in member) return this.send(subscriptionErrorFrame(name, 'AuthError', member.error, 400));
        info = member.info;
      }
    }
    if (this.#ready.has(name)) return this.#succeeded(name, channel, presence); // again: success again, nothing doubled
    let list: Awaited<ReturnType<SessionHost['presenceList']>> | undefined;
    if (presence) {
      list = await this.host.presenceList(channel);
      const members = PresenceFold.fold(list.values());
      const me = JSON.parse(info!) as { user_id: string | number };
      if (members.size >= app.maxPresenceMembers && !members.has(String(me.user_id))) {
        return this.send(subscriptionErrorFrame(name, 'LimitReached', `The presence channel is full (${app.maxPresenceMembers} members)`, 4100));
      }
    }
    let pending: PendingSubscribe;
    try {
      pending = await this.host.subscribe(this.conn, { channel, authorized: { info, presence } });
    } catch (err) {
      const e = this.replyErrorOf(err);
      return this.send(subscriptionErrorFrame(name, e.code === 103 ? 'AuthError' : 'ServerError', e.message, e.code === 103 ? 403 : 500));
    }
    if (presence) {
      const members = await this.host.presenceList(channel);
      // Gone meanwhile: `closed()` has run, nothing may be held for this connection any more.
      if (this.conn.state === 'closed') return;
      this.shared.fold.hold(channel, members.values());
    }
    this.#ready.set(name, channel);
    await this.#succeeded(name, channel, presence);
    if (isCacheChannel(name) && this.shared.lastPublication) await this.#replayCache(name, channel, pending);
    pending.commit();
    if (app.enableSubscriptionCount && !presence && !isUser && this.conn.state !== 'closed') this.shared.counter?.add(channel, name, this);
  }

  /**
   * A cache channel: its last event right after `subscription_succeeded`, else `pusher:cache_miss`.
   * Publications that arrived meanwhile and that the replayed one already covers are skipped (by offset).
   */
  async #replayCache(name: string, channel: string, pending: PendingSubscribe): Promise<void> {
    let last: Publication | undefined;
    try {
      last = await this.shared.lastPublication!(channel);
    } catch (err) {
      this.host.reportError(err, this.conn);
    }
    if (last === undefined) {
      if (this.#app) this.shared.webhooks?.push(this.#app, { name: 'cache_miss', channel: name });
      return this.send(`{"event":"pusher:cache_miss","channel":${JSON.stringify(name)}}`);
    }
    if (last.offset !== undefined && last.epoch !== undefined) {
      pending.sub.offset = last.offset;
      pending.sub.epoch = last.epoch;
    }
    this.send(publicationFrame(name, last));
  }

  sendRaw(text: string): void {
    if (this.conn.state === 'connected') this.send(text);
  }

  /** The presence member as channel info (`{user_id, user_info}` JSON), or why not. */
  #member(app: PusherApp, channelData: string | undefined): { info: string } | { error: string } {
    if (channelData === undefined) {
      if (this.#user === undefined) return { error: 'presence channels need channel_data (or a sign-in)' };
      return { info: JSON.stringify({ user_id: this.#user.id, user_info: this.#user.info ?? null }) };
    }
    let cd: unknown;
    try {
      cd = JSON.parse(channelData);
    } catch {
      return { error: 'channel_data is not JSON' };
    }
    if (!isObject(cd)) return { error: 'channel_data must be a JSON object' };
    const id = cd['user_id'];
    if (!((typeof id === 'string' && id !== '' && id.length <= 128) || (typeof id === 'number' && Number.isFinite(id)))) {
      return { error: 'channel_data.user_id must be a non-empty string (up to 128 characters) or a number' };
    }
    const userInfo = cd['user_info'] === undefined ? null : cd['user_info'];
    if (Buffer.byteLength(JSON.stringify(userInfo)) > app.maxUserInfoBytes) return { error: `user_info is larger than ${app.maxUserInfoBytes} bytes` };
    return { info: JSON.stringify({ user_id: id, user_info: userInfo }) };
  }

  async #succeeded(name: string, channel: string, presence: boolean): Promise<void> {
    const data = presence ? PresenceFold.succeededData(PresenceFold.fold((await this.host.presenceList(channel)).values())) : '{}';
    this.send(frame('pusher_internal:subscription_succeeded', name, data));
  }

  async #unsubscribe(d: unknown): Promise<void> {
    if (!isObject(d) || typeof d['channel'] !== 'string') return this.#error(null, 'pusher:unsubscribe needs data.channel');
    const channel = this.#ready.get(d['channel']);
    if (channel === undefined) return; // unknown channel: ignored
    this.#ready.delete(d['channel']);
    if (d['channel'].startsWith('presence-')) this.shared.fold.release(channel);
    this.shared.counter?.remove(channel, this);
    try {
      await this.host.unsubscribe(this.conn, channel);
    } catch (err) {
      this.replyErrorOf(err);
    }
  }

  async #signin(app: PusherApp, d: unknown): Promise<void> {
    if (!isObject(d) || typeof d['user_data'] !== 'string') return this.#fatal(4009, 'pusher:signin needs data.auth and data.user_data');
    const userData = d['user_data'];
    if (!authValid(app.key, app.secret, d['auth'], `${this.socketId}::user::${userData}`)) return this.#fatal(4009, 'Invalid signature');
    let u: unknown;
    try {
      u = JSON.parse(userData);
    } catch {
      return this.#fatal(4009, 'user_data is not JSON');
    }
    if (!isObject(u) || typeof u['id'] !== 'string' || u['id'] === '' || u['id'].length > 128) return this.#fatal(4009, 'user_data.id must be a non-empty string');
    const watchlist = u['watchlist'] ?? [];
    if (!Array.isArray(watchlist) || watchlist.length > MAX_WATCHLIST || !watchlist.every((w) => typeof w === 'string' && w !== '' && validChannelName(`${ONLINE_CHANNEL.slice(1)}${w}`))) {
      return this.#fatal(4009, `user_data.watchlist must be at most ${MAX_WATCHLIST} user ids (letters, digits and -_=@,.;)`);
    }
    this.#user = { id: u['id'], info: u['user_info'] };
    this.send(`{"event":"pusher:signin_success","data":{"user_data":${JSON.stringify(userData)}}}`);
    // The user channel, subscribed at once and tracked in presence: its entries are how the HTTP
    // API finds a user's connections on every node (terminate_connections). pusher-js subscribes
    // to it next and is answered as for any channel subscribed again.
    const name = `${USER_CHANNEL}${u['id']}`;
    if (this.#ready.has(name) || !validChannelName(name.slice(1))) return;
    const channel = this.shared.apps.channelOf(app, name);
    try {
      const pending = await this.host.subscribe(this.conn, { channel, authorized: { info: JSON.stringify({ user_id: u['id'] }), presence: true } });
      this.#ready.set(name, channel);
      pending.commit();
      if (app.enableWatchlistEvents) await this.#watchlist(app, u['id'], watchlist as string[]);
    } catch (err) {
      this.replyErrorOf(err);
    }
  }

  /**
   * Watchlist events: this connection is online as `id` for whoever watches `id` (presence in the
   * hidden `#online-{id}` channel, on every node), and it watches its watchlist's users the same
   * way: a subscription without presence to each `#online-{w}`, whose joins and leaves say when `w`
   * comes online (first connection) or goes offline (last one). First the current status of all.
   */
  async #watchlist(app: PusherApp, id: string, watchlist: string[]): Promise<void> {
    const own = await this.host.subscribe(this.conn, { channel: this.shared.apps.channelOf(app, `${ONLINE_CHANNEL}${id}`), authorized: { info: JSON.stringify({ user_id: id }), presence: true } });
    own.commit();
    if (this.#watch !== undefined || watchlist.length === 0) return;
    const watch = (this.#watch = new Map<string, { id: string; clients: Set<string> }>());
    for (const w of new Set(watchlist)) {
      const channel = this.shared.apps.channelOf(app, `${ONLINE_CHANNEL}${w}`);
      if (this.conn.subscriptions.has(channel)) continue; // a user watching themself: already there
      const entry = { id: w, clients: new Set<string>() };
      watch.set(channel, entry); // joins heard from now on count; the list below adds who was there
      const pending = await this.host.subscribe(this.conn, { channel, authorized: {} });
      for (const client of (await this.host.presenceList(channel)).keys()) entry.clients.add(client);
      pending.commit();
    }
    const online = [...watch.values()].filter((e) => e.clients.size > 0).map((e) => e.id);
    const offline = [...watch.values()].filter((e) => e.clients.size === 0).map((e) => e.id);
    const events = [...(online.length > 0 ? [{ name: 'online', user_ids: online }] : []), ...(offline.length > 0 ? [{ name: 'offline', user_ids: offline }] : [])];
    if (events.length > 0) this.send(frame('pusher_internal:watchlist_events', undefined, JSON.stringify({ events })));
  }

  async #clientEvent(app: PusherApp, event: string, name: unknown, data: unknown): Promise<void> {
    if (typeof name !== 'string') return this.#error(4301, 'A client event needs a channel');
    if (!app.enableClientMessages) return this.#error(4301, 'Client events are not enabled for this app', name);
    if (!(name.startsWith('private-') || name.startsWith('presence-')) || name.startsWith('private-encrypted-')) {
      return this.#error(4301, 'Client events are only allowed on private and presence channels', name);
    }
    if (event.length > MAX_EVENT_NAME) return this.#error(4301, `Event name longer than ${MAX_EVENT_NAME} characters`, name);
    const channel = this.#ready.get(name);
    if (channel === undefined) return this.#error(4301, 'Not subscribed to this channel', name);
    const size = data === undefined ? 0 : Buffer.byteLength(JSON.stringify(data));
    if (size > app.maxEventPayloadBytes) return this.#error(4301, `Event data larger than ${app.maxEventPayloadBytes} bytes`, name);
    const now = performance.now();
    this.#tokens = Math.min(app.maxClientEventsPerSecond, this.#tokens + ((now - this.#tokensAt) / 1000) * app.maxClientEventsPerSecond);
    this.#tokensAt = now;
    if (this.#tokens < 1) return this.#error(4301, `Client event rate limit reached (${app.maxClientEventsPerSecond} per second)`, name);
    this.#tokens -= 1;
    try {
      // With a request id the publication carries this client as its origin: never echoed to it.
      await this.host.event(this.conn, channel, event, data ?? {}, 'pusher');
      if (this.shared.webhooks?.wants(app)) {
        const sub = this.conn.subscriptions.get(channel);
        const member = name.startsWith('presence-') && sub?.chanInfo !== undefined ? (JSON.parse(sub.chanInfo) as { user_id?: string | number }).user_id : undefined;
        this.shared.webhooks.push(app, { name: 'client_event', channel: name, event, data: JSON.stringify(data ?? {}), socket_id: this.socketId, ...(member !== undefined ? { user_id: String(member) } : {}) });
      }
    } catch (err) {
      const e = this.replyErrorOf(err);
      this.#error(4301, e.message, name);
    }
  }

  presenceChanged(channel: string, event: 'join' | 'leave' | 'update', info: ClientInfo): void {
    if (event === 'update') return;
    const watched = this.#watch?.get(channel);
    if (watched !== undefined) {
      const had = watched.clients.size;
      if (event === 'join') watched.clients.add(info.client);
      else watched.clients.delete(info.client);
      const now = watched.clients.size;
      if ((had === 0) !== (now === 0)) {
        this.conn.enqueueControl(Buffer.from(frame('pusher_internal:watchlist_events', undefined, JSON.stringify({ events: [{ name: now > 0 ? 'online' : 'offline', user_ids: [watched.id] }] }))));
      }
      return;
    }
    const name = this.shared.apps.pusherName(channel);
    if (name === undefined || !name.startsWith('presence-')) return;
    const out = this.shared.fold.change(channel, name, event, info);
    if (out !== null && this.#ready.has(name) && info.client !== this.conn.id) this.conn.enqueueControl(out);
  }

  pushSubscribed(channel: string, _result: SubscribeOutcome): void {
    const name = this.shared.apps.pusherName(channel);
    if (name === undefined) return;
    this.#ready.set(name, channel);
    this.send(frame('pusher_internal:subscription_succeeded', name, '{}'));
  }

  pushUnsubscribed(channel: string, _code: number, _reason: string): void {
    const name = this.shared.apps.pusherName(channel);
    if (name === undefined || !this.#ready.delete(name)) return;
    if (name.startsWith('presence-')) this.shared.fold.release(channel);
    this.shared.counter?.remove(channel, this);
    // Pusher has no server-side unsubscribe frame: the client is told its subscription ended with an error.
    this.send(subscriptionErrorFrame(name, 'ServerError', 'Unsubscribed by the server', 500));
  }

  pushMessage(data: string): void {
    this.send(frame('message', undefined, data));
  }

  override sendPing(): void {
    this.send('{"event":"pusher:ping","data":{}}');
  }

  onClose(code: number, reason: string): void {
    // Pusher's own close codes are announced in a pusher:error frame first, as Pusher does.
    if (code >= 4000 && code < 4300) this.send(errorFrame(code, reason));
  }

  /** However the connection ended (the client may have gone first): what the node holds for it goes. */
  closed(): void {
    this.shared.sessions?.delete(this);
    if (this.conn.traffic !== undefined && this.#app) {
      this.shared.stats.closed(this.#app);
      this.conn.traffic = undefined; // counted once
    }
    for (const [name, channel] of this.#ready) {
      if (name.startsWith('presence-')) this.shared.fold.release(channel);
      this.shared.counter?.remove(channel, this);
    }
    this.#ready.clear();
  }
}
