/**
 * The standalone server's `engine.postgres` section and the `postgresql` part of a `consumers`
 * entry (Centrifugo v6 names), defined once here: types, defaults, durations,
 * `SWITCHBOARD_ENGINE_POSTGRES_*` variables and messages derive from them. Imports neither the
 * driver nor the engine: the server checks a configuration without loading them.
 */
import { ConfigError, duration, engineSection, integer, section, text, type z } from '@switchboard/config';

export const postgresConfigSection = engineSection({
  type: 'postgres',
  schema: section({
    dsn: text().optional(),
    schema: text({ nonEmpty: true }).default('switchboard'),
    pool_size: integer({ max: 1000, example: 10 }).default(10),
    presence_ttl: duration({ min: 1000 }).prefault('60s'),
  }),
  whenSelected(s, report) {
    if (s.dsn === undefined || s.dsn === '') report('dsn', 'required with engine.type "postgres": e.g. "postgres://user:password@127.0.0.1:5432/db" (or SWITCHBOARD_ENGINE_POSTGRES_DSN)');
    else if (!/^postgres(ql)?:\/\//.test(s.dsn)) report('dsn', `expected a postgres:// or postgresql:// URL, got "${s.dsn.slice(0, 40)}"`);
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(s.schema)) report('schema', `"${s.schema}" is not a valid schema name (lower-case letters, digits and _, at most 63, not starting with a digit)`);
    if (s.pool_size < 1) report('pool_size', 'at least 1');
  },
});

/** The validated `engine.postgres` section: `presence_ttl` in milliseconds, defaults filled in. */
export type PostgresEngineSection = z.output<typeof postgresConfigSection.schema>;

/** `consumers[i].postgresql`: Centrifugo v6's outbox consumer options. */
export const postgresConsumerSection = section({
  dsn: text().default(''),
  outbox_table_name: text().default(''),
  num_partitions: integer({ max: 1024, example: 1 }).default(1),
  partition_select_limit: integer({ max: 100_000, example: 100 }).default(100),
  partition_poll_interval: duration({ min: 1 }).prefault('300ms'),
  partition_notification_channel: text().default(''),
});

export type PostgresConsumerSection = z.output<typeof postgresConsumerSection>;

/** The checks of a `postgresql` consumer entry, in the file's words (`consumers[0].postgresql.dsn: ...`). */
export function checkPostgresConsumer(c: PostgresConsumerSection, report: (key: string, message: string) => void): void {
  if (c.dsn === '') report('dsn', 'required for a consumer of type "postgresql": e.g. "postgres://user:password@127.0.0.1:5432/db"');
  else if (!/^postgres(ql)?:\/\//.test(c.dsn)) report('dsn', 'expected a postgres:// or postgresql:// URL');
  if (c.outbox_table_name === '') report('outbox_table_name', 'required for a consumer of type "postgresql": e.g. "centrifugo_outbox"');
  if (c.num_partitions < 1) report('num_partitions', 'at least 1');
  if (c.partition_select_limit < 1) report('partition_select_limit', 'at least 1');
}

/** A bad value in the `engine.postgres` section: `key` is its dotted path. */
export class PostgresConfigError extends ConfigError {
  readonly key: string;
  constructor(key: string, message: string) {
    super([{ key, message }]);
    this.key = key;
    this.name = 'PostgresConfigError';
  }
}
