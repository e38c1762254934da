// A notification hub for browsers with no SDK: plain JSON over a bare WebSocket at /ws, and an
// HTTP endpoint for back-end services that publishes a notification to one channel or to '*'
// (every connected client, subscribed or not).
// Run: npx tsx examples/hub/server.ts   (PORT=3000, API_KEY=change-me, SECRET=change-me)
// Browser: const ws = new WebSocket('ws://127.0.0.1:3000/ws');
//          ws.send(JSON.stringify({ type: 'subscribe', channel: 'notifications:deploys' }));
// Service: curl -X POST -H 'Authorization: apikey change-me' -d '{"channel":"*","event":"maintenance","payload":{"at":"22:00"}}' http://127.0.0.1:3000/notify
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { createSwitchboard, ReplyError } from '@switchboard/server';

const API_KEY = process.env.API_KEY ?? 'change-me';
const MAX_BODY = 64 * 1024;

const sb = createSwitchboard({
  token: { hmacSecret: process.env.SECRET ?? 'change-me' },
  allowAnonymous: true, // browsers may listen without logging in…
  namespaces: {
    // …to public notification topics; only services publish (no client publishing).
    notifications: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true, historySize: 50, historyTtlMs: 3_600_000 },
  },
  // Signed-in users also get their own channel `user:#<id>` for personal notifications.
  userPersonalChannel: { namespace: 'user' },
});
sb.namespace('user', {});

function keyOk(req: IncomingMessage): boolean {
  const m = /^apikey (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(API_KEY);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ReplyError(413, 'body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/notify') return reply(res, 404, { error: { code: 404, message: 'POST /notify' } });
  if (!keyOk(req)) return reply(res, 401, { error: { code: 401, message: 'bad or missing API key' } });
  try {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof ReplyError) throw err;
      throw new ReplyError(400, 'body must be JSON');
    }
    const { channel, event, payload } = (body ?? {}) as { channel?: unknown; event?: unknown; payload?: unknown };
    if (typeof channel !== 'string' || typeof event !== 'string' || event === '') throw new ReplyError(400, 'need channel and event (strings)');
    // {event, payload}: plain clients get {"channel","type":event,"data":payload}, PondSocket
    // clients an event of that name, native clients the object itself.
    const pos = await sb.publish(channel, { event, payload: payload ?? {} });
    reply(res, 200, { ok: true, ...(pos ? { offset: pos.offset } : {}) });
  } catch (err) {
    if (err instanceof ReplyError) {
      const status = err.code >= 400 && err.code < 600 ? err.code : err.code === 102 ? 404 : 400;
      return reply(res, status, { error: { code: err.code, message: err.message } });
    }
    console.error(err);
    reply(res, 500, { error: { code: 500, message: 'internal error' } });
  }
}

const server = createServer((req, res) => void handle(req, res));

sb.attach(server, { path: '/ws', protocol: 'plain' });

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening on ${typeof addr === 'object' && addr ? addr.port : addr}`);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void sb.shutdown({ timeoutMs: 5000 }).then(() => server.close(() => process.exit(0)));
  });
}
