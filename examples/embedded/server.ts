// Switchboard embedded in a plain Node http server: the library example from the README.
// Run: npx tsx examples/embedded/server.ts   (PORT=3000 by default)
import { createServer } from 'node:http';
import { createSwitchboard, ReplyError } from '@switchboard/server';

const sb = createSwitchboard({
  token: { hmacSecret: process.env.SECRET ?? 'change-me' },
  allowAnonymous: true,
  namespaces: {
    // chat:<room>: anyone may subscribe and publish; presence, join/leave, 100 messages of history
    chat: {
      allowSubscribeForClient: true,
      allowSubscribeForAnonymous: true,
      allowPublishForSubscriber: true,
      presence: true,
      joinLeave: true,
      allowPresenceForSubscriber: true,
      historySize: 100,
      historyTtlMs: 10 * 60_000,
      forceRecovery: true,
    },
  },
});

sb.rpc('time', async () => ({ now: new Date().toISOString() }));
sb.rpc('shout', async (ctx) => {
  const text = (ctx.data as { text?: unknown } | undefined)?.text;
  if (typeof text !== 'string') throw new ReplyError(4000, 'text must be a string');
  await sb.publish('chat:lobby', { text: text.toUpperCase(), from: ctx.client.user || 'anonymous' });
  return { ok: true };
});
sb.on('connect', (client) => console.log(`connect ${client.id} user=${client.user || '(anonymous)'}`));
sb.on('disconnect', (client, { code }) => console.log(`disconnect ${client.id} code=${code}`));

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('Switchboard is at ws://<host>/connection/websocket\n');
});
sb.attach(server, { path: '/connection/websocket' });

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening on ${typeof addr === 'object' && addr ? addr.port : addr}`);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void sb.shutdown({ timeoutMs: 5000 }).then(() => server.close(() => process.exit(0))); // clients are told to reconnect (3001 shutdown)
  });
}
