// A receiver of Pusher-format webhooks for tests: checks every request with the official `pusher`
// library (`pusher.webhook(...).isValid()`: X-Pusher-Key and X-Pusher-Signature), records the events
// of the valid ones, and can be told to refuse the next requests with a status.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type PusherServer from 'pusher';

export interface PusherHookEvent {
  name: string;
  channel: string;
  user_id?: string;
  event?: string;
  data?: string;
  socket_id?: string;
}

export class PusherWebhookBackend {
  readonly server: Server;
  readonly events: PusherHookEvent[] = [];
  requests = 0;
  /** Each valid request's `time_ms` (read by the library's `getTime()`). */
  readonly times: number[] = [];
  invalid = 0;
  /** How many events each valid request carried, in order. */
  readonly sizes: number[] = [];
  /** While set, requests wait for it before they are answered (a slow receiver). */
  hold: Promise<void> | undefined;
  /** Answer the next `failNext` requests with 500 (then accept). */
  failNext = 0;
  url = '';
  /** The last request, as received. */
  last: { headers: IncomingHttpHeaders; rawBody: string } | undefined;

  constructor(readonly lib: () => PusherServer) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.#answer(req.headers, chunks, res));
    });
  }

  async #answer(headers: IncomingHttpHeaders, chunks: Buffer[], res: ServerResponse): Promise<void> {
    if (this.hold) await this.hold;
    this.requests++;
    if (this.failNext > 0) {
      this.failNext--;
      res.writeHead(500).end();
      return;
    }
    this.last = { headers, rawBody: Buffer.concat(chunks).toString() };
    const hook = this.lib().webhook(this.last);
    if (!hook.isValid()) {
      this.invalid++;
      res.writeHead(401).end();
      return;
    }
    this.times.push(hook.getTime().getTime());
    const events = hook.getEvents() as PusherHookEvent[];
    this.events.push(...events);
    this.sizes.push(events.length);
    res.writeHead(200).end();
  }

  /** Listen on `port` (default: one the OS picks). */
  async listen(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/pusher/webhooks`;
    return this;
  }

  named(name: string, channel?: string): PusherHookEvent[] {
    return this.events.filter((e) => e.name === name && (channel === undefined || e.channel === channel));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
