import pondClient from '@eleven-am/pondsocket-client';
import type { ConnectingContext } from '../src/index.js';
import { startServer, until, type TestServer } from './helpers.js';
import type { SwitchboardOptions, Switchboard } from '../src/index.js';

// The client package is CommonJS: take its exports from the default import.
const { PondClient, ChannelState, ConnectionState } = pondClient;
export { PondClient, ChannelState, ConnectionState };
export type Pond = InstanceType<typeof PondClient>;
export type PondChannel = ReturnType<Pond['createChannel']>;

export interface MultiServer extends TestServer {
  pondUrl: string;
  plainUrl: string;
}

/** A test server with every protocol mounted: native at /connection/websocket, pond at /api/socket, plain at /ws. */
export async function startMulti(
  options: SwitchboardOptions = {},
  setup?: (sb: Switchboard) => void,
  onConnecting?: (ctx: ConnectingContext) => unknown,
): Promise<MultiServer> {
  const srv = await startServer(options, setup);
  srv.sb.attach(srv.http, { path: '/api/socket', protocol: 'pond', ...(onConnecting ? { onConnecting } : {}) });
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  return { ...srv, pondUrl: `ws://127.0.0.1:${srv.port}/api/socket`, plainUrl: `ws://127.0.0.1:${srv.port}/ws` };
}

/** Every client a test made, stopped for good at the end (the official client retries forever otherwise). */
const made = new Set<Pond>();

export function pond(url: string, params: Record<string, unknown> = {}, options: { pingInterval?: number } = {}): Pond {
  const c = new PondClient(url, params, { maxReconnectDelay: 200, connectionTimeout: 3000, ...options });
  made.add(c);
  return c;
}

/** Stop a client and its reconnect loop (its pending retry timer is not cancellable: make it a no-op). */
export function stop(c: Pond): void {
  c.disconnect();
  (c as unknown as { connect: () => void }).connect = () => {};
}

export function stopAll(): void {
  for (const c of made) stop(c);
  made.clear();
}

export async function connected(c: Pond): Promise<void> {
  c.connect();
  await until(() => c.getState() === ConnectionState.CONNECTED, 5000, 'pond connected');
}

export interface Recorded {
  event: string;
  payload: Record<string, unknown>;
}

/** Join and record every message the app sees on the channel. */
export async function join(c: Pond, name: string, params: Record<string, unknown> = {}): Promise<{ ch: PondChannel; msgs: Recorded[] }> {
  const ch = c.createChannel(name, params);
  const msgs: Recorded[] = [];
  ch.onMessage((event, payload) => {
    msgs.push({ event: event, payload: payload as Record<string, unknown> });
  });
  ch.join();
  await until(() => ch.channelState === ChannelState.JOINED || ch.channelState === ChannelState.DECLINED, 5000, `join ${name}`);
  return { ch, msgs };
}

export async function waitFor(msgs: Recorded[], event: string, ms = 5000): Promise<Recorded> {
  let found: Recorded | undefined;
  await until(() => (found = msgs.find((m) => m.event === event)) !== undefined, ms, `event ${event}`);
  return found!;
}
