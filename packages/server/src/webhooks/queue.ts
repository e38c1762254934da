import type { LifecycleEvent } from '../cluster/lifecycle.js';
import { type Logger, silentLogger } from '../logger.js';
import type { WebhookFormat } from './format.js';
import { type DeadLetter, DeadLetterStore, type Journaled } from './dead-letters.js';
import type { WebhookJournal } from './journal.js';

export type { DeadLetter } from './dead-letters.js';

export interface WebhookRetry {
  /** First backoff (default 200 ms); doubled after each failed attempt, ±20 % jitter. */
  readonly baseMs?: number;
  /** Longest backoff (default 10 s). */
  readonly maxMs?: number;
  /** Attempts per batch before its events go to the dead letters (default 10). */
  readonly maxAttempts?: number;
}

export interface WebhookQueueOptions<E = LifecycleEvent> {
  readonly url: string;
  readonly format: WebhookFormat<E>;
  /** A name for logs, metrics and the admin page (default: the URL's host). */
  readonly name?: string;
  /** Events per request (default 100). */
  readonly maxBatch?: number;
  /** How long the first event of a batch waits for company (default 20 ms). */
  readonly lingerMs?: number;
  /** Per request (default 5 s); a slower endpoint counts as a failed attempt. */
  readonly timeoutMs?: number;
  readonly retry?: WebhookRetry;
  /** Events waiting at most (default 10,000); past it new events go straight to the dead letters. */
  readonly maxQueue?: number;
  /** Dead letters kept (default 1,000); past it the oldest are dropped, counted and logged. */
  readonly maxDeadLetters?: number;
  readonly logger?: Logger;
  /** The HTTP client (default the global `fetch`). */
  readonly fetch?: typeof fetch;
  /**
   * A durable copy of the queue in the engine (events JSON-encoded): what this node had not
   * delivered when it crashed is claimed and delivered by a survivor. Without it the queue is in
   * memory only.
   */
  readonly journal?: WebhookJournal;
  /**
   * A durable copy of the dead letters in the engine (each one JSON-encoded with its attempts,
   * error and time): a dead node's dead letters are claimed by a survivor into its own, so they
   * outlive the node that put them there. Without it the dead letters are in memory only.
   */
  readonly deadJournal?: WebhookJournal;
  /** How often to look for dead nodes' journals to take over (default 1 s; only with a journal). */
  readonly claimIntervalMs?: number;
}

/** An event in the queue, with its key in the journal once appended (undefined: not journaled). */
type Item<E> = Journaled<E>;

export interface WebhookStats {
  readonly name: string;
  readonly url: string;
  /** Events waiting, and in the request under way. */
  readonly queued: number;
  readonly inFlight: number;
  /** Events delivered (2xx), and the requests that carried them. */
  readonly delivered: number;
  readonly requests: number;
  /** Failed attempts (network error, timeout, non-2xx), and the retries they caused. */
  readonly failures: number;
  readonly retries: number;
  /** Events ever put in the dead letters, those there now, and those dropped from it when full. */
  readonly deadLettered: number;
  readonly deadLetters: number;
  readonly deadLettersDropped: number;
  /** Events refused because the queue was full (they went to the dead letters). */
  readonly overflowed: number;
  /** With a journal: events written to it, writes that failed (those events are in memory only), and events taken over from dead nodes' journals. */
  readonly journaled: number;
  readonly journalFailures: number;
  readonly claimed: number;
  /** With a dead-letter journal: dead letters taken over from dead nodes. */
  readonly deadLettersClaimed: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
  readonly lastDeliveredAt?: number;
}

/**
 * Delivers lifecycle events to one endpoint: batched, in order (a failing batch is retried with
 * backoff and holds the ones behind it, so events stay in the order they were pushed), at least
 * once (a request that timed out may have been processed: receivers de-duplicate by event id).
 * `push` never blocks and never waits on the network: the connection or publication that caused
 * an event does not feel a slow or dead endpoint. What cannot be delivered (attempts exhausted, a
 * 4xx other than 408/429, the queue full) goes to a bounded dead-letter store, visible in `stats`
 * and `deadLetters`, never dropped silently; with a `deadJournal` it is durable in the engine and a
 * dead node's dead letters are taken over by a survivor.
 */
