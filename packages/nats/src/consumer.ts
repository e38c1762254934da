import { applyConsumed, type Consumer, type ConsumerOptions } from '@switchboard/server';
import { AckPolicy, type ConnectionOptions, connect, type Consumer as JsConsumer, DeliverPolicy, type JsMsg, type NatsConnection } from 'nats';
import { NatsEngineError, serverList, token } from './link.js';

export interface NatsJetStreamConsumerOptions extends ConsumerOptions {
  /** NATS server URL (default `nats://127.0.0.1:4222`). */
  readonly url?: string;
  /** Authentication: user and password, or a token. */
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
  /** The JetStream stream holding the commands (created by you beforehand). */
  readonly streamName: string;
  /** Subjects to consume, each a partition applied in its own order; none: the whole stream is one partition. */
  readonly subjects?: readonly string[];
  /** The durable consumer every node shares (one per subject, suffixed with the subject, when there are several). */
  readonly durableConsumerName: string;
  /** Header holding the method; without it the data is `{"method", "payload"}`. */
  readonly methodHeader?: string;
  /** How long a command may stay unacknowledged before another node gets it (the consumer's ack wait; default 30 s). */
  readonly visibilityTimeoutMs?: number;
  /** Extra options for the `nats` client. */
  readonly natsOptions?: Partial<ConnectionOptions>;
}

/**
 * Centrifugo's `nats_jetstream` consumer: API commands read from a JetStream stream through a
 * durable pull consumer shared by every node, each acknowledged only after it was applied. The
 * durable consumer allows one unacknowledged message at a time (`max_ack_pending: 1`), so a
 * partition's commands are applied one after another in stream order whichever node gets them;
 * a node that dies leaves its command to be redelivered to another after the ack wait. A command
 * that fails (a backend down) is retried in place (telling the server it is still being worked on);
 * a malformed one is logged and acknowledged. A node that dies after applying a command and before
 * its acknowledgement reached the server leaves that one command to be applied again.
 */
export class NatsJetStreamConsumer implements Consumer {
  readonly name: string;
  readonly #o: NatsJetStreamConsumerOptions;
  readonly #vt: number;
  #nc: NatsConnection | undefined;
  #loops: Promise<void>[] = [];
  #stopped = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  applied = 0;
  skipped = 0;

  constructor(options: NatsJetStreamConsumerOptions) {
    if (!options.streamName) throw new NatsEngineError(`consumer ${options.name}: stream_name is required`);
    if (!options.durableConsumerName) throw new NatsEngineError(`consumer ${options.name}: durable_consumer_name is required`);
    this.name = options.name;
    this.#o = options;
    this.#vt = options.visibilityTimeoutMs ?? 30_000;
  }

  /** The durable consumers: one per subject (or one for the whole stream). */
  #partitions(): { durable: string; filter?: string }[] {
    const subjects = this.#o.subjects ?? [];
    if (subjects.length === 0) return [{ durable: this.#o.durableConsumerName }];
    if (subjects.length === 1) return [{ durable: this.#o.durableConsumerName, filter: subjects[0]! }];
    return subjects.map((s) => ({ durable: `${this.#o.durableConsumerName}_${token(s)}`, filter: s }));
  }

  async start(): Promise<void> {
    const url = this.#o.url ?? 'nats://127.0.0.1:4222';
    try {
      this.#nc = await connect({
        servers: serverList(url),
        name: `switchboard-consumer-${this.name}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...(this.#o.username !== undefined ? { user: this.#o.username, pass: this.#o.password ?? '' } : {}),
        ...(this.#o.token !== undefined ? { token: this.#o.token } : {}),
        ...this.#o.natsOptions,
      });
    } catch (err) {
      throw new NatsEngineError(`consumer ${this.name}: cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err });
    }
    const jsm = await this.#nc.jetstreamManager();
    try {
      await jsm.streams.info(this.#o.streamName);
    } catch (err) {
      await this.#nc.close();
      throw new NatsEngineError(`consumer ${this.name}: JetStream stream "${this.#o.streamName}" not found (${(err as Error).message}): create it first`);
    }
    const js = this.#nc.jetstream();
    const consumers: JsConsumer[] = [];
    for (const p of this.#partitions()) {
      const config = {
        durable_name: p.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1, // one command in flight per partition across all nodes: stream order
        ack_wait: this.#vt * 1_000_000,
        ...(p.filter !== undefined ? { filter_subject: p.filter } : {}),
      };
      try {
        await jsm.consumers.add(this.#o.streamName, config);
      } catch {
        await jsm.consumers.update(this.#o.streamName, p.durable, { max_ack_pending: 1, ack_wait: config.ack_wait });
      }
      consumers.push(await js.consumers.get(this.#o.streamName, p.durable));
    }
    this.#loops = consumers.map((c) => this.#run(c));
  }

  async #run(c: JsConsumer): Promise<void> {
    let backoff = 50;
    while (!this.#stopped) {
      let m: JsMsg | null;
      try {
        m = await c.next({ expires: 1000 });
      } catch (err) {
        if (this.#stopped) return;
        this.#o.logger?.error(`consumer ${this.name}: reading ${this.#o.streamName} failed, will retry: ${(err as Error).message}`);
        await sleep(backoff);
        backoff = Math.min(2000, backoff * 2);
        continue;
      }
      backoff = 50;
      if (m === null) continue;
      if (this.#stopped) return; // not acknowledged: redelivered to another node
      await this.#process(m);
    }
  }

  async #process(m: JsMsg): Promise<void> {
    const method = this.#o.methodHeader ? m.headers?.get(this.#o.methodHeader) : undefined;
    const where = { stream: this.#o.streamName, subject: m.subject, seq: m.seq };
    if (m.redelivered) this.#o.logger?.info?.(`consumer ${this.name}: message ${m.seq} of ${m.subject} delivered again (delivery ${m.info.redeliveryCount}): not acknowledged in time before`, where);
    const working = setInterval(() => m.working(), Math.max(100, Math.floor(this.#vt / 3)));
    this.#timers.add(working);
    let backoff = 50;
    try {
      for (;;) {
        if (this.#stopped) return;
        try {
          const outcome = await applyConsumed(this.#o, method || undefined, m.data, where, `${this.#o.streamName}:${m.seq}`);
          if (outcome === 'applied') this.applied++;
          else this.skipped++;
          break;
        } catch {
          await sleep(backoff);
          backoff = Math.min(2000, backoff * 2);
        }
      }
    } finally {
      clearInterval(working);
      this.#timers.delete(working);
    }
    for (;;) {
      try {
        await m.ackAck({ timeout: 5000 });
        return;
      } catch {
        if (this.#stopped || this.#nc?.isClosed()) return; // redelivered after the ack wait
        await sleep(200);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#loops);
    await this.#nc?.close();
  }

  /** What a crash leaves behind: the connection dropped, nothing acknowledged (for fault tests). */
  async abandon(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#nc?.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
