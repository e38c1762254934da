import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Centrifuge, type Options as CentrifugeOptions, type TransportEndpoint } from 'centrifuge';
import { EventSource } from 'eventsource';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../src/index.js';
import { SECRET } from './helpers.js';
import { waitFor } from '../src/testing/index.js';

export type EmulationTransport = 'http_stream' | 'sse';

export interface HttpTestServer {
  sb: Switchboard;
  http: Server;
  port: number;
  base: string;
  close(): Promise<void>;
}

/** A Switchboard serving every transport at Centrifugo's paths, on an ephemeral port on 127.0.0.1. */
export async function startHttpServer(options: SwitchboardOptions = {}, setup?: (sb: Switchboard) => void): Promise<HttpTestServer> {
  const sb = createSwitchboard({ token: { hmacSecret: SECRET }, ...options });
  setup?.(sb);
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end('app 404');
  });
  for (const transport of ['websocket', 'uni_websocket', 'http_stream', 'sse', 'emulation', 'uni_http_stream', 'uni_sse'] as const) sb.attach(http, { transport });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    sb,
    http,
    port,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await sb.shutdown({ timeoutMs: 1000 });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The official SDK over one emulation transport, as its own tests run it in Node. */
export function sdkOver(base: string, transport: EmulationTransport, options: Partial<CentrifugeOptions> = {}, emulationBase = base): Centrifuge {
  const endpoints: TransportEndpoint[] = [{ transport, endpoint: `${base}/connection/${transport}` }];
  return new Centrifuge(endpoints, {
    emulationEndpoint: `${emulationBase}/emulation`,
    eventsource: EventSource,
    fetch: globalThis.fetch,
    readableStream: globalThis.ReadableStream,
    minReconnectDelay: 50,
    maxReconnectDelay: 300,
    timeout: 5000,
    ...options,
  });
}

/**
 * A raw reader of a streaming response (HTTP-streaming lines or SSE `data:` events), as an app
 * without the SDK would read it: every message parsed, in order, and whether the stream ended.
 */
export class StreamReader {
  readonly messages: Record<string, unknown>[] = [];
  ended = false;
  status = 0;
  readonly #abort = new AbortController();
  #buf = '';

  constructor(
    readonly url: string,
    readonly framing: 'lines' | 'sse',
    init: RequestInit = {},
  ) {
    void this.#run(init);
  }

  async #run(init: RequestInit): Promise<void> {
    try {
      const res = await fetch(this.url, { ...init, signal: this.#abort.signal });
      this.status = res.status;
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#buf += dec.decode(value, { stream: true });
        this.#drain();
      }
    } catch {
      // aborted or reset: ended either way
    }
    this.ended = true;
  }

  #drain(): void {
    const sep = this.framing === 'sse' ? '\n\n' : '\n';
    let i: number;
    while ((i = this.#buf.indexOf(sep)) >= 0) {
      let chunk = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + sep.length);
      if (this.framing === 'sse') {
        const data = chunk
          .split(/\r?\n/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''));
        if (data.length === 0) continue;
        chunk = data.join('\n');
      }
      if (chunk.trim() === '') continue;
      this.messages.push(JSON.parse(chunk) as Record<string, unknown>);
    }
  }

  /** The first message `match` accepts (waiting for it). */
  async find(match: (m: Record<string, unknown>) => boolean, what = 'a matching message'): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.messages.find(match)) !== undefined, 10_000, what);
    return found!;
  }

  close(): void {
    this.#abort.abort();
  }
}
