import { test } from 'node:test';
import { consumerConformance } from '@switchboard/server/testing';
import { connect, headers } from 'nats';
import { NatsJetStreamConsumer } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const available = await natsAvailable();
if (!available) {
  test('NATS JetStream consumer', (t) => t.skip(`no NATS with JetStream at ${NATS_URL}`));
} else {
  consumerConformance('nats_jetstream', async () => {
    const prefix = testPrefix('consumer');
    const subjects = [0, 1, 2].map((i) => `${prefix}.commands.${i}`);
    const nc = await connect({ servers: NATS_URL });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `${prefix}_commands`, subjects: [`${prefix}.commands.*`] });
    const js = nc.jetstream();
    return {
      partitions: subjects,
      async write(subject, data, method) {
        const h = headers();
        if (method !== undefined) h.set('centrifugo-method', method);
        await js.publish(subject, new TextEncoder().encode(data), { headers: h });
      },
      async consumer({ name, execute, logger }) {
        const c = new NatsJetStreamConsumer({
          name,
          execute,
          logger,
          url: NATS_URL,
          streamName: `${prefix}_commands`,
          subjects,
          durableConsumerName: 'switchboard',
          methodHeader: 'centrifugo-method',
          visibilityTimeoutMs: 1500,
        });
        await c.start();
        return c;
      },
      async close() {
        await nc.close();
        await dropPrefix(prefix);
      },
    };
  });
}
