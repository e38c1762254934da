/**
 * One connection for every tab of an origin (the `shareConnection` option). Tabs elect a leader
 * with the Web Locks API: the tab holding the leader lock holds the only connection (`Leader`);
 * the others send it their subscriptions, publishes and RPCs over a BroadcastChannel and receive
 * what it broadcasts. When the leader tab closes, the browser hands the lock to a waiting tab,
 * which takes over within the takeover window plus a connect.
 *
 * Each tab also holds a lock of its own for its lifetime, so a leader can tell which tabs are
 * alive (for the takeover and for forgetting tabs that closed without a goodbye).
 */
import type { Centrifuge } from 'centrifuge';
import { RealtimeError } from '../errors.js';
import type { ConnectionRole, ConnectionState, Link, LinkSink } from '../link.js';
import type { RealtimeOptions } from '../realtime.js';
import { Leader } from './leader.js';
import { fromWire, type CallOp, type Interest, type TabMessage } from './messages.js';

/** Web Locks and BroadcastChannel, in a window or worker: what sharing needs. Node never shares. */
export function canShareConnection(): boolean {
  const nav = (globalThis as { navigator?: { locks?: { request?: unknown } } }).navigator;
  return typeof BroadcastChannel === 'function' && typeof nav?.locks?.request === 'function' && typeof (globalThis as { document?: unknown }).document === 'object';
}

interface PendingCall {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class SharedLink implements Link {
  readonly #options: RealtimeOptions;
  readonly #sink: LinkSink;
  readonly #tab = randomId();
  readonly #name: string;
  #bc: BroadcastChannel | undefined;
  readonly #abort = new AbortController();
  readonly #calls = new Map<number, PendingCall>();
  #nextCall = 1;
  #leader: Leader | undefined;
  #releaseLeader: (() => void) | undefined;
  #releaseTab: (() => void) | undefined;
  #state: ConnectionState = 'disconnected';
  #stopped = false;
  readonly #onPageHide = (): void => this.#post({ t: 'bye', tab: this.#tab });

  constructor(options: RealtimeOptions, sink: LinkSink) {
    this.#options = options;
    this.#sink = sink;
    const group = typeof options.shareConnection === 'string' ? `#${options.shareConnection}` : '';
    this.#name = `switchboard:${options.url}${group}`;
  }

