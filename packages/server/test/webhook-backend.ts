// A webhook receiver for tests: records every request, verifies its signature, and can be told to
// fail (status), hang (never answer) or refuse a number of requests first.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../src/index.js';

export interface ReceivedEvent {
  id: string;
  type: string;
  time: number;
  seq?: number;
  node: string;
  client?: string;
  user?: string;
  channel?: string;
  code?: number;
  reason?: string;
  lost?: boolean;
  info?: unknown;
}

export class WebhookBackend {
  readonly server: Server;
  /** Every event of every accepted request, in arrival order (duplicates included). */
  readonly events: ReceivedEvent[] = [];
  /** The number of events of each accepted request, in arrival order. */
  readonly batches: number[] = [];
  /** Requests answered, accepted or not, and those whose signature did not verify. */
  requests = 0;
  badSignatures = 0;
  /** What to answer: 200 (accept), another status, or 'hang' (never answer). */
  mode: number | 'hang' = 200;
  readonly #hanging = new Set<() => void>();
  url = '';

  constructor(readonly secret: string) {
    this.server = createServer((req, res) => {
      void read(req).then((body) => {
        this.requests++;
        const ok = verifyWebhook(this.secret, body, header(req, TIMESTAMP_HEADER), header(req, SIGNATURE_HEADER));
        if (!ok) this.badSignatures++;
        if (this.mode === 'hang') {
          const release = () => res.destroy();
          this.#hanging.add(release);
          res.once('close', () => this.#hanging.delete(release));
          return;
        }
        if (this.mode !== 200) {
          res.writeHead(this.mode).end();
          return;
        }
        const parsed = JSON.parse(body) as { events: ReceivedEvent[] };
        this.events.push(...parsed.events);
        this.batches.push(parsed.events.length);
        res.writeHead(200).end();
      });
    });
  }

  /** Listen on `port` (default an ephemeral one). */
  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  /** Events de-duplicated by id (first arrival kept). */
  unique(): ReceivedEvent[] {
    const seen = new Set<string>();
    return this.events.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
  }

  of(type: string, channel?: string): ReceivedEvent[] {
    return this.unique().filter((e) => e.type === type && (channel === undefined || e.channel === channel));
  }

  async close(): Promise<void> {
    for (const r of this.#hanging) r();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
