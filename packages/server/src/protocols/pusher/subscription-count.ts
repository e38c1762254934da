import { frame } from './frames.js';

/** What the counter tells a subscriber (the Pusher session). */
export interface CountListener {
  sendRaw(text: string): void;
}

/** How often every node recounts its counted channels, cluster-wide, to catch other nodes' changes. */
export const SUBSCRIPTION_COUNT_INTERVAL_MS = 2_000;
/** A local subscribe or unsubscribe is recounted this soon (changes within it are counted once). */
const SOON_MS = 50;

/**
 * `pusher_internal:subscription_count` for apps that enable it (Pusher: every channel kind but
 * presence). The count is of every subscriber of the Switchboard channel on every node (Pusher
 * and other protocols alike), taken with one survey of the nodes: soon after a subscribe or
 * unsubscribe on this node, and every `intervalMs` while this node has subscribers of counted
 * channels (changes on other nodes arrive within that). A subscriber is told when the count it
 * last saw differs, so a new subscriber gets the count once and nobody gets the same count twice.
 */
export class SubscriptionCounter {
  readonly #channels = new Map<string, { name: string; seen: Map<CountListener, number> }>();
  #periodic: NodeJS.Timeout | undefined;
  #soon: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;

  constructor(
    /** Subscribers per Switchboard channel across the nodes. */
    readonly count: () => Promise<Map<string, number>>,
    readonly onError: (err: unknown) => void,
    readonly intervalMs = SUBSCRIPTION_COUNT_INTERVAL_MS,
  ) {}

  add(channel: string, name: string, listener: CountListener): void {
    let c = this.#channels.get(channel);
    if (!c) this.#channels.set(channel, (c = { name, seen: new Map() }));
    c.seen.set(listener, -1);
    this.#changed();
  }

  remove(channel: string, listener: CountListener): void {
    const c = this.#channels.get(channel);
    if (!c || !c.seen.delete(listener)) return;
    if (c.seen.size === 0) this.#channels.delete(channel);
    this.#changed();
  }

  #changed(): void {
    this.#soon ??= setTimeout(() => {
      this.#soon = undefined;
      void this.tick();
    }, SOON_MS).unref();
    if (this.#channels.size > 0) {
      this.#periodic ??= setInterval(() => void this.tick(), this.intervalMs).unref();
    } else if (this.#periodic) {
      clearInterval(this.#periodic);
      this.#periodic = undefined;
    }
  }

  /** Count and tell (one survey at a time; a change meanwhile runs one more). */
  async tick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        if (this.#channels.size === 0) break;
        const counts = await this.count();
        for (const [channel, c] of this.#channels) {
          const n = counts.get(channel) ?? 0;
          let text: string | undefined;
          for (const [listener, last] of c.seen) {
            if (last === n) continue;
            text ??= frame('pusher_internal:subscription_count', c.name, JSON.stringify({ subscription_count: n }));
            c.seen.set(listener, n);
            listener.sendRaw(text);
          }
        }
      } while (this.#again);
    } catch (err) {
      this.onError(err);
    } finally {
      this.#running = false;
    }
  }

  close(): void {
    if (this.#periodic) clearInterval(this.#periodic);
    if (this.#soon) clearTimeout(this.#soon);
    this.#periodic = this.#soon = undefined;
    this.#channels.clear();
  }
}
