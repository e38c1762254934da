// The app backend of the Echo chat: what a Laravel app does for broadcasting, in a few lines of Node.
// - POST /broadcasting/auth signs presence channel subscriptions (Laravel's routes/channels.php),
// - POST /messages broadcasts a message to the others (Laravel's broadcast(...)->toOthers()) through
//   the Pusher HTTP API of the standalone Switchboard server, with the official `pusher` library,
// - GET / serves the page, with Laravel Echo and pusher-js as published on npm.
// Run: npm run switchboard -- serve --config examples/echo-chat/switchboard.json
//      npx tsx examples/echo-chat/app.ts   (PORT=3000, SWITCHBOARD_HOST=127.0.0.1, SWITCHBOARD_PORT=8000)
// then open http://127.0.0.1:3000/ in two browsers.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import Pusher from 'pusher';

const require = createRequire(import.meta.url);
const config = JSON.parse(readFileSync(new URL('./switchboard.json', import.meta.url), 'utf8')) as { pusher: { app_id: string; key: string; secret: string } };
const wsHost = process.env.SWITCHBOARD_HOST ?? '127.0.0.1';
const wsPort = Number(process.env.SWITCHBOARD_PORT ?? 8000);
const pusher = new Pusher({ appId: config.pusher.app_id, key: config.pusher.key, secret: config.pusher.secret, host: wsHost, port: String(wsPort), useTLS: false });

const files: Record<string, { type: string; path: string }> = {
  '/': { type: 'text/html; charset=utf-8', path: new URL('./index.html', import.meta.url).pathname },
  '/vendor/pusher.min.js': { type: 'text/javascript', path: require.resolve('pusher-js/dist/web/pusher.min.js') },
  '/vendor/echo.iife.js': { type: 'text/javascript', path: require.resolve('laravel-echo/iife') },
};

// Laravel knows the user from the session; here the page says who it is (a demo, not a login).
function userOf(req: IncomingMessage): { id: string; name: string } | undefined {
  const name = String(req.headers['x-chat-user'] ?? '').trim();
  if (!/^[\p{L}\p{N} _.-]{1,32}$/u.test(name)) return undefined;
  return { id: name.toLowerCase(), name };
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 16_384) throw new Error('body too large');
  }
  return text;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

const ROOM = /^presence-chat\.[a-z0-9-]{1,32}$/;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const file = files[path];
  if (req.method === 'GET' && file) {
    res.writeHead(200, { 'content-type': file.type }).end(readFileSync(file.path));
    return;
  }
  if (req.method === 'GET' && path === '/config.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(`window.CHAT = ${JSON.stringify({ key: config.pusher.key, wsHost, wsPort })};`);
    return;
  }
  if (req.method === 'POST' && path === '/broadcasting/auth') {
    // Echo posts socket_id and channel_name as a form, like pusher-js does.
    const form = new URLSearchParams(await body(req));
    const user = userOf(req);
    const channel = form.get('channel_name') ?? '';
    if (!user) return send(res, 403, { message: 'who are you?' });
    if (!ROOM.test(channel)) return send(res, 403, { message: 'no such room' });
    return send(res, 200, pusher.authorizeChannel(form.get('socket_id') ?? '', channel, { user_id: user.id, user_info: { name: user.name } }));
  }
  if (req.method === 'POST' && path === '/messages') {
    const user = userOf(req);
    if (!user) return send(res, 403, { message: 'who are you?' });
    const { room, text } = JSON.parse(await body(req)) as { room?: unknown; text?: unknown };
    if (typeof room !== 'string' || !ROOM.test(`presence-chat.${room}`) || typeof text !== 'string' || text.length === 0 || text.length > 2000) {
      return send(res, 422, { message: 'room and text (1 to 2000 characters) are required' });
    }
    const message = { user: user.name, text, at: Date.now() };
    // toOthers(): the sender's socket (Echo's X-Socket-Id) is excluded; its page shows the message itself.
    const socketId = req.headers['x-socket-id'];
    await pusher.trigger(`presence-chat.${room}`, 'App\\Events\\MessageSent', message, typeof socketId === 'string' && socketId !== '' ? { socket_id: socketId } : {});
    return send(res, 201, message);
  }
  send(res, 404, { message: 'not found' });
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => send(res, 500, { message: String(err) }));
});
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on ${(server.address() as AddressInfo).port}`);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
