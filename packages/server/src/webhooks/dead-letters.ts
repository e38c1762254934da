import type { LifecycleEvent } from '../cluster/lifecycle.js';
import type { Logger } from '../logger.js';
import type { WebhookJournal } from './journal.js';

/** An event that could not be delivered. */
export interface DeadLetter<E = LifecycleEvent> {
  readonly event: E;
  readonly attempts: number;
  readonly error: string;
  readonly at: number;
}

/** An event as the queue holds it: with its key in the queue's journal once appended. */
export interface Journaled<E> {
  readonly event: E;
  readonly key?: Promise<string | undefined>;
}

/** A dead letter and where its durable copies are. */
export interface Dead<E> {
  readonly letter: DeadLetter<E>;
  /** Its key in the dead-letter journal once appended (undefined: in memory only). */
  readonly key: Promise<string | undefined> | undefined;
  /** The event's entry in the queue's journal, kept while the dead letter has no durable copy of its own. */
  live: Journaled<E> | undefined;
}

/** What the dead-letter store needs from its queue. */
export interface DeadLetterHost<E> {
  readonly name: string;
  readonly max: number;
  /** The dead-letter journal (undefined: memory only). */
  readonly journal: WebhookJournal | undefined;
  readonly logger: Logger;
  /** Append `value` JSON-encoded; resolves to its key, or undefined when that failed (counted and logged by the queue). */
  write(journal: WebhookJournal, value: unknown, failed: string): Promise<string | undefined> | undefined;
  /** Forget items' entries in the queue's journal. */
  forget(items: readonly Journaled<E>[]): void;
  /** Run a journal update that closing the queue waits for. */
  track(p: Promise<unknown>): void;
}

/**
 * A webhook queue's dead letters: bounded (past `max` the oldest are dropped, counted and logged),
 * and with a journal durable: a dead letter is written there first and the event's queue-journal
 * entry removed once that write is acknowledged (a crash in between: delivered again by a survivor,
 * not lost); one whose write failed keeps its queue-journal entry until it is redelivered or
 * dropped. A dead node's dead letters are claimed into the claimer's.
 */
export class DeadLetterStore<E> {
  #dead: Dead<E>[] = [];
  /** Dead letters ever put here, dropped past the bound, and taken over from dead nodes. */
  added = 0;
  dropped = 0;
  claimed = 0;

  constructor(readonly host: DeadLetterHost<E>) {}

  get size(): number {
    return this.#dead.length;
  }

  /** The dead letters, oldest first. */
  list(): DeadLetter<E>[] {
    return this.#dead.map((d) => d.letter);
  }

  /** Put items in the dead letters; resolves once their durable writes are done. */
  put(items: readonly Journaled<E>[], attempts: number, error: string): Promise<unknown> {
    const at = Date.now();
    const { journal } = this.host;
    const written: Promise<unknown>[] = [];
    for (const item of items) {
      const letter: DeadLetter<E> = { event: item.event, attempts, error, at };
      const key = journal ? this.host.write(journal, letter, 'webhook dead-letter journal write failed: the dead letter is in memory only') : undefined;
      const rec: Dead<E> = { letter, key, live: journal ? item : undefined };
      this.#dead.push(rec);
      if (key) {
        const done = key.then((k) => {
          if (k !== undefined && rec.live) {
            rec.live = undefined;
            this.host.forget([item]);
          }
        });
        this.host.track(done);
        written.push(done);
      }
    }
    if (!journal) this.host.forget(items);
    this.added += items.length;
    this.#trim();
    return Promise.all(written);
  }

  /** Empty the store: the records, for the queue to put their events back and then `release` them. */
  takeAll(): Dead<E>[] {
    const dead = this.#dead;
    this.#dead = [];
    return dead;
  }

  /** Forget a dead letter's durable copies (it was redelivered or dropped). */
  release(rec: Dead<E>): void {
    const { journal } = this.host;
    if (!journal) return;
    this.host.track(
      (rec.key ?? Promise.resolve(undefined)).then((k) => {
        if (rec.live) this.host.forget([rec.live]);
        rec.live = undefined;
        return k !== undefined ? journal.remove([k]) : undefined;
      }),
    );
  }

  /** Take over dead nodes' dead letters, oldest first among these; returns how many entries were taken. */
  async claim(stopped: () => boolean): Promise<number> {
    const { journal, logger, name } = this.host;
    let total = 0;
    while (journal && !stopped()) {
      let got: { key: string; entry: string }[];
      try {
        got = await journal.claim(500);
      } catch (err) {
        logger.warn({ webhook: name, err }, 'webhook dead-letter journal claim failed');
        return total;
      }
      const taken: Dead<E>[] = [];
      for (const { key, entry } of got) {
        const letter = readDeadLetter<E>(entry);
        if (!letter) {
          logger.error({ webhook: name, entry: entry.slice(0, 200) }, 'webhook dead-letter journal: unreadable entry dropped');
          this.host.track(journal.remove([key]));
          continue;
        }
        taken.push({ letter, key: Promise.resolve(key), live: undefined });
      }
      if (taken.length > 0) {
        // oldest first, whichever node they come from
        this.#dead = [...this.#dead, ...taken].sort((x, y) => x.letter.at - y.letter.at);
        this.claimed += taken.length;
        logger.warn({ webhook: name, events: taken.length }, "webhook: took over a dead node's dead letters");
        this.#trim();
      }
      total += got.length;
      if (got.length < 500) break;
    }
    return total;
  }

  #trim(): void {
    const over = this.#dead.length - this.host.max;
    if (over <= 0) return;
    for (const rec of this.#dead.splice(0, over)) this.release(rec);
    this.dropped += over;
    this.host.logger.error({ webhook: this.host.name, dropped: over }, 'webhook dead letters full: oldest dropped');
  }
}

/** A dead letter read back from a dead-letter journal, or undefined when the entry is not one. */
function readDeadLetter<E>(entry: string): DeadLetter<E> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(entry);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || !('event' in v)) return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d['attempts'] !== 'number' || typeof d['error'] !== 'string' || typeof d['at'] !== 'number') return undefined;
  return { event: d['event'] as E, attempts: d['attempts'], error: d['error'], at: d['at'] };
}
