/**
 * Centrifugo v6's `consumers`: API commands read from outside and run through the server API.
 * Each entry has a `name`, `enabled` (only enabled ones run, as in Centrifugo), a `type` and the
 * options of that type. Supported here: `postgresql` (an outbox table, @switchboard/postgres),
 * `redis_stream` (Redis Streams, @switchboard/redis) and `nats_jetstream` (a JetStream stream,
 * @switchboard/nats).
 */
import { checkNatsJetStreamConsumer, natsJetStreamConsumerSection } from '@switchboard/nats/config';
import { checkPostgresConsumer, postgresConsumerSection } from '@switchboard/postgres/config';
import { checkRedisStreamConsumer, redisStreamConsumerSection } from '@switchboard/redis/config';
import { type Consumer, runApiCommand, type Switchboard } from '@switchboard/server';
import { flag, text, z } from '@switchboard/config';
import type { Logger } from 'pino';

export const CONSUMER_TYPES = ['postgresql', 'redis_stream', 'nats_jetstream'] as const;

export const consumersSchema = z
  .array(
    z.strictObject({
      name: text().default(''),
      enabled: flag().default(false),
      type: text().default(''),
      postgresql: postgresConsumerSection,
      redis_stream: redisStreamConsumerSection,
      nats_jetstream: natsJetStreamConsumerSection,
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
    if (c.enabled && c.type === 'redis_stream') checkRedisStreamConsumer(c.redis_stream, (k, m) => report(`${key}.redis_stream.${k}`, m));
    if (c.enabled && c.type === 'nats_jetstream') checkNatsJetStreamConsumer(c.nats_jetstream, (k, m) => report(`${key}.nats_jetstream.${k}`, m));
  });
}

/** Counts a command a consumer applied on this node (the `switchboard_consumer_commands_total` metric). */
export type OnConsumerApplied = (consumer: string, method: string) => void;

/** Runs a consumed command through the server API; `applied` is told once it succeeded. */
function executor(sb: Switchboard, consumer: string, applied?: OnConsumerApplied) {
  return async (method: string, payload: unknown): Promise<unknown> => {
    const result = await runApiCommand(sb, method, payload);
    applied?.(consumer, method);
    return result;
  };
}

/**
 * Starts every enabled consumer; returns what stops them. A consumer that cannot start fails the
 * start, with its name. `applied`: told of each command a consumer applied on this node.
 */
export async function startConsumers(consumers: ConsumersSection, sb: Switchboard, log: Logger, applied?: OnConsumerApplied): Promise<{ close: () => Promise<void> }> {
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
          execute: executor(sb, c.name, applied),
          retryable: (err) => !(typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true),
          onError: (err, ctx) => log.error({ err, consumer: c.name, ...ctx }, 'consumer: command failed'),
        });
        await consumer.start();
        running.push(consumer);
        log.info({ consumer: c.name, type: c.type, table: p.outbox_table_name, partitions: p.num_partitions }, 'consumer started');
      } else if (c.type === 'redis_stream' || c.type === 'nats_jetstream') {
        const consumer = await queueConsumer(c, sb, log, applied);
        await consumer.start();
        running.push(consumer);
        log.info({ consumer: c.name, type: c.type }, 'consumer started');
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}

/** A `redis_stream` or `nats_jetstream` consumer entry as a Consumer (its package loaded only when configured). */
async function queueConsumer(c: ConsumersSection[number], sb: Switchboard, log: Logger, applied?: OnConsumerApplied): Promise<Consumer> {
  const common = {
    name: c.name,
    execute: executor(sb, c.name, applied),
    logger: {
      info: (message: string, fields?: Record<string, unknown>) => log.info({ consumer: c.name, ...fields }, message),
      warn: (message: string, fields?: Record<string, unknown>) => log.warn({ consumer: c.name, ...fields }, message),
      error: (message: string, fields?: Record<string, unknown>) => log.error({ consumer: c.name, ...fields }, message),
    },
  };
  if (c.type === 'redis_stream') {
    const { RedisStreamConsumer } = await import('@switchboard/redis');
    const r = c.redis_stream;
    return new RedisStreamConsumer({
      ...common,
      address: Array.isArray(r.address) ? r.address[0]! : r.address,
      streams: r.streams,
      consumerGroup: r.consumer_group,
      visibilityTimeoutMs: r.visibility_timeout,
      payloadValue: r.payload_value,
      methodValue: r.method_value,
    });
  }
  const { NatsJetStreamConsumer } = await import('@switchboard/nats');
  const n = c.nats_jetstream;
  return new NatsJetStreamConsumer({
    ...common,
    url: n.url,
    ...(n.username !== '' ? { username: n.username, password: n.password } : {}),
    ...(n.token !== '' ? { token: n.token } : {}),
    streamName: n.stream_name,
    subjects: n.subjects,
    durableConsumerName: n.durable_consumer_name,
    methodHeader: n.method_header,
    visibilityTimeoutMs: n.visibility_timeout,
  });
}
