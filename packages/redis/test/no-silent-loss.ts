import assert from 'node:assert/strict';
import type { NodeProcess } from './cluster.js';
import type { SdkClient } from './sdk.js';

/** Publishes `{ i }` on `ch` through the nodes in turn, recording which publications were acknowledged and which failed. */
export function publisher(nodes: NodeProcess[], ch: string) {
  const acked: number[] = [];
  const failed: number[] = [];
  let seq = 0;
  const publish = async (): Promise<boolean> => {
    const i = ++seq;
    try {
      await nodes[i % nodes.length]!.api('publish', { channel: ch, data: { i } });
      acked.push(i);
      return true;
    } catch {
      failed.push(i);
      return false;
    }
  };
  return { acked, failed, publish };
}

/**
 * The no-silent-loss rule for one client: what it received is acknowledged, in order, and whatever
 * it missed it was told (a "could not recover" subscribe after the gap opened); after the last such
 * notice it missed nothing, up to `last`.
 */
export function assertNoSilentLoss(c: SdkClient, ch: string, acked: number[], last: number): void {
  const got = c.pubs(ch).map((p) => (p.data as { i: number }).i);
  for (let k = 1; k < got.length; k++) assert.ok(got[k]! > got[k - 1]!, `in order: ${got.join(',')}`);
  assert.ok(got.every((i) => acked.includes(i)), 'only acknowledged publications arrive');
  const timeline = c.subs.get(ch)!.timeline;
  const lastToldAt = timeline.findLastIndex((e) => 'subscribed' in e && e.subscribed.wasRecovering && !e.subscribed.recovered);
  let prev = 0;
  let prevAt = -1;
  timeline.forEach((e, k) => {
    if (!('pub' in e)) return;
    const i = (e.pub.data as { i: number }).i;
    const missed = acked.filter((x) => x > prev && x < i);
    assert.ok(missed.length === 0 || lastToldAt > prevAt, `missed ${missed.join(',')} (between ${prev} and ${i}) and was not told afterwards`);
    prev = i;
    prevAt = k;
  });
  assert.equal(prev, last, 'nothing missed after the last publication received');
}
