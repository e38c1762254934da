// A task manager over plain JSON (/ws): action routing to handlers, lifecycle hooks, and the
// logging and exception-recovery middleware. Every line it logs is one JSON object on stdout.
// Run: npx tsx examples/manager/server.ts   (PORT=3000, SECRET=change-me)
// Client: new WebSocket('ws://127.0.0.1:3000/ws?token=<JWT>'), then
//   {"action":"tasks.create","data":{"title":"write docs"},"id":1}
//   {"type":"subscribe","channel":"tasks:board"}   (creations and completions arrive as pushes)
import { createServer } from 'node:http';
import { createSwitchboard, logging, recovery, ReplyError, type Logger, type RpcContext } from '@switchboard/server';

const log = (level: string) => (obj: object, msg?: string) =>
  console.log(JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj }, (_k, v: unknown) => (v instanceof Error ? { message: v.message } : v)));
const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };

const sb = createSwitchboard({
  token: { hmacSecret: process.env.SECRET ?? 'change-me' },
  logger,
  namespaces: { tasks: { allowSubscribeForClient: true, presence: true } },
});

// Middleware runs around every command of every protocol, outermost first: logging sees the
// final outcome, recovery turns a handler's exception into error 100 for that one request.
sb.use(logging(logger));
sb.use(recovery(logger));

// Lifecycle hooks.
sb.on('connect', (c) => logger.info({ client: c.id, user: c.user, protocol: c.protocol }, 'connected'));
sb.on('disconnect', (c, { code, reason }) => logger.info({ client: c.id, user: c.user, code, reason }, 'disconnected'));
sb.on('subscribe', (c, channel) => logger.info({ client: c.id, channel }, 'subscribed'));
sb.on('unsubscribe', (c, channel) => logger.info({ client: c.id, channel }, 'unsubscribed'));
sb.on('error', (err, c) => logger.warn({ err, client: c?.id }, 'hook error'));

interface Task {
  id: number;
  title: string;
  done: boolean;
  by: string;
}
const tasks = new Map<number, Task>();
let nextId = 1;

// Action routing: one table, every action a function of its context.
const actions: Record<string, (ctx: RpcContext) => unknown> = {
  'tasks.create': async (ctx) => {
    const title = (ctx.data as { title?: unknown } | undefined)?.title;
    if (typeof title !== 'string' || title.trim() === '' || title.length > 200) throw new ReplyError(4000, 'title must be 1..200 characters');
    const task: Task = { id: nextId++, title: title.trim(), done: false, by: ctx.client.user };
    tasks.set(task.id, task);
    await sb.publish('tasks:board', { event: 'created', payload: task });
    return task;
  },
  'tasks.complete': async (ctx) => {
    const id = (ctx.data as { id?: unknown } | undefined)?.id;
    const task = typeof id === 'number' ? tasks.get(id) : undefined;
    if (!task) throw new ReplyError(4004, 'no such task');
    task.done = true;
    await sb.publish('tasks:board', { event: 'completed', payload: task });
    return task;
  },
  'tasks.list': () => [...tasks.values()],
  'who.online': async () => [...(await sb.presence('tasks:board')).values()].map((i) => i.user),
  // A bug on purpose: the recovery middleware answers 100 and the server carries on.
  'debug.crash': () => {
    throw new Error('simulated handler bug');
  },
};
for (const [name, handler] of Object.entries(actions)) sb.rpc(name, handler);

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`Task manager at ws://<host>/ws; actions: ${Object.keys(actions).join(', ')}\n`);
});
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
