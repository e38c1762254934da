// A Switchboard node on PostgreSQL consuming an outbox, in a child process so that a test can SIGKILL
// it in the middle of a row: it prints {"ran":seq} after each applied row, and on OX_HANG_SEQ prints
// {"hung":seq} and stops there (applied, not committed), holding the partition until it is killed.
import { createSwitchboard } from '@switchboard/server';
import { createOutboxConsumer, createPostgresEngine } from '../src/index.js';

const dsn = process.env['OX_DSN']!;
const schema = process.env['OX_SCHEMA']!;
const table = process.env['OX_TABLE']!;
const hangSeq = Number(process.env['OX_HANG_SEQ'] ?? -1);
const e = createPostgresEngine({ dsn, schema, poolSize: 2 });
const sb = createSwitchboard({ broker: e.broker, history: e.history, presence: e.presence, name: 'child', namespaces: { chat: { historySize: 100, historyTtlMs: 60_000 } } });
const consumer = createOutboxConsumer({
  name: 'crash-test',
  dsn,
  table,
  pollIntervalMs: 100,
  execute: async (_method, payload) => {
    const p = payload as { channel: string; data: { seq: number }; idempotency_key: string };
    await sb.publish(p.channel, p.data, { idempotencyKey: p.idempotency_key });
    process.stdout.write(`${JSON.stringify({ ran: p.data.seq })}\n`);
    if (p.data.seq === hangSeq) {
      process.stdout.write(`${JSON.stringify({ hung: p.data.seq })}\n`);
      await new Promise(() => {});
    }
  },
});
await consumer.start();
process.stdout.write('{"started":true}\n');
setInterval(() => {}, 60_000);
