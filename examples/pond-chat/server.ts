// A PondSocket-style chat served to the official PondSocket client (@eleven-am/pondsocket-client):
// token auth at the connection, rooms by path (/chat/:roomId), presence, typing indicators sent to
// everyone but the typist, messages to everyone, and direct messages to chosen users.
// Run: npx tsx examples/pond-chat/server.ts   (PORT=3000, SECRET=change-me)
// Client: new PondClient('ws://127.0.0.1:3000/api/socket', { token: <HS256 JWT with sub> })
import { createServer } from 'node:http';
import { createSwitchboard, ReplyError } from '@switchboard/server';

const sb = createSwitchboard({ token: { hmacSecret: process.env.SECRET ?? 'change-me' } });

// Rooms by path. The join handler decides: a banned room is declined with a status and message
// (the client's channel goes DECLINED); otherwise the member is tracked in presence under its
// nickname and greeted (the greeting arrives after the join is acknowledged).
sb.route('/chat/:roomId', {
  join(ctx) {
    const room = ctx.params.roomId!;
    if (room.startsWith('staff-') && ctx.client.assigns['role'] !== 'staff') return ctx.decline(403, 'staff only');
    const given = (ctx.data as { nickname?: unknown }).nickname;
    const nickname = typeof given === 'string' || typeof given === 'number' ? String(given) : ctx.client.user;
    ctx.assign('nickname', nickname);
    ctx.track({ nickname, typing: false });
    ctx.accept();
    ctx.reply('welcome', { room, nickname });
  },
})
  .on('message', async (ctx) => {
    const text = (ctx.payload as { text?: unknown }).text;
    if (typeof text !== 'string' || text.length === 0 || text.length > 2000) throw new ReplyError(4001, 'text must be 1..2000 characters');
    await ctx.broadcast('message', { from: ctx.client.assigns['nickname'], text, at: Date.now() });
  })
  .on('typing', async (ctx) => {
    const typing = (ctx.payload as { typing?: unknown }).typing === true;
    // Everyone but the typist sees the indicator; presence carries it too for late joiners.
    await ctx.broadcastFrom('typing', { from: ctx.client.assigns['nickname'], typing });
    await ctx.updatePresence({ nickname: ctx.client.assigns['nickname'], typing });
    ctx.reply('typing-ok', {});
  })
  .on('dm', async (ctx) => {
    const { to, text } = ctx.payload as { to?: unknown; text?: unknown };
    if (!Array.isArray(to) || typeof text !== 'string') throw new ReplyError(4002, 'dm needs to: string[] and text');
    await ctx.broadcastTo(to.map(String), 'dm', { from: ctx.client.assigns['nickname'], text });
    ctx.reply('dm-sent', { to });
  });

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('PondSocket chat at ws://<host>/api/socket\n');
});

// The connection handler reads the token from the query (the client puts its params there).
sb.attach(server, {
  path: '/api/socket',
  protocol: 'pond',
  onConnecting(ctx) {
    if (!ctx.claims) return ctx.decline(401, ctx.tokenError ? `token ${ctx.tokenError}` : 'token required');
    // `info` (shown to others in presence) arrives as JSON text.
    const info = ctx.claims.info === undefined ? {} : (JSON.parse(ctx.claims.info) as { role?: string });
    ctx.accept({ assigns: { role: info.role ?? 'member' } });
  },
});
sb.on('connect', (c) => console.log(`connect ${c.user} (${c.protocol})`));
sb.on('disconnect', (c, { code }) => console.log(`disconnect ${c.user} code=${code}`));

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening on ${typeof addr === 'object' && addr ? addr.port : addr}`);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void sb.shutdown({ timeoutMs: 5000 }).then(() => server.close(() => process.exit(0)));
  });
}
