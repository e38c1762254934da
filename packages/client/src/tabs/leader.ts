/**
 * The leader tab's side of a shared connection: it holds the only centrifuge connection, keeps a
 * reference count of tabs per channel (one server subscription for any number of tabs), and
 * broadcasts connection state, publications and subscription events to every tab.
 *
 * Taking over from a leader that went away: announce, collect every live tab's channels and last
 * positions (tabs hold a per-tab Web Lock, so the live ones are known), then subscribe each channel
 * from the position furthest behind; the server replays what the tabs missed and each tab drops
 * what it already has by offset.
 */
import { DirectLink } from '../direct-link.js';
import type { ConnectionState, LinkSink, LinkSubscribed, StreamPosition } from '../link.js';
import type { RealtimeOptions } from '../realtime.js';
import { earliest, toWire, type Interest, type TabMessage } from './messages.js';

/** How long a new leader waits for tabs that hold a tab lock but have not said which channels they want. */
const TAKEOVER_WAIT_MS = 500;
/** How often the leader forgets tabs that went away without saying goodbye. */
const PRUNE_MS = 5000;

export class Leader {
  readonly direct: DirectLink;
  readonly #me: string;
  readonly #local: LinkSink;
  readonly #post: (m: TabMessage) => void;
  readonly #lockPrefix: string;
  /** channel → tabs that want it */
  readonly #tabsOf = new Map<string, Set<string>>();
  /** channel → positions reported during a takeover (before anything is subscribed) */
  readonly #reported = new Map<string, (StreamPosition | undefined)[]>();
  /** channel → latest position seen */
  readonly #current = new Map<string, StreamPosition>();
  /** channel → position its subscription started from */
  readonly #start = new Map<string, StreamPosition>();
  readonly #helloFrom = new Set<string>();
  #helloWaiter: (() => void) | undefined;
  #live = false;
  #wantConnect = false;
  #prune: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(me: string, options: RealtimeOptions, local: LinkSink, post: (m: TabMessage) => void, lockPrefix: string) {
    this.#me = me;
    this.#local = local;
    this.#post = post;
    this.#lockPrefix = lockPrefix;
    this.direct = new DirectLink(options, this.#sink());
  }