export class WebhookQueue<E = LifecycleEvent> {
  readonly name: string;
  readonly url: string;
  readonly #o: Required<Omit<WebhookQueueOptions<E>, 'name' | 'retry' | 'logger' | 'fetch' | 'journal' | 'deadJournal'>>;
  readonly #journal: WebhookJournal | undefined;
  /** Dead-letter journal writes and removals under way (close waits for them). */
  readonly #writes = new Set<Promise<unknown>>();
  #claimTimer: NodeJS.Timeout | undefined;
  /** The claim under way (claims run one at a time). */
  #claiming: Promise<number> | undefined;
  /** Events left in the journal by a failed attempt while closing. */
  #kept = 0;
  readonly #retry: Required<WebhookRetry>;
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  #queue: Item<E>[] = [];
  #head = 0;
  readonly #dead: DeadLetterStore<E>;
  #inFlight = 0;
  #sending = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #closing = false;
  #closed = false;
  #idle: (() => void)[] = [];
  #s = { delivered: 0, requests: 0, failures: 0, retries: 0, overflowed: 0, journaled: 0, journalFailures: 0, claimed: 0 };
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #lastDeliveredAt: number | undefined;

  constructor(options: WebhookQueueOptions<E>) {
    let host: string;
    try {
      const u = new URL(options.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
      host = u.host;
    } catch {
      throw new Error(`webhook url must be an http(s) URL: ${options.url}`);
    }
    this.url = options.url;
    this.name = options.name ?? host;
    this.#o = {
      url: options.url,
      format: options.format,
      maxBatch: positive(options.maxBatch, 100, 'maxBatch'),
      lingerMs: nonNegative(options.lingerMs, 20, 'lingerMs'),
      timeoutMs: positive(options.timeoutMs, 5_000, 'timeoutMs'),
      maxQueue: positive(options.maxQueue, 10_000, 'maxQueue'),
      maxDeadLetters: positive(options.maxDeadLetters, 1_000, 'maxDeadLetters'),
      claimIntervalMs: positive(options.claimIntervalMs, 1_000, 'claimIntervalMs'),
    };
    this.#retry = {
      baseMs: positive(options.retry?.baseMs, 200, 'retry.baseMs'),
      maxMs: positive(options.retry?.maxMs, 10_000, 'retry.maxMs'),
      maxAttempts: positive(options.retry?.maxAttempts, 10, 'retry.maxAttempts'),
    };
    this.#logger = options.logger ?? silentLogger;
    this.#fetch = options.fetch ?? fetch;
    this.#journal = options.journal;
    this.#dead = new DeadLetterStore<E>({
      name: this.name,
      max: this.#o.maxDeadLetters,
      journal: options.deadJournal,
      logger: this.#logger,
      write: (journal, value, failed) => this.#write(journal, value, () => {}, failed),
      forget: (items) => this.#forget(items),
      track: (p) => this.#track(p),
    });
    if (this.#journal || options.deadJournal) {
      this.#claimTimer = setInterval(() => {
        if (this.#claiming === undefined) void this.claim();
      }, this.#o.claimIntervalMs);
      this.#claimTimer.unref();
    }
  }

  /** Whether the queue has a durable copy in the engine. */
  get durable(): boolean {
    return this.#journal !== undefined;
  }

  #append(event: E): Promise<string | undefined> | undefined {
    const journal = this.#journal;
    if (!journal) return undefined;
    return this.#write(journal, event, () => this.#s.journaled++, 'webhook journal write failed: the event is in memory only');
  }

  /** Append `value` JSON-encoded; resolves to its key, or undefined when that failed (counted, logged). */
  #write(journal: WebhookJournal, value: unknown, done: () => void, failed: string): Promise<string | undefined> | undefined {
    let entry: string;
    try {
      entry = JSON.stringify(value);
    } catch (err) {
      this.#journalFailed(err, failed);
      return undefined;
    }
    return journal.append(entry).then(
      (key) => {
        done();
        return key;
      },
      (err: unknown) => {
        this.#journalFailed(err, failed);
        return undefined;
      },
    );
  }

  #journalFailed(err: unknown, message: string): void {
    this.#s.journalFailures++;
    this.#logger.warn({ webhook: this.name, err }, message);
  }

  /** Run a journal write or removal that `close` waits for. */
  #track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) => this.#logger.warn({ webhook: this.name, err }, 'webhook dead-letter journal update failed'));
    this.#writes.add(t);
    void t.then(() => this.#writes.delete(t));
  }

  /** Delivered or dead-lettered: forget the journal's copies (in the background). */
  #forget(items: readonly Item<E>[]): void {
    const journal = this.#journal;
    if (!journal) return;
    const pending = items.map((i) => i.key).filter((k) => k !== undefined);
    if (pending.length === 0) return;
    void Promise.all(pending)
      .then((keys) => {
        const known = keys.filter((k): k is string => k !== undefined);
        return known.length > 0 ? journal.remove(known) : undefined;
      })
      .catch((err: unknown) => this.#logger.warn({ webhook: this.name, err }, 'webhook journal removal failed: a survivor may deliver those events again'));
  }

  /**
   * Take over undelivered events of dead nodes' journals (as many as the queue has room for) and
   * queue them behind this node's own. Runs every `claimIntervalMs` with a journal; returns how
   * many were claimed. Calls run one after the other: one made while another is under way waits
   * for it and then claims again, so when it resolves, whatever was claimable when it was called
   * is queued (the Pusher webhooks claim this way before queueing what a dead node's reaped
   * entries send, so that those come after the dead node's own backlog).
   */
  claim(): Promise<number> {
    const prev = this.#claiming;
    const run = (async () => {
      if (prev) await prev;
      return this.#claimAll();
    })();
    this.#claiming = run;
    void run.then(() => {
      if (this.#claiming === run) this.#claiming = undefined;
    });
    return run;
  }

  /** Claim until the dead nodes' journals are empty or the queue is full; then their dead letters. */
  async #claimAll(): Promise<number> {
    await this.#dead.claim(() => this.#closing);
    let total = 0;
    for (;;) {
      const room = Math.min(500, this.#o.maxQueue - (this.#queue.length - this.#head));
      const got = await this.#claimOnce(room);
      total += got;
      if (got < room || got === 0) return total;
    }
  }

  async #claimOnce(room: number): Promise<number> {
    const journal = this.#journal;
    if (!journal || this.#closing || room <= 0) return 0;
    try {
      const got = await journal.claim(room);
      for (const { key, entry } of got) {
        let event: E;
        try {
          event = JSON.parse(entry) as E;
        } catch (err) {
          this.#logger.error({ webhook: this.name, err }, 'webhook journal: unreadable entry dropped');
          void journal.remove([key]).catch(() => {});
          continue;
        }
        this.#queue.push({ event, key: Promise.resolve(key) });
      }
      this.#s.claimed += got.length;
      if (got.length > 0) {
        this.#logger.info({ webhook: this.name, events: got.length }, "webhook: took over a dead node's undelivered events");
        this.#schedule();
      }
      return got.length;
    } catch (err) {
      this.#logger.warn({ webhook: this.name, err }, 'webhook journal claim failed');
      return 0;
    }
  }

  get format(): WebhookFormat<E> {
    return this.#o.format;
  }

  /** Queue one event (O(1), never throws, never waits). */
  push(event: E): void {
    if (this.#o.format.accepts && !this.#o.format.accepts(event)) return;
    void this.#enqueue(event);
  }

  /** Queue (or, closed or full, dead-letter) an event; what it returns resolves once it is journaled where it went. */
  #enqueue(event: E): Promise<unknown> | undefined {
    if (this.#closed) return this.#dead.put([{ event }], 0, 'queue closed');
    if (this.#queue.length - this.#head >= this.#o.maxQueue) {
      this.#s.overflowed++;
      return this.#dead.put([{ event }], 0, 'queue full');
    }
    const key = this.#append(event);
    this.#queue.push(key ? { event, key } : { event });
    this.#schedule();
    return key;
  }

  #schedule(): void {
    if (this.#sending || this.#timer !== undefined) return;
    const waiting = this.#queue.length - this.#head;
    if (waiting === 0) return;
    const delay = waiting >= this.#o.maxBatch || this.#closing ? 0 : this.#o.lingerMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#pump();
    }, delay);
  }

  #take(): Item<E>[] {
    const end = Math.min(this.#queue.length, this.#head + this.#o.maxBatch);
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #pump(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length - this.#head > 0) {
        const batch = this.#take();
        this.#inFlight = batch.length;
        await this.#deliver(batch);
        this.#inFlight = 0;
        if (!this.#closing && this.#queue.length - this.#head < this.#o.maxBatch) break; // linger for the next batch
      }
    } finally {
      this.#sending = false;
      this.#inFlight = 0;
    }
    if (this.#queue.length - this.#head === 0) for (const f of this.#idle.splice(0)) f();
    this.#schedule();
  }

  async #deliver(items: Item<E>[]): Promise<void> {
    const batch = items.map((i) => i.event);
    for (let attempt = 1; ; attempt++) {
      let error: string;
      let permanent = false;
      try {
        const req = this.#o.format.encode(batch, Date.now());
        const res = await this.#fetch(this.url, { method: 'POST', body: req.body, headers: req.headers, signal: AbortSignal.timeout(this.#o.timeoutMs) });
        await res.body?.cancel().catch(() => {});
        if (res.ok) {
          this.#s.delivered += batch.length;
          this.#s.requests++;
          this.#lastDeliveredAt = Date.now();
          this.#forget(items);
          return;
        }
        error = `HTTP ${res.status}`;
        permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      } catch (err) {
        error = err instanceof Error ? (err.name === 'TimeoutError' ? `timeout after ${this.#o.timeoutMs} ms` : err.message) : String(err);
      }
      this.#s.failures++;
      this.#lastError = error;
      this.#lastErrorAt = Date.now();
      if (this.#closing && !permanent && attempt < this.#retry.maxAttempts && this.#journal) {
        // shutting down: the journal keeps them for a survivor (or this node's successor)
        this.#kept += items.length;
        return;
      }
      if (permanent || attempt >= this.#retry.maxAttempts || this.#closing) {
        this.#logger.warn({ webhook: this.name, events: batch.length, attempts: attempt, error }, 'webhook events to dead letters');
        void this.#dead.put(items, attempt, error);
        return;
      }
      this.#s.retries++;
      const backoff = Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, backoff);
        this.#wake = () => {
          clearTimeout(t);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** The undeliverable events, oldest first. */
  deadLetters(): readonly DeadLetter<E>[] {
    return this.#dead.list();
  }

  /**
   * Put every dead letter back in the queue (e.g. after the endpoint was fixed); returns how many.
   * A dead letter's durable copy is removed once the event is in the queue's journal again.
   */
  redeliverDeadLetters(): number {
    const dead = this.#dead.takeAll();
    for (const rec of dead) this.#track(Promise.resolve(this.#enqueue(rec.letter.event)).then(() => this.#dead.release(rec)));
    return dead.length;
  }

  stats(): WebhookStats {
    return {
      name: this.name,
      url: this.url,
      queued: this.#queue.length - this.#head,
      inFlight: this.#inFlight,
      ...this.#s,
      deadLettered: this.#dead.added,
      deadLetters: this.#dead.size,
      deadLettersDropped: this.#dead.dropped,
      deadLettersClaimed: this.#dead.claimed,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError, lastErrorAt: this.#lastErrorAt! } : {}),
      ...(this.#lastDeliveredAt !== undefined ? { lastDeliveredAt: this.#lastDeliveredAt } : {}),
    };
  }

  /**
   * Try to deliver what is queued for up to `timeoutMs` (no backoff waits meanwhile), then stop:
   * what is left goes to the dead letters (and is lost with the process), or, with a journal, stays
   * there for a survivor to claim once this node's lease is gone.
   */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    clearInterval(this.#claimTimer);
    this.#wake?.();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#sending || this.#queue.length - this.#head > 0) {
      const drained = new Promise<void>((resolve) => this.#idle.push(resolve));
      if (!this.#sending) void this.#pump();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
      clearTimeout(t);
    }
    this.#closed = true;
    this.#wake?.();
    const left = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    if (this.#journal) {
      const kept = this.#kept + left.filter((i) => i.key !== undefined).length;
      const lost = left.filter((i) => i.key === undefined);
      if (kept > 0) this.#logger.warn({ webhook: this.name, events: kept }, 'webhook queue closed with events undelivered: left in the journal for another node');
      if (lost.length > 0) void this.#dead.put(lost, 0, 'queue closed (not journaled)');
    } else if (left.length > 0) {
      this.#logger.warn({ webhook: this.name, events: left.length }, 'webhook queue closed with events undelivered');
      void this.#dead.put(left, 0, 'queue closed');
    }
    // dead letters stay in the dead-letter journal (for a survivor, once this node's lease is gone):
    // let the writes under way finish, within the same bound
    if (this.#writes.size > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.#writes]), new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
      clearTimeout(t);
    }
  }
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`webhook ${name} must be a positive number`);
  return v;
}

function nonNegative(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`webhook ${name} must be a non-negative number`);
  return v;
}
