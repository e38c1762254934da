import type { Connection } from './connection.js';

const HELD_RETRY_MS = 20;

/**
 * The node's one outbound scheduler. Deliveries only queue bytes on connections; a connection with
 * something queued is flushed once, after the current tick (setImmediate), so every message queued
 * in one tick leaves in one write. A connection whose socket is backed up (more than a quarter of
 * the queue limit still buffered) is held instead: its queue stays where the slow-consumer policy
 * can act, and one timer per node retries the held ones until they drain or close.
 */
export class Outbound {
  #queue: Connection[] = [];
  #scheduled = false;
  readonly #held = new Set<Connection>();
  #heldTimer: NodeJS.Timeout | undefined;
  constructor(
    /** `messagesOut` counts flushes: one write per connection per tick. */
    readonly stats: { messagesOut: number },
    readonly onError: (err: unknown, conn: Connection) => void,
  ) {}

  schedule(conn: Connection): void {
    this.#queue.push(conn);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushAll);
    }
  }

  readonly #flushAll = (): void => {
    this.#scheduled = false;
    const q = this.#queue;
    this.#queue = [];
    for (let i = 0; i < q.length; i++) {
      try {
        q[i]!.flush();
      } catch (err) {
        this.onError(err, q[i]!);
      }
    }
    this.stats.messagesOut += q.length;
  };

  hold(conn: Connection): void {
    this.#held.add(conn);
    if (this.#heldTimer === undefined) {
      this.#heldTimer = setInterval(this.#retryHeld, HELD_RETRY_MS);
      this.#heldTimer.unref();
    }
  }

  release(conn: Connection): void {
    if (this.#held.delete(conn) && this.#held.size === 0) this.#stopTimer();
  }

  readonly #retryHeld = (): void => {
    for (const conn of [...this.#held]) {
      this.#held.delete(conn);
      conn.flush();
    }
    if (this.#held.size === 0) this.#stopTimer();
  };

  #stopTimer(): void {
    if (this.#heldTimer !== undefined) {
      clearInterval(this.#heldTimer);
      this.#heldTimer = undefined;
    }
  }

  close(): void {
    this.#held.clear();
    this.#stopTimer();
  }
}