  /** Takes over: announces itself, waits for the live tabs' channels, then subscribes everything. */
  async start(own: Interest[]): Promise<void> {
    for (const i of own) this.interest(this.#me, i);
    this.#post({ t: 'leader', tab: this.#me });
    const expected = await this.#liveTabs();
    expected.delete(this.#me);
    // Connect while the tabs answer (token fetch and handshake overlap the wait); subscribe after.
    if (own.length > 0 || expected.size > 0 || this.#wantConnect) this.direct.connect();
    if (expected.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, TAKEOVER_WAIT_MS);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#helloWaiter = () => {
          if ([...expected].every((t) => this.#helloFrom.has(t))) done();
        };
        this.#helloWaiter();
      });
    }
    this.#helloWaiter = undefined;
    if (this.#stopped) return;
    this.#live = true;
    for (const ch of this.#tabsOf.keys()) this.#openChannel(ch);
    this.#reported.clear();
    if (this.#tabsOf.size > 0 || this.#wantConnect) this.direct.connect();
    this.#post({ t: 'state', state: this.#state() });
    this.#prune = setInterval(() => void this.#pruneTabs(), PRUNE_MS);
  }

  /** A message from a follower. */
  handle(m: TabMessage): void {
    switch (m.t) {
      case 'hello': {
        this.#helloFrom.add(m.tab);
        for (const i of m.interests) this.interest(m.tab, i);
        this.#post({ t: 'state', to: m.tab, state: this.#state() });
        this.#helloWaiter?.();
        return;
      }
      case 'open':
        return this.interest(m.tab, m.interest);
      case 'close':
        return this.drop(m.tab, m.ch);
      case 'bye':
        for (const ch of [...this.#tabsOf.keys()]) this.drop(m.tab, ch);
        return;
      case 'call':
        void this.#call(m);
        return;
      default:
        return;
    }
  }

  interest(tab: string, i: Interest): void {
    let tabs = this.#tabsOf.get(i.ch);
    if (tabs?.has(tab)) {
      // Known already: only try again a subscription the server refused for good.
      if (this.#live) this.direct.open(i.ch);
      return;
    }
    const first = !tabs || tabs.size === 0;
    if (!tabs) this.#tabsOf.set(i.ch, (tabs = new Set()));
    tabs.add(tab);
    if (!this.#live) {
      const list = this.#reported.get(i.ch) ?? [];
      list.push(i.pos);
      this.#reported.set(i.ch, list);
      return;
    }
    if (first) {
      this.#reported.set(i.ch, [i.pos]);
      this.#openChannel(i.ch);
      this.#reported.delete(i.ch);
      this.direct.connect();
      return;
    }
    // Already subscribed for other tabs: tell this one where the stream is (it starts there), or,
    // for a tab that was subscribed before, whether everything since its position was broadcast.
    if (this.direct.isSubscribed(i.ch)) {
      const cur = this.#current.get(i.ch);
      const start = this.#start.get(i.ch);
      const covered = !!(i.pos && start && cur && i.pos.epoch === start.epoch && i.pos.offset >= start.offset);
      const base: LinkSubscribed = { channel: i.ch, recovered: i.again && covered, wasRecovering: i.again };
      const s = cur ? { ...base, position: cur } : base;
      if (tab === this.#me) this.#local.subscribed(s);
      else this.#post({ t: 'sub', to: tab, s });
    }
  }

  drop(tab: string, ch: string): void {
    const tabs = this.#tabsOf.get(ch);
    if (!tabs || !tabs.delete(tab) || tabs.size > 0) return;
    this.#tabsOf.delete(ch);
    this.#current.delete(ch);
    this.#start.delete(ch);
    this.direct.close(ch);
  }

  connect(): void {
    this.#wantConnect = true;
    if (this.#live) this.direct.connect();
  }

  shutdown(): void {
    this.#stopped = true;
    if (this.#prune) clearInterval(this.#prune);
    this.direct.shutdown();
  }

  #openChannel(ch: string): void {
    const since = earliest(this.#reported.get(ch) ?? []);
    if (since) this.#start.set(ch, since);
    this.direct.open(ch, since);
  }

  #state(): ConnectionState {
    return this.direct.centrifuge.state;
  }

  async #call(m: Extract<TabMessage, { t: 'call' }>): Promise<void> {
    try {
      let value: unknown;
      if (m.op === 'publish') await this.direct.publish(m.name ?? '', m.data);
      else if (m.op === 'rpc') value = await this.direct.rpc(m.name ?? '', m.data);
      else if (m.op === 'connect') return this.connect();
      else if (m.op === 'disconnect') return this.direct.disconnect();
      this.#post({ t: 'reply', to: m.tab, id: m.id, ok: true, value });
    } catch (err) {
      this.#post({ t: 'reply', to: m.tab, id: m.id, ok: false, error: toWire(err) });
    }
  }

  async #liveTabs(): Promise<Set<string>> {
    const out = new Set<string>();
    try {
      const snap = await navigator.locks.query();
      for (const l of snap.held ?? []) if (l.name?.startsWith(this.#lockPrefix)) out.add(l.name.slice(this.#lockPrefix.length));
    } catch {
      // no query(): the takeover waits the whole window for late tabs instead
    }
    return out;
  }

  async #pruneTabs(): Promise<void> {
    const live = await this.#liveTabs();
    if (live.size === 0 || this.#stopped) return;
    for (const [ch, tabs] of [...this.#tabsOf]) for (const t of [...tabs]) if (!live.has(t)) this.drop(t, ch);
  }

  #sink(): LinkSink {
    const local = this.#local;
    return {
      event: (name, value) => {
        local.event(name, value);
        if (name === 'state') this.#post({ t: 'state', state: value as ConnectionState });
        else if (name === 'error') this.#post({ t: 'error', error: toWire(value) });
        else if (name === 'serverPublication') this.#post({ t: 'spub', p: value as never });
        else if (name !== 'leader') this.#post({ t: 'event', name, value } as TabMessage);
      },
      publication: (p) => {
        if (p.offset !== undefined) {
          const cur = this.#current.get(p.channel);
          if (cur) this.#current.set(p.channel, { offset: p.offset, epoch: cur.epoch });
        }
        local.publication(p);
        this.#post({ t: 'pub', p });
      },
      subscribed: (s) => {
        if (s.position) {
          this.#current.set(s.channel, s.position);
          if (!this.#start.has(s.channel)) this.#start.set(s.channel, s.position);
        }
        local.subscribed(s);
        const from = this.#start.get(s.channel);
        this.#post(from ? { t: 'sub', s, from } : { t: 'sub', s });
      },
      channelError: (ch, err) => {
        local.channelError(ch, err);
        this.#post({ t: 'chanerr', ch, error: toWire(err) });
      },
      position: () => undefined,
      subscribedBefore: () => false,
      channels: () => [],
    };
  }
}
