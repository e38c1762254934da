import assert from 'node:assert/strict';
import type { Switchboard } from '../switchboard.js';
import { waitFor } from './util.js';

/** A Logger that records the warnings it gets (the control plane logs drops at warn). */
export class RecordingLogger {
  readonly warnings: { obj: object; msg: string | undefined }[] = [];
  debug(): void {}
  info(): void {}
  error(): void {}
  warn(obj: object, msg?: string): void {
    this.warnings.push({ obj, msg });
  }
  dropped(): number {
    return this.warnings.filter((w) => w.msg === 'control message dropped').length;
  }
}

function nodeInfo(uid: string): Record<string, unknown> {
  return { uid, name: uid, version: '0.0.0', num_clients: 0, num_users: 0, num_subs: 0, num_channels: 0, uptime: 1 };
}

/**
 * The control plane under bad input, on any engine: `sender` publishes raw control messages
 * through its broker; `receiver` (another node on the same engine, or the same one) must drop and
 * log the malformed, unknown and future-version ones, keep applying valid ones (a survey, and a
 * version-0 message as nodes before the typed control plane send them), and keep serving.
 */
export async function controlPlaneScenario(sender: Switchboard, receiver: Switchboard, log: RecordingLogger, tag: string): Promise<void> {
  await sender.start();
  await receiver.start();
  const before = receiver.controlDropped;
  const warnedBefore = log.dropped();
  const bad = [
    'not json at all',
    JSON.stringify(['an', 'array']),
    JSON.stringify({ op: 'explode', from: `${tag}-x` }),
    // well-formed, but from a later version of the format
    JSON.stringify({ v: 99, op: 'node', info: nodeInfo(`${tag}-future`), from: `${tag}-future` }),
    // a field of the wrong type
    JSON.stringify({ v: 1, op: 'node', info: { ...nodeInfo(`${tag}-bad`), num_clients: 'many' }, from: `${tag}-bad` }),
    JSON.stringify({ op: 'disconnect', sel: { user: 'nobody' }, code: 'x', reason: 3, from: `${tag}-bad` }),
    JSON.stringify({ op: 'node', info: nodeInfo(`${tag}-nofrom`) }),
  ];
  for (const m of bad) await sender.broker.publishControl(m);
  // A valid exchange after them: a survey goes out and comes back through the same control channel.
  const channels = await receiver.channels();
  assert.ok(channels instanceof Map);
  // A message from a node of the previous version (no `v` field) is still understood.
  await sender.broker.publishControl(JSON.stringify({ op: 'node', info: nodeInfo(`${tag}-legacy`), from: `${tag}-legacy` }));
  await waitFor(async () => (await receiver.info()).nodes.some((n) => n.uid === `${tag}-legacy`), 5000, 'the version-0 node announcement');
  const uids = (await receiver.info()).nodes.map((n) => n.uid);
  assert.ok(!uids.includes(`${tag}-future`), 'a future-version message is not applied');
  assert.ok(!uids.includes(`${tag}-bad`), 'a malformed message is not applied');
  assert.ok(!uids.includes(`${tag}-nofrom`), 'a message without a sender is not applied');
  assert.equal(receiver.controlDropped - before, bad.length, 'every bad message was dropped');
  assert.equal(log.dropped() - warnedBefore, bad.length, 'and logged');
  assert.ok(
    log.warnings.some((w) => /version 99/.test(String((w.obj as { reason?: unknown }).reason))),
    'the future version is named in the log',
  );
}
