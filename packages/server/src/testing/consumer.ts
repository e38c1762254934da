import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runApiCommand } from '../http-api.js';
import type { Consumer, ConsumerLogger, ExecuteCommand } from '../consumer.js';
import { createSwitchboard } from '../create.js';
import type { Switchboard } from '../switchboard.js';
import { waitFor } from './util.js';

export interface ConsumerHarness {
  /** The partitions (streams, subjects) the consumers read, each applied in its own order. */
  readonly partitions: readonly string[];
  /** Appends a message: with `method`, `data` is the payload; without, `data` is `{"method", "payload"}`. */
  write(partition: string, data: string, method?: string): Promise<void>;
  /** Appends a message with no command at all (e.g. no payload field), when the queue has such a thing. */
  writeEmpty?(partition: string): Promise<void>;
  /** A consumer on the shared queue: each call is another node. `abandon` is a crash: nothing acknowledged, connections dropped. */
  consumer(options: { name: string; execute: ExecuteCommand; logger: ConsumerLogger }): Promise<Consumer & { abandon(): void | Promise<void> }>;
  close(): Promise<void>;
}

/** Records what consumers log. */
class Log implements ConsumerLogger {
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  warn(m: string): void {
    this.warnings.push(m);
  }
  error(m: string): void {
    this.errors.push(m);
  }
}

async function node(): Promise<Switchboard> {
  const sb = createSwitchboard({ namespaces: { queue: { historySize: 1000, historyTtlMs: 300_000 } } });
  await sb.start();
  return sb;
}

function publish(partition: number, n: number): string {
  return JSON.stringify({ channel: `queue:p${partition}`, data: { n } });
}

async function expectSequences(sb: Switchboard, partitions: number, per: number, what: string): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const ch = `queue:p${p}`;
    await waitFor(async () => (await sb.history(ch, { limit: -1 })).publications.length >= per, 20_000, `${per} publications in ${ch} (${what})`);
    const got = (await sb.history(ch, { limit: -1 })).publications.map((x) => (JSON.parse(x.data) as { n: number }).n);
    assert.deepEqual(got, Array.from({ length: per }, (_, i) => i + 1), `${ch}: every command once, in order (${what})`);
  }
}

/**
 * Registers node:test tests for a queue consumer (`Consumer`): commands applied exactly once and in
 * order per partition while two nodes consume, malformed messages logged and skipped, nothing lost
 * when a node dies mid-batch. Commands are executed against an in-memory node through
 * `runApiCommand`, so what was applied is read back as channel history.
 */
