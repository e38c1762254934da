/**
 * The server child of `instructions.ts`, run under valgrind's callgrind: one Switchboard node on
 * the memory engine, imported from the built entry point given as argv[2] (this checkout's or
 * another's `packages/server/dist/index.js`), with the configuration of the bench's native system.
 * It publishes one publication per `publish` message and answers `published`.
 *
 * The node's periodic maintenance timers (keepalive walk every second, presence refresh, node
 * announcements: every interval of 1 s or more) are not started, in either checkout: their cost
 * grows with wall time, which valgrind stretches by a factor that depends on the machine's load,
 * so they would make the count depend on load. Pings are off for the same reason.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { PAD, SECRET } from './common.js';

const entry = process.argv[2];
if (entry === undefined) throw new Error('usage: instructions-server.ts <path to @switchboard/server dist/index.js>');

const realSetInterval = globalThis.setInterval;
globalThis.setInterval = ((fn: () => void, ms?: number) => {
  // Only the maintenance timers (>= 1 s); the outbound scheduler's 20 ms retry stays real.
  if ((ms ?? 0) >= 1000) return realSetInterval(() => undefined, 2 ** 31 - 1).unref();
  return realSetInterval(fn, ms);
}) as typeof setInterval;

const server = (await import(pathToFileURL(entry).href)) as typeof import('@switchboard/server');
const sb = server.createSwitchboard({
  token: { hmacSecret: SECRET },
  channels: { allowSubscribeForClient: true },
  limits: { maxQueueBytes: 64 * 1024 * 1024, maxChannelsPerConnection: 256 },
  pingIntervalMs: 3_600_000,
  pongTimeoutMs: 3_600_000,
});
const http = createServer();
sb.attach(http, { path: '/connection/websocket' });
await sb.start();
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
let seq = 0;
const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'gc') {
    // A full collection before the counted phase, so that no major GC left over from the warm-up
    // falls into one checkout's phase and not the other's.
    gc?.();
    process.send!({ cmd: 'collected' });
    return;
  }
  if (m.cmd !== 'publish') return;
  sb.publish('fan', { s: seq++, p: PAD }).then(
    () => process.send!({ cmd: 'published' }),
    (err: unknown) => process.send!({ cmd: 'error', error: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ cmd: 'ready', port: (http.address() as AddressInfo).port });
