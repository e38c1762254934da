import { DisconnectError, Disconnects, Errors, ReplyError, Unsubscribes } from '../codes.js';
import type { Session, SessionConnection, SessionHost, SubscribeOutcome } from '../protocol.js';
import type { Subscription } from '../subscription.js';

/**
 * The plumbing every protocol session shares: sending, the ordered command chain with its start
 * gate, failure handling, the error → reply mapping, lag pushes, pings and frame splitting. A
 * protocol session extends this and only encodes and decodes its own frames.
 */
export abstract class SessionBase implements Session {
  abstract readonly keepalive: 'app' | 'transport';
  #chain: Promise<void>;
  #go: (() => void) | undefined;
  /** What an unexpected failure of a command costs: the connection (native protocol) or just the command. */
  readonly #closeOnFailure: boolean;

  constructor(
    readonly conn: SessionConnection,
    readonly host: SessionHost,
    options: { gated: boolean; closeOnFailure: boolean },
  ) {
    this.#closeOnFailure = options.closeOnFailure;
    // Gated: commands wait until `open()` (the connection is registered and its first frame sent).
    this.#chain = options.gated ? new Promise<void>((resolve) => (this.#go = resolve)) : Promise.resolve();
  }

  abstract handleMessage(data: Buffer, isBinary: boolean): void;
  abstract pushSubscribed(channel: string, result: SubscribeOutcome): void;
  abstract pushUnsubscribed(channel: string, code: number, reason: string): void;
  abstract pushMessage(data: string): void;

  /** Open the start gate: commands queued before it now run, in order. */
  protected open(): void {
    this.#go?.();
    this.#go = undefined;
  }

  protected send(s: string): void {
    this.conn.enqueueControl(Buffer.from(s));
  }

  /**
   * Run `task` after every command queued before it: one command at a time, in arrival order.
   * Each queued command counts against the connection's inbound limit until it finishes.
   */
  protected queue(task: () => Promise<void> | void): void {
    const conn = this.conn;
    conn.commandQueued();
    this.#chain = this.#chain
      .then(task)
      .catch((err: unknown) => this.fail(err))
      .finally(() => conn.commandDone());
  }

  /** A command failed with nothing left to answer: a coded disconnect closes, anything else is reported. */
  protected fail(err: unknown): void {
    if (err instanceof DisconnectError) return this.conn.close(err);
    this.host.reportError(err, this.conn);
    if (this.#closeOnFailure) this.conn.close(Disconnects.internal);
  }

  /**
   * The error to answer a failed command with: a `ReplyError` as it is; a `DisconnectError` is
   * rethrown (the chain closes the connection); anything else is reported and becomes 100 internal.
   * Counted either way.
   */
  protected replyErrorOf(err: unknown): ReplyError {
    if (err instanceof DisconnectError) throw err;
    let e: ReplyError;
    if (err instanceof ReplyError) e = err;
    else {
      this.host.reportError(err, this.conn);
      e = new ReplyError(Errors.internal);
    }
    this.host.countError(e.code);
    return e;
  }

  /** Publications were dropped: by default the client is unsubscribed (2500) and resubscribes to resync. */
  pushLagged(sub: Subscription): void {
    this.host.dropSubscription(sub);
    this.pushUnsubscribed(sub.channel, Unsubscribes.insufficientState.code, Unsubscribes.insufficientState.reason);
  }

  sendPing(): void {
    this.conn.transport.ping();
  }
}

/** The non-empty, trimmed lines of a newline-batched frame. */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line !== '') out.push(line);
  }
  return out;
}
