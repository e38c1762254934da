import { randomUUID } from 'node:crypto';

/** A channel name no other test (or test run sharing the backend) uses. */
export function uniqueChannel(tag: string): string {
  return `conf:${tag}:${randomUUID().slice(0, 12)}`;
}

/** Waits until `check` holds, polling; fails after `ms`. A bounded wait for an outcome, not a timing assertion. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
