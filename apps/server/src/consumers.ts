/**
 * Centrifugo v6's `consumers`: API commands read from outside and run through the server API.
 * Each entry has a `name`, `enabled` (only enabled ones run, as in Centrifugo), a `type` and the
 * options of that type. Supported here: `postgresql` (an outbox table, @switchboard/postgres).
 */
import { checkPostgresConsumer, postgresConsumerSection } from '@switchboard/postgres/config';
import { runApiCommand, type Switchboard } from '@switchboard/server';
import { flag, text, z } from '@switchboard/config';
import type { Logger } from 'pino';

export const CONSUMER_TYPES = ['postgresql'] as const;

export const consumersSchema = z
  .array(
    z.strictObject({
      name: text().default(''),
      enabled: flag().default(false),
      type: text().default(''),
      postgresql: postgresConsumerSection,
    }),
  )
  .default([]);

export type ConsumersSection = z.output<typeof consumersSchema>;

/** The checks across a consumer entry's keys, in the file's words (`consumers[0].postgresql.dsn: ...`). */
export function checkConsumers(consumers: ConsumersSection, report: (key: string, message: string) => void): void {
  const names = new Set<string>();
  consumers.forEach((c, i) => {
    const key = `consumers[${i}]`;
    if (!/^[-a-zA-Z0-9_.]+$/.test(c.name)) report(`${key}.name`, 'required: letters, digits, - _ . (it names the consumer in logs and its partition locks)');
    else if (names.has(c.name)) report(`${key}.name`, `"${c.name}" is used by another consumer`);
    names.add(c.name);
    if (!(CONSUMER_TYPES as readonly string[]).includes(c.type)) {
      report(`${key}.type`, `unknown consumer type "${c.type}": use ${CONSUMER_TYPES.map((t) => `"${t}"`).join(', ')}`);
      return;
    }
    if (c.enabled && c.type === 'postgresql') checkPostgresConsumer(c.postgresql, (k, m) => report(`${key}.postgresql.${k}`, m));
  });
}

/** Starts every enabled consumer; returns what stops them. A consumer that cannot start fails the start, with its name. */
export async function startConsumers(consumers: ConsumersSection, sb: Switchboard, log: Logger): Promise<{ close: () => Promise<void> }> {
  const running: { close(): Promise<void> }[] = [];
  const closeAll = async () => void (await Promise.all(running.map((c) => c.close())));
  try {
    for (const c of consumers) {
      if (!c.enabled) {
        log.info({ consumer: c.name }, 'consumer not enabled: skipped');
        continue;
      }
      if (c.type === 'postgresql') {
        const { createOutboxConsumer } = await import('@switchboard/postgres');
        const p = c.postgresql;
        const consumer = createOutboxConsumer({
          name: c.name,
          dsn: p.dsn,
          table: p.outbox_table_name,
          numPartitions: p.num_partitions,
          selectLimit: p.partition_select_limit,
          pollIntervalMs: p.partition_poll_interval,
          ...(p.partition_notification_channel !== '' ? { notificationChannel: p.partition_notification_channel } : {}),
          execute: (method, payload) => runApiCommand(sb, method, payload),
          retryable: (err) => !(typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true),
          onError: (err, ctx) => log.error({ err, consumer: c.name, ...ctx }, 'consumer: command failed'),
        });
        await consumer.start();
        running.push(consumer);
        log.info({ consumer: c.name, type: c.type, table: p.outbox_table_name, partitions: p.num_partitions }, 'consumer started');
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}
