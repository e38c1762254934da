// The server under fuzz, in its own process (run with --expose-gc): a crash, an unhandled error or
// a leak in it cannot hide behind the fuzzer's own allocations. Talks to the runner over IPC.
import { createServer } from 'node:http';
import { getHeapSpaceStatistics } from 'node:v8';
import type { AddressInfo } from 'node:net';
import { createSwitchboard, pusher, type ProtocolName } from '../../src/index.js';
import { FUZZ_PUSHER_APP, FUZZ_SECRET, FUZZ_MAX_MESSAGE, fuzzNamespaces } from './config.js';

const fatal: string[] = [];
function die(kind: string, err: unknown): void {
  fatal.push(`${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.send?.({ type: 'fatal', error: fatal[fatal.length - 1] });
  setTimeout(() => process.exit(70), 50);
}
process.on('uncaughtException', (err) => die('uncaughtException', err));
process.on('unhandledRejection', (err) => die('unhandledRejection', err));

const handlerErrors: string[] = [];
const sb = createSwitchboard({
  token: { hmacSecret: FUZZ_SECRET },
  allowAnonymous: true,
  namespaces: fuzzNamespaces,
  limits: { maxMessageSize: FUZZ_MAX_MESSAGE, maxConnections: 10_000 },
  // Long keepalive: the fuzz connections live a few hundred milliseconds (seconds on a loaded machine,
  // where a 5 s ping caught some before their frame was answered); bystanders answer pings.
  pingIntervalMs: 60_000,
  pongTimeoutMs: 30_000,
});
sb.on('error', (err) => {
  if (handlerErrors.length < 20) handlerErrors.push(err.stack ?? err.message);
});

const http = createServer((_req, res) => {
  res.statusCode = 404;
  res.end();
});
http.on('clientError', (_err, socket) => socket.destroy());
const endpoints: Record<string, ProtocolName> = { '/connection/websocket': 'centrifuge', '/api/socket': 'pond', '/ws': 'plain', '/socket/websocket': 'phoenix' };
const available = Object.entries(endpoints).filter(([, p]) => sb.protocol(p) !== undefined);
for (const [path, protocol] of available) sb.attach(http, { path, protocol });
// Pusher at /app/{key}: its app's channels are the `news` namespace's, the bystanders' channels.
pusher(sb, { apps: [FUZZ_PUSHER_APP] }).attach(http);
http.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (http.address() as AddressInfo).port, protocols: [...available.map(([, p]) => p), 'pusher'] });
});

async function measure(): Promise<Record<string, unknown>> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the fuzz server with --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.space_size])),
    counts: sb.counts(),
    errors: Object.fromEntries(sb.stats.errors),
    disconnects: Object.fromEntries(sb.stats.disconnects),
    handlerErrors,
    fatal,
    resources: process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap'),
  };
}

process.on('message', (m: { type: string; id: number }) => {
  if (m.type === 'measure') {
    measure().then(
      (r) => process.send?.({ type: 'measured', id: m.id, ...r }),
      (err: Error) => process.send?.({ type: 'measured', id: m.id, error: err.message }),
    );
  } else if (m.type === 'stop') {
    void sb
      .shutdown({ timeoutMs: 500 })
      .then(() => {
        http.closeAllConnections();
        http.close(() => process.exit(fatal.length > 0 ? 70 : 0));
      });
  }
});
process.on('disconnect', () => process.exit(fatal.length > 0 ? 70 : 0));