  /**
   * Joins the tabs on first use, not in the constructor: an instance made and dropped without being
   * used (React may render twice and keep one) holds no lock and no channel.
   */
  #join(): void {
    if (this.#bc || this.#stopped) return;
    this.#bc = new BroadcastChannel(this.#name);
    this.#bc.onmessage = (e: MessageEvent<TabMessage>) => this.#onMessage(e.data);
    const locks = navigator.locks;
    void locks.request(`${this.#name}:tab:${this.#tab}`, () => new Promise<void>((resolve) => (this.#releaseTab = resolve)));
    locks
      .request(`${this.#name}:leader`, { signal: this.#abort.signal }, () => new Promise<void>((resolve) => {
        this.#releaseLeader = resolve;
        this.#becomeLeader();
      }))
      .catch(() => {
        // aborted by shutdown() while waiting for the lock
      });
    globalThis.addEventListener?.('pagehide', this.#onPageHide);
    this.#post({ t: 'hello', tab: this.#tab, interests: [] });
  }

  get role(): ConnectionRole {
    return this.#leader ? 'leader' : 'follower';
  }

  get centrifuge(): Centrifuge | undefined {
    return this.#leader?.direct.centrifuge;
  }

  /** This tab's id among the tabs sharing the connection. */
  get tab(): string {
    return this.#tab;
  }

  open(channel: string): void {
    this.#join();
    const interest = this.#interest(channel);
    if (this.#leader) this.#leader.interest(this.#tab, interest);
    else this.#post({ t: 'open', tab: this.#tab, interest });
  }

  close(channel: string): void {
    if (this.#leader) this.#leader.drop(this.#tab, channel);
    else this.#post({ t: 'close', tab: this.#tab, ch: channel });
  }

  async publish(channel: string, data: unknown): Promise<void> {
    this.#join();
    if (this.#leader) return this.#leader.direct.publish(channel, data);
    await this.#call('publish', channel, data);
  }

  async rpc(method: string, data: unknown): Promise<unknown> {
    this.#join();
    if (this.#leader) return this.#leader.direct.rpc(method, data);
    return this.#call('rpc', method, data);
  }

  ready(timeoutMs?: number): Promise<void> {
    this.connect();
    if (this.#leader) return this.#leader.direct.ready(timeoutMs);
    if (this.#state === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const offs: (() => void)[] = [];
      const done = (err?: RealtimeError): void => {
        for (const off of offs) off();
        if (err) reject(err);
        else resolve();
      };
      offs.push(this.#onState((s) => s === 'connected' && done()));
      offs.push(this.#onTerminal((e) => done(e)));
      if (timeoutMs !== undefined) {
        const t = setTimeout(() => done(new RealtimeError('connection', `not connected within ${timeoutMs} ms`)), timeoutMs);
        offs.push(() => clearTimeout(t));
      }
    });
  }

  connect(): void {
    this.#join();
    if (this.#leader) this.#leader.connect();
    else this.#post({ t: 'call', tab: this.#tab, id: 0, op: 'connect' });
  }

  disconnect(): void {
    if (!this.#bc) return;
    if (this.#leader) this.#leader.direct.disconnect();
    else this.#post({ t: 'call', tab: this.#tab, id: 0, op: 'disconnect' });
  }

  shutdown(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (!this.#bc) return;
    globalThis.removeEventListener?.('pagehide', this.#onPageHide);
    this.#rejectCalls('the Realtime instance was closed');
    if (this.#leader) {
      this.#leader.shutdown();
      this.#leader = undefined;
    } else this.#post({ t: 'bye', tab: this.#tab });
    this.#abort.abort();
    this.#releaseLeader?.();
    this.#releaseTab?.();
    this.#bc.close();
    this.#bc = undefined;
  }

  #becomeLeader(): void {
    if (this.#stopped) {
      this.#releaseLeader?.();
      return;
    }
    this.#rejectCalls('the leader tab changed during the call');
    const leader = new Leader(this.#tab, this.#options, this.#sink, (m) => this.#post(m), `${this.#name}:tab:`);
    this.#leader = leader;
    this.#sink.event('leader', { tab: this.#tab });
    void leader.start(this.#sink.channels().map((ch) => this.#interest(ch)));
  }

  #interest(ch: string): Interest {
    const i: Interest = { ch, again: this.#sink.subscribedBefore(ch) };
    const pos = this.#sink.position(ch);
    if (pos) i.pos = pos;
    return i;
  }

  #post(m: TabMessage): void {
    if (this.#stopped && m.t !== 'bye') return;
    try {
      this.#bc?.postMessage(m);
    } catch {
      // closed channel (page going away): nothing to tell
    }
  }

  #onMessage(m: TabMessage): void {
    if (this.#stopped) return;
    if (this.#leader) {
      this.#leader.handle(m);
      return;
    }
    if ('to' in m && m.to !== undefined && m.to !== this.#tab) return;
    switch (m.t) {
      case 'leader':
        // A new leader: it needs every channel this tab wants, with positions to recover from.
        this.#rejectCalls('the leader tab changed during the call');
        this.#post({ t: 'hello', tab: this.#tab, interests: this.#sink.channels().map((ch) => this.#interest(ch)) });
        return;
      case 'reply': {
        const c = this.#calls.get(m.id);
        if (!c) return;
        this.#calls.delete(m.id);
        clearTimeout(c.timer);
        if (m.ok) c.resolve(m.value);
        else c.reject(fromWire(m.error));
        return;
      }
      case 'state':
        this.#setState(m.state);
        return;
      case 'event':
        this.#sink.event(m.name, m.value);
        return;
      case 'error': {
        const err = fromWire(m.error);
        this.#sink.event('error', err);
        if (err.kind === 'unauthorized' || err.kind === 'disconnected') for (const l of [...this.#terminalListeners]) l(err);
        return;
      }
      case 'pub':
        this.#sink.publication(m.p);
        return;
      case 'spub':
        this.#sink.event('serverPublication', m.p);
        return;
      case 'sub': {
        let s = m.s;
        // The leader recovered from `from`: a tab whose position is further behind missed messages.
        const mine = this.#sink.position(s.channel);
        if (m.from && s.recovered && mine && mine.epoch === m.from.epoch && mine.offset < m.from.offset) s = { ...s, recovered: false };
        this.#sink.subscribed(s);
        return;
      }
      case 'chanerr':
        this.#sink.channelError(m.ch, fromWire(m.error));
        return;
      default:
        return;
    }
  }

  #setState(s: ConnectionState): void {
    if (s === this.#state) return;
    this.#state = s;
    this.#sink.event('state', s);
    for (const l of [...this.#stateListeners]) l(s);
  }

  readonly #stateListeners = new Set<(s: ConnectionState) => void>();
  #onState(fn: (s: ConnectionState) => void): () => void {
    this.#stateListeners.add(fn);
    return () => this.#stateListeners.delete(fn);
  }

  readonly #terminalListeners = new Set<(e: RealtimeError) => void>();
  #onTerminal(fn: (e: RealtimeError) => void): () => void {
    this.#terminalListeners.add(fn);
    return () => this.#terminalListeners.delete(fn);
  }

  #call(op: CallOp, name: string, data: unknown): Promise<unknown> {
    const id = this.#nextCall++;
    const ms = 2 * (this.#options.timeout ?? 5000);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new RealtimeError('connection', `${op} ${name}: no answer from the leader tab within ${ms} ms`));
      }, ms);
      this.#calls.set(id, { resolve, reject, timer });
      this.#post({ t: 'call', tab: this.#tab, id, op, name, data });
    });
  }

  #rejectCalls(why: string): void {
    for (const [id, c] of [...this.#calls]) {
      this.#calls.delete(id);
      clearTimeout(c.timer);
      c.reject(new RealtimeError('connection', why));
    }
  }
}

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
