/**
 * The standalone server's `engine.nats` section and the `nats_jetstream` part of a `consumers`
 * entry (Centrifugo v6 names where Centrifugo has them), defined once here: types, defaults,
 * durations, `SWITCHBOARD_ENGINE_NATS_*` variables and messages derive from them. Imports neither
 * the client nor the engine: the server checks a configuration without loading them.
 */
import { choice, ConfigError, duration, engineSection, flag, section, strings, text, type z } from '@switchboard/config';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

function checkUrl(url: string, report: (message: string) => void): void {
  const list = url.split(',').map((s) => s.trim());
  if (list.length === 0 || list.some((s) => !/^(nats|tls|ws|wss):\/\/[^\s/]+\/?$/.test(s) && !/^[\w.-]+:\d+$/.test(s))) {
    report(`bad NATS URL "${url}": expected nats://host:port (or a comma-separated list of them)`);
  }
}

/**
 * `engine.nats`: Centrifugo's NATS broker keys (`url`, `prefix`, `dial_timeout`, `write_timeout`)
 * and where history and presence live: `history` "jetstream" (a stream per prefix) or "none"
 * (then no namespace may keep history), `presence` "jetstream" (a key-value bucket) or "redis"
 * (with `engine.redis.address`), and `presence_ttl`.
 */
export const natsConfigSection = engineSection({
  type: 'nats',
  schema: section({
    url: text().default(DEFAULT_NATS_URL),
    prefix: text({ nonEmpty: true }).default('switchboard'),
    dial_timeout: duration({ min: 1 }).prefault('1s'),
    write_timeout: duration({ min: 1 }).prefault('1s'),
    history: choice(['jetstream', 'none'], 'jetstream').default('jetstream'),
    presence: choice(['jetstream', 'redis'], 'jetstream').default('jetstream'),
    presence_ttl: duration({ min: 1000 }).prefault('60s'),
  }),
  whenSelected(s, report) {
    checkUrl(s.url, (m) => report('url', m));
    if (!/^[A-Za-z0-9_-]+$/.test(s.prefix)) report('prefix', `"${s.prefix}": letters, digits, "_" and "-" only (it names JetStream streams and buckets)`);
  },
});

/** The validated `engine.nats` section: durations in milliseconds, defaults filled in. */
export type NatsEngineSection = z.output<typeof natsConfigSection.schema>;

/** `consumers[i].nats_jetstream`: Centrifugo v6's options, plus `visibility_timeout` (the durable consumer's ack wait). */
export const natsJetStreamConsumerSection = section({
  url: text().default(DEFAULT_NATS_URL),
  credentials_file: text().default(''),
  username: text().default(''),
  password: text().default(''),
  token: text().default(''),
  stream_name: text().default(''),
  subjects: strings('["commands.0", "commands.1"]').default([]),
  durable_consumer_name: text().default(''),
  method_header: text().default(''),
  visibility_timeout: duration({ min: 100 }).prefault('30s'),
  publication_data_mode: section({ enabled: flag().default(false) }),
});

export type NatsJetStreamConsumerSection = z.output<typeof natsJetStreamConsumerSection>;

/** The checks of a `nats_jetstream` consumer entry (`consumers[0].nats_jetstream.stream_name: ...`). */
export function checkNatsJetStreamConsumer(c: NatsJetStreamConsumerSection, report: (key: string, message: string) => void): void {
  checkUrl(c.url, (m) => report('url', m));
  if (c.stream_name === '') report('stream_name', 'required for a consumer of type "nats_jetstream": the JetStream stream holding the commands');
  if (c.durable_consumer_name === '') report('durable_consumer_name', 'required for a consumer of type "nats_jetstream": the durable consumer every node shares');
  if (c.credentials_file !== '') report('credentials_file', 'not supported by Switchboard yet: use username/password or token');
  if (c.publication_data_mode.enabled) report('publication_data_mode.enabled', 'not supported by Switchboard yet: messages must be API commands');
}

/** A bad value in the `engine.nats` section: `key` is its dotted path. */
export class NatsConfigError extends ConfigError {
  readonly key: string;
  constructor(key: string, message: string) {
    super([{ key, message }]);
    this.key = key;
    this.name = 'NatsConfigError';
  }
}
