// The webhook queue survives its node on NATS: see durableWebhookScenario (redis/test/webhook-nodes.ts).
// The journals are subjects of the `<prefix>_webhooks` stream; the test checks they drain.
import { test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { durableWebhookScenario, WebhookNode } from '../../redis/test/webhook-nodes.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

test('NATS: a node SIGKILLed with undelivered webhook events: a survivor claims its journal and delivers every event once the receiver is up', async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS with JetStream at ${NATS_URL}`);
  const prefix = testPrefix('hookdur');
  const nc: NatsConnection = await connect({ servers: NATS_URL, timeout: 2000 });
  t.after(async () => {
    await nc.close();
    await dropPrefix(prefix);
  });
  const jsm = await nc.jetstreamManager();
  await durableWebhookScenario(t, {
    node: (name, url, env) => new WebhookNode(name, prefix, url, { ...env, WH_ENGINE: 'nats', WH_NATS: NATS_URL }),
    journalEntries: async () => (await jsm.streams.info(`${prefix}_webhooks`)).state.messages,
  });
});
