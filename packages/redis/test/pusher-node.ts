// One Pusher node for the crash tests: the Pusher mount (with its app backend's auth endpoints) on
// Redis, with watchlist events and (unless PN_URL is '') the app's Pusher webhook, in its own
// process so that a test can SIGKILL it. Prints {"port":N} when ready.
import { APP, startPusher } from '../../server/test/pusher-helpers.js';
import { createRedisEngine } from '../src/index.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is required`);
  return v;
};

const srv = await startPusher(
  {
    ...createRedisEngine({ addresses: [env('PN_REDIS')], prefix: env('PN_PREFIX'), presenceTtlMs: 1500 }),
    name: env('PN_NAME'),
    cluster: { nodeTtlMs: Number(env('PN_NODE_TTL_MS')) },
  },
  {
    ...APP,
    enableWatchlistEvents: true,
    webhookLeaveDelayMs: Number(env('PN_LEAVE_DELAY_MS')),
    // PN_URL '': no webhooks
    webhooks: env('PN_URL') === '' ? [] : [{ url: env('PN_URL'), lingerMs: 5, retry: { baseMs: 50, maxMs: 300, maxAttempts: 10_000 } }],
  },
);
await srv.sb.start();
process.stdout.write(`${JSON.stringify({ port: srv.port })}\n`);
process.on('SIGTERM', () => {
  void srv.mount
    .close(500)
    .then(() => srv.close())
    .then(() => process.exit(0));
});
