import { randomUUID } from 'node:crypto';

/** A channel name no other test (or test run sharing the backend) uses. */
export function uniqueChannel(tag: string): string {
  return `conf:${tag}:${randomUUID().slice(0, 12)}`;
}

/**
 * Waits until `check` holds, polling every 10 ms; fails after `ms`, also when `check` itself never
 * settles. A bounded wait for an outcome, not a timing assertion. The one polling helper of the
 * repository's tests: test helpers re-export it rather than keep copies.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await withDeadline(check(), end, () => `timed out after ${ms} ms waiting for ${what} (the check did not return)`)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The subset of an event emitter `waitForEvent` needs (Node's, ws's, the SDKs' emitters all fit). */
export interface EventSource {
  once(event: never, listener: never): unknown;
  removeListener?(event: never, listener: never): unknown;
}

/**
 * Resolves with the first argument of the next `event` on `emitter`; fails after `ms` (the listener
 * is removed then). Every event wait in the tests goes through this or `waitFor`, so none can hang.
 */
export function waitForEvent<T = unknown>(emitter: EventSource, event: string, ms = 5000): Promise<T> {
  // the listener takes what the event carries: the emitter's own typing cannot be expressed here
  const e: { once(e: string, f: (arg: unknown) => void): unknown; removeListener?(e: string, f: (arg: unknown) => void): unknown } = emitter;
  return new Promise<T>((resolve, reject) => {
    const listener = (arg: unknown) => {
      clearTimeout(timer);
      resolve(arg as T);
    };
    const timer = setTimeout(() => {
      e.removeListener?.(event, listener);
      reject(new Error(`timed out after ${ms} ms waiting for the "${event}" event`));
    }, ms);
    e.once(event, listener);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `promise`, or a rejection naming `what` if it has not settled after `ms`: bounds a reply wait. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(promise, Date.now() + ms, () => `timed out after ${ms} ms waiting for ${what}`, 0);
}

function withDeadline<T>(value: T | Promise<T>, end: number, message: () => string, graceMs = 1000): Promise<T> {
  if (!(value instanceof Promise)) return Promise.resolve(value);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), Math.max(0, end - Date.now()) + graceMs);
  });
  return Promise.race([value, expired]).finally(() => clearTimeout(timer));
}
