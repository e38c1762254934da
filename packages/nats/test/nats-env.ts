import { randomUUID } from 'node:crypto';
import { connect } from 'nats';

export const NATS_URL = process.env['SWITCHBOARD_TEST_NATS'] ?? 'nats://127.0.0.1:4222';

/** A subject/stream/bucket prefix no other test run uses. */
export function testPrefix(tag = 't'): string {
  return `sbtest_${tag}_${randomUUID().slice(0, 8)}`;
}

/**
 * Whether the test NATS (with JetStream) answers. Under CI a missing NATS is a failure (the suite
 * must not pass by skipping); elsewhere the caller skips with a message.
 */
export async function natsAvailable(url = NATS_URL): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 2000 });
    try {
      await (await nc.jetstreamManager()).getAccountInfo();
    } finally {
      await nc.close();
    }
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') throw new Error(`NATS with JetStream is required under CI and is not usable at ${url}: ${(err as Error).message}`);
    return false;
  }
}

/** Deletes every stream (and so every key-value bucket) whose name starts with `prefix`. */
export async function dropPrefix(prefix: string, url = NATS_URL): Promise<void> {
  let nc;
  try {
    nc = await connect({ servers: url, reconnect: false, timeout: 2000 });
  } catch {
    return; // the server is gone (a test that stopped it): nothing to clean
  }
  try {
    const jsm = await nc.jetstreamManager();
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    for (const n of names) if (n.startsWith(prefix) || n.startsWith(`KV_${prefix}`)) await jsm.streams.delete(n);
  } finally {
    await nc.close();
  }
}