export function consumerConformance(name: string, factory: () => Promise<ConsumerHarness>): void {
  test(`${name} consumer: two nodes apply every command once, in order per partition; malformed ones are skipped`, async () => {
    const h = await factory();
    const sb = await node();
    const log = new Log();
    const consumers: (Consumer & { abandon(): void | Promise<void> })[] = [];
    try {
      const execute: ExecuteCommand = (m, p) => runApiCommand(sb, m, p);
      consumers.push(await h.consumer({ name: 'n1', execute, logger: log }));
      consumers.push(await h.consumer({ name: 'n2', execute, logger: log }));
      const per = 30;
      let malformed = 0;
      await Promise.all(
        h.partitions.map(async (part, p) => {
          for (let n = 1; n <= per; n++) {
            // both message shapes: a method field/header with the payload, or the whole command
            if (n % 2) await h.write(part, publish(p, n), 'publish');
            else await h.write(part, JSON.stringify({ method: 'publish', payload: JSON.parse(publish(p, n)) as unknown }));
            if (n === 5) {
              await h.write(part, '{not json', 'publish');
              await h.write(part, publish(p, 0), 'no_such_method');
              await h.write(part, JSON.stringify({ payload: {} }));
              await h.write(part, JSON.stringify({ channel: `queue:p${p}` }), 'publish'); // no data: a bad request
              malformed += 4;
              if (h.writeEmpty) {
                await h.writeEmpty(part);
                malformed++;
              }
            }
          }
        }),
      );
      await expectSequences(sb, h.partitions.length, per, 'two nodes');
      await waitFor(() => log.warnings.length >= malformed, 10_000, 'a warning per malformed message');
      assert.equal(log.warnings.length, malformed, 'each malformed message logged once (skipped, not retried)');
    } finally {
      await Promise.all(consumers.map((c) => c.close()));
      await sb.shutdown({ timeoutMs: 500 });
      await h.close();
    }
  });

  test(`${name} consumer: a node that dies after applying a command, before acknowledging it: the command is consumed again, its publication is not repeated`, async () => {
    const h = await factory();
    const sb = await node();
    const log = new Log();
    const consumers: (Consumer & { abandon(): void | Promise<void> })[] = [];
    try {
      const per = 12;
      const dieAfter = 5;
      let appliedByA = 0;
      // A applies `dieAfter` commands, then applies one more and hangs before it can be acknowledged
      const executeA: ExecuteCommand = async (m, p) => {
        if (appliedByA >= dieAfter + 1) return new Promise(() => {});
        appliedByA++;
        const r = await runApiCommand(sb, m, p);
        if (appliedByA === dieAfter + 1) return new Promise(() => {});
        return r;
      };
      const a = await h.consumer({ name: 'a', execute: executeA, logger: log });
      consumers.push(a);
      for (let n = 1; n <= per; n++) await h.write(h.partitions[0]!, publish(0, n), 'publish');
      await waitFor(() => appliedByA === dieAfter + 1, 10_000, 'node A to apply a command it will never acknowledge');
      const b = await h.consumer({ name: 'b', execute: (m, p) => runApiCommand(sb, m, p), logger: log });
      consumers.push(b);
      await a.abandon();
      const ch = 'queue:p0';
      await waitFor(async () => (await sb.history(ch, { limit: -1 })).publications.some((x) => (JSON.parse(x.data) as { n: number }).n === per), 20_000, `the last publication in ${ch}`);
      const got = (await sb.history(ch, { limit: -1 })).publications.map((x) => (JSON.parse(x.data) as { n: number }).n);
      assert.deepEqual(got, Array.from({ length: per }, (_, i) => i + 1), `${ch}: the command applied by A and consumed again by B is published once`);
    } finally {
      for (const c of consumers.slice(1)) await c.close();
      await sb.shutdown({ timeoutMs: 500 });
      await h.close();
    }
  });

  test(`${name} consumer: a node that dies mid-batch loses nothing; another applies the rest in order`, async () => {
    const h = await factory();
    const sb = await node();
    const log = new Log();
    const consumers: (Consumer & { abandon(): void | Promise<void> })[] = [];
    try {
      const per = 20;
      const dieAfter = 7;
      let appliedByA = 0;
      // A applies `dieAfter` commands, then hangs inside the next one, as a process that froze or was killed mid-command
      const executeA: ExecuteCommand = async (m, p) => {
        if (appliedByA >= dieAfter) return new Promise(() => {});
        appliedByA++;
        return runApiCommand(sb, m, p);
      };
      const a = await h.consumer({ name: 'a', execute: executeA, logger: log });
      consumers.push(a);
      for (let n = 1; n <= per; n++) for (let p = 0; p < h.partitions.length; p++) await h.write(h.partitions[p]!, publish(p, n), 'publish');
      await waitFor(() => appliedByA >= dieAfter, 10_000, 'node A to apply some commands');
      const b = await h.consumer({ name: 'b', execute: (m, p) => runApiCommand(sb, m, p), logger: log });
      consumers.push(b);
      await a.abandon();
      await expectSequences(sb, h.partitions.length, per, 'after A died');
    } finally {
      for (const c of consumers.slice(1)) await c.close();
      await sb.shutdown({ timeoutMs: 500 });
      await h.close();
    }
  });
}
