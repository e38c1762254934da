import { Disconnects } from './codes.js';
import type { Client } from './context.js';
import type { ProtocolName } from './protocol.js';
import type { ConnectionRequest } from './transport.js';

/** What the view reads and may ask of its connection. */
export interface ViewedConnection extends Pick<Client, 'id' | 'user' | 'protocol' | 'assigns' | 'meta' | 'request' | 'send'> {
  readonly subscriptions: ReadonlyMap<string, unknown>;
  readonly transport: { readonly kind: string };
  readonly emulatedHeaders: Readonly<Record<string, string>> | undefined;
  close(d: { code: number; reason: string }): void;
}

/**
 * The app's view of a connection (`Client`): identity, assigns, the request, its channels, and the
 * two things an app may do to it (send, disconnect). Nothing else of the live connection (queue,
 * session, transport, subscriptions' state) is reachable from handlers. One view per connection,
 * so it can key a WeakMap (rate limits).
 */
export class ClientView implements Client {
  readonly #conn: ViewedConnection;

  constructor(conn: ViewedConnection) {
    this.#conn = conn;
  }

  get id(): string {
    return this.#conn.id;
  }

  get user(): string {
    return this.#conn.user;
  }

  get protocol(): ProtocolName {
    return this.#conn.protocol;
  }

  /** Per-connection data; the object is shared with the connection (set by connect handlers, middleware, app code). */
  get assigns(): Record<string, unknown> {
    return this.#conn.assigns;
  }

  get meta(): unknown {
    return this.#conn.meta;
  }

  get request(): ConnectionRequest {
    return this.#conn.request;
  }

  get transportName(): string {
    return this.#conn.transport.kind;
  }

  get emulatedHeaders(): Readonly<Record<string, string>> | undefined {
    return this.#conn.emulatedHeaders;
  }

  channels(): string[] {
    return [...this.#conn.subscriptions.keys()];
  }

  isSubscribed(channel: string): boolean {
    return this.#conn.subscriptions.has(channel);
  }

  send(data: unknown): void {
    this.#conn.send(data);
  }

  disconnect(code: number = Disconnects.forceNoReconnect.code, reason: string = Disconnects.forceNoReconnect.reason): void {
    this.#conn.close({ code, reason });
  }
}
