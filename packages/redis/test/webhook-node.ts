// One node for the webhook tests: a Switchboard on Redis (or PostgreSQL, NATS) with a webhook, its API and its
// WebSocket endpoint, in its own process (so a test can SIGKILL it). Prints {"port":N} when ready.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiHandler, createSwitchboard, deadLetterJournalName, type SwitchboardOptions } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { API_KEY, SECRET } from './cluster.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is required`);
  return v;
};

/** WH_ENGINE: redis (default, WH_REDIS + WH_PREFIX), postgres (WH_PG_DSN + WH_PG_SCHEMA), nats (WH_NATS + WH_PREFIX) or sqlite (WH_SQLITE_PATH). */
async function engine(): Promise<SwitchboardOptions> {
  const kind = process.env['WH_ENGINE'] ?? 'redis';
  if (kind === 'redis') return createRedisEngine({ addresses: [env('WH_REDIS')], prefix: env('WH_PREFIX'), presenceTtlMs: 1500 });
  if (kind === 'postgres') {
    const { createPostgresEngine } = await import('@switchboard/postgres');
    const e = createPostgresEngine({ dsn: env('WH_PG_DSN'), schema: env('WH_PG_SCHEMA'), presenceTtlMs: 1500, poolSize: 4 });
    return { broker: e.broker, history: e.history, presence: e.presence, state: e.state, presenceRefreshMs: e.presenceRefreshMs };
  }
  if (kind === 'nats') {
    const { createNatsEngine } = await import('@switchboard/nats');
    const e = createNatsEngine({ servers: env('WH_NATS'), prefix: env('WH_PREFIX'), presenceTtlMs: 1500 });
    return { broker: e.broker, ...(e.history ? { history: e.history } : {}), ...(e.presence ? { presence: e.presence } : {}), ...(e.state ? { state: e.state } : {}), presenceRefreshMs: e.presenceRefreshMs };
  }
  if (kind === 'sqlite') {
    const { createSqliteEngine } = await import('@switchboard/sqlite');
    return createSqliteEngine({ path: env('WH_SQLITE_PATH') }).options;
  }
  throw new Error(`WH_ENGINE: unknown engine ${kind}`);
}

const sb = createSwitchboard({
  ...(await engine()),
  name: env('WH_NAME'),
  token: { hmacSecret: SECRET },
  namespaces: { chat: { allowSubscribeForClient: true, presence: true } },
  cluster: { nodeTtlMs: Number(env('WH_NODE_TTL_MS')) },
  userStatus: {},
});
const hook = sb.webhooks({ url: env('WH_URL'), secret: env('WH_SECRET'), namespaces: ['chat'], lingerMs: 5, retry: { baseMs: 50, maxMs: 300, maxAttempts: 10_000 } });
// WH_DEAD_URL: a second webhook, "refusing", whose events the test makes dead letters (a 400 is not retried)
const deadUrl = process.env['WH_DEAD_URL'];
const refusing = deadUrl !== undefined ? sb.webhooks({ url: deadUrl, name: 'refusing', secret: env('WH_SECRET'), namespaces: ['chat'], lingerMs: 5, retry: { baseMs: 50, maxMs: 300, maxAttempts: 10_000 } }) : undefined;
const api = createApiHandler(sb, { key: API_KEY });
const http = createServer((req, res) => {
  const json = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
  if (req.url === '/wh-stats') return json({ ...hook.stats(), durable: hook.durable, id: sb.id });
  if (req.url === '/wh-dead' && refusing) {
    // the refusing webhook's dead letters, and what this node's two journals of it hold
    const state = sb.lifecycle.state;
    void Promise.all([state.webhookJournal!('refusing', sb.id).size(), state.webhookJournal!(deadLetterJournalName('refusing'), sb.id).size()]).then(([queued, dead]) =>
      json({ stats: refusing.stats(), deadLetters: refusing.deadLetters(), journal: { queued, dead } }),
    );
    return;
  }
  if (req.url === '/wh-redeliver' && refusing) return json({ redelivered: refusing.redeliverDeadLetters() });
  void api(req, res).then((handled) => {
    if (!handled) res.writeHead(404).end();
  });
});
sb.attach(http, '/connection/websocket');
await sb.start();
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (http.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  void sb.shutdown({ timeoutMs: 500 }).then(() => process.exit(0));
});
