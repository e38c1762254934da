// A Phoenix Channels chat with Presence, served by Switchboard to the official `phoenix` client in
// the browser: rooms `room:<name>`, messages to everyone, and a "who is online" list keyed by user
// with one entry per device (tab), each with its status. The page's client is bundled from npm at
// startup (esbuild), so the example runs with one command:
//   npx tsx examples/phoenix-chat/server.ts        (PORT=4000, SECRET=change-me)
// then open http://127.0.0.1:4000/?name=alice&device=laptop in one tab and ?name=bob&device=phone in another.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { signConnectionToken } from '@switchboard/client/server';
import { createSwitchboard, phoenixLongPoll, ReplyError, type ConnectingContext } from '@switchboard/server';

const SECRET = process.env.SECRET ?? 'change-me';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

const sb = createSwitchboard({ token: { hmacSecret: SECRET } });

// Each connection says which device it is (a socket param): that becomes its `info`, shown in presence.
function connecting(ctx: ConnectingContext): void {
  if (!ctx.claims) return ctx.decline(401, ctx.tokenError ? `token ${ctx.tokenError}` : 'token required');
  const device = (ctx.request.query.get('device') ?? 'unknown').slice(0, 32);
  ctx.accept({ info: { device } });
}

// Rooms. The join handler tracks the member with its status; the device comes from the
// connection (its `info`, set below), so each tab of a user is one meta under the user's key.
// History lets a reconnecting page get what it missed (the two `recover` lines in client.ts).
sb.route('room::room', {
  options: { presence: true, historySize: 100, historyTtlMs: 10 * 60_000, allowRecovery: true },
  join(ctx) {
    if (!/^[a-z0-9-]{1,32}$/.test(ctx.params.room!)) return ctx.decline(400, 'room names are a-z, 0-9 and -');
    ctx.track({ status: 'online' });
    ctx.accept();
  },
})
  .on('message', async (ctx) => {
    const text = (ctx.payload as { text?: unknown }).text;
    if (typeof text !== 'string' || text.trim() === '' || text.length > 2000) throw new ReplyError(4001, 'text must be 1..2000 characters');
    await ctx.broadcast('message', { from: ctx.client.user, text, at: Date.now() });
  })
  .on('status', async (ctx) => {
    const status = (ctx.payload as { status?: unknown }).status;
    if (status !== 'online' && status !== 'away' && status !== 'busy') throw new ReplyError(4002, 'status is online, away or busy');
    // Phoenix clients see this as one presence_diff: the old meta left, the new one joined.
    await ctx.updatePresence({ status });
  });

// The page's script: the official client from npm plus client.ts, bundled once at startup.
const bundle = await build({ entryPoints: [here('./client.ts')], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error' });
const appJs = bundle.outputFiles[0]!.text;
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Phoenix chat on Switchboard</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 2rem; display: grid; grid-template-columns: 1fr 16rem; gap: 1.5rem; max-width: 60rem; }
  #messages { list-style: none; padding: 0; min-height: 12rem; border: 1px solid #ccc; border-radius: 6px; padding: .5rem; }
  #who { list-style: none; padding: 0; } #who li { margin: .3rem 0; } .devices { color: #555; font-size: 90%; }
  form { display: flex; gap: .5rem; } #text { flex: 1; }
</style></head>
<body>
  <main>
    <h1>Room <span id="room"></span> <small id="state">connecting</small> <small id="transport"></small></h1>
    <ul id="messages"></ul>
    <form id="send"><input id="text" autocomplete="off" placeholder="Say something" disabled><button disabled>Send</button></form>
    <p>Status: <select id="status" disabled><option>online</option><option>away</option><option>busy</option></select> <span id="error"></span></p>
  </main>
  <aside><h2>Online</h2><ul id="who"></ul></aside>
  <script type="module" src="/app.js"></script>
</body></html>`;

// LongPoll beside the WebSocket endpoint: the page falls back to it where WebSockets are blocked.
const longPoll = phoenixLongPoll(sb, { path: '/socket/longpoll', onConnecting: connecting });

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/socket/longpoll') return void longPoll(req, res);
  if (url.pathname === '/token') {
    // Demo only: anyone may be anyone. A real app signs the token for its logged-in user.
    const name = url.searchParams.get('name') ?? '';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('name: 1..32 of A-Z a-z 0-9 _ -');
      return;
    }
    void signConnectionToken({ sub: name, expiresIn: '1h' }, SECRET).then((t) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: t })));
    return;
  }
  if (url.pathname === '/app.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(appJs);
  if (url.pathname === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  res.writeHead(404).end();
});

// The Phoenix endpoint: the client is created with `new Socket('/socket')` and appends /websocket.
sb.attach(server, { path: '/socket/websocket', protocol: 'phoenix', onConnecting: connecting });
sb.on('connect', (c) => console.log(`connect ${c.user} (${c.protocol})`));
sb.on('disconnect', (c, { code }) => console.log(`disconnect ${c.user} code=${code}`));

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening on ${typeof addr === 'object' && addr ? addr.port : addr}`);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void sb.shutdown({ timeoutMs: 5000 }).then(() => server.close(() => process.exit(0)));
  });
}
