// Cluster state and the webhook journal on PostgreSQL, two node processes: occupied/vacated once per
// transition across the nodes, a SIGKILLed node's clients reaped by the survivor, and its
// undelivered webhook events (the receiver down) claimed and delivered by the survivor once the
// receiver is up. The scenario is the Redis one (durableWebhookScenario); the journal is the
// state_webhooks table, checked to drain.
import { test } from 'node:test';
import postgres from 'postgres';
import { durableWebhookScenario, WebhookNode } from '../../redis/test/webhook-nodes.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

test('PostgreSQL: occupied/vacated once across two nodes; a node SIGKILLed with undelivered webhook events: the survivor reaps its clients and delivers its events', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('hookdur');
  const sql = postgres(PG_DSN, { max: 1, onnotice: () => {} });
  t.after(async () => {
    await sql.end({ timeout: 1 });
    await dropSchema(schema);
  });
  await durableWebhookScenario(t, {
    node: (name, url, env) => new WebhookNode(name, 'unused', url, { ...env, WH_ENGINE: 'postgres', WH_PG_DSN: PG_DSN, WH_PG_SCHEMA: schema }),
    journalEntries: async () => (await sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "${schema}".state_webhooks`))[0]!.n,
  });
});
