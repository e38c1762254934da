import { connect, Events, type ConnectionOptions, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';

/** Options shared by every NATS engine part. */
export interface NatsConnectionOptions {
  /** NATS server URL(s): `nats://host:port`, `host:port`, a comma-separated list or an array (one cluster). */
  readonly servers: string | readonly string[];
  /**
   * Prefix of every subject, stream and bucket (default `switchboard`), so several apps can share
   * one NATS. Letters, digits, `_` and `-` only (it is part of stream and bucket names).
   */
  readonly prefix?: string;
  /** Extra options for the `nats` client (user, pass, token, tls, name, ...). */
  readonly natsOptions?: Partial<ConnectionOptions>;
}

export const DEFAULT_PREFIX = 'switchboard';

/** A bad NATS setting or an unreachable server, said plainly. */
export class NatsEngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NatsEngineError';
  }
}

export function serverList(servers: string | readonly string[]): string[] {
  const list = (typeof servers === 'string' ? servers.split(',') : [...servers]).map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new NatsEngineError('no NATS server URL given (e.g. "nats://127.0.0.1:4222")');
  for (const s of list) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+\/?$/.test(s) && !/^[\w.-]+:\d+$/.test(s) && !/^\[[\da-fA-F:]+\]:\d+$/.test(s)) {
      throw new NatsEngineError(`bad NATS server URL "${s}" (expected nats://host:port or host:port)`);
    }
  }
  return list;
}

/**
 * A channel name as one subject token (and key-value key token): letters, digits and `-` stay,
 * every other byte becomes `_XX` (hex). NATS subjects cannot hold `.`, `*`, `>` or spaces as
 * channel characters, and stream/bucket keys allow even less; this keeps any channel name exact.
 */
export function token(name: string): string {
  if (/^[A-Za-z0-9-]+$/.test(name)) return name;
  let out = '';
  for (const b of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out === '' ? '_' : out;
}

/** The channel name of a subject token (`token`'s inverse); undefined for a token `token` never makes. */
export function untoken(tok: string): string | undefined {
  if (/^[A-Za-z0-9-]+$/.test(tok)) return tok;
  const bytes: number[] = [];
  for (let i = 0; i < tok.length; i++) {
    const c = tok.charCodeAt(i);
    if (c !== 95 /* _ */) {
      bytes.push(c);
      continue;
    }
    const hex = tok.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Subject, stream and bucket names under a prefix. */
export function names(prefix: string) {
  return {
    control: `${prefix}.control`,
    client: (channel: string) => `${prefix}.client.${token(channel)}`,
    clientAll: `${prefix}.client.*`,
    history: (channel: string) => `${prefix}.history.${token(channel)}`,
    historyAll: `${prefix}.history.*`,
    historyStream: `${prefix}_history`,
    presenceBucket: `${prefix}_presence`,
    acksBucket: `${prefix}_acks`,
  };
}

function isConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && !nc.isDraining() && (nc as unknown as { protocol?: { connected?: boolean } }).protocol?.connected !== false;
}

/**
 * One NATS connection shared by the broker, history and presence of a node (reference counted:
 * the last `release` closes it). Reconnects forever; the first connect fails fast with a clear
 * error naming the servers, so a wrong URL stops startup.
 */
export class NatsLink {
  readonly prefix: string;
  readonly servers: string[];
  readonly names: ReturnType<typeof names>;
  readonly #options: Partial<ConnectionOptions>;
  #refs = 0;
  #nc: Promise<NatsConnection> | undefined;
  #jsm: Promise<JetStreamManager> | undefined;
  /** Called with 'disconnect' and 'reconnect' (after the client resubscribed). */
  readonly #listeners = new Set<(event: 'disconnect' | 'reconnect') => void>();
  connected = false;

  constructor(opts: NatsConnectionOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    if (!/^[A-Za-z0-9_-]+$/.test(this.prefix)) throw new NatsEngineError(`bad NATS prefix "${this.prefix}": letters, digits, "_" and "-" only`);
    this.servers = serverList(opts.servers);
    this.names = names(this.prefix);
    this.#options = opts.natsOptions ?? {};
  }

  acquire(): this {
    this.#refs++;
    return this;
  }

  on(listener: (event: 'disconnect' | 'reconnect') => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The connection; rejects with a NatsEngineError when no server answers. */
  connection(): Promise<NatsConnection> {
    this.#nc ??= this.#connect();
    this.#nc.catch(() => {
      this.#nc = undefined;
    });
    return this.#nc;
  }

  async #connect(): Promise<NatsConnection> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.servers,
        name: 'switchboard',
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        timeout: 5000,
        ...this.#options,
      });
    } catch (err) {
      throw new NatsEngineError(`cannot connect to NATS at ${this.servers.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
    this.connected = true;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.connected = false;
          for (const l of this.#listeners) l('disconnect');
        } else if (s.type === Events.Reconnect) {
          this.connected = true;
          try {
            await nc.flush(); // the client resent every SUB before this PING: subscriptions are live again
          } catch {
            continue;
          }
          for (const l of this.#listeners) l('reconnect');
        }
      }
    })();
    return nc;
  }

  /** Whether publications can be sent now (a publish while NATS is away is refused, never queued silently). */
  async ready(): Promise<NatsConnection> {
    const nc = await this.connection();
    if (!this.connected || !isConnected(nc)) throw new NatsEngineError(`NATS at ${this.servers.join(', ')} is not connected`);
    return nc;
  }

  async jetstream(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    const nc = await this.connection();
    this.#jsm ??= nc.jetstreamManager({ timeout: 5000 }).catch((err: unknown) => {
      this.#jsm = undefined;
      throw new NatsEngineError(
        `NATS at ${this.servers.join(', ')} has no JetStream (${(err as Error).message}): start nats-server with -js, or keep history and presence elsewhere`,
        { cause: err },
      );
    });
    const jsm = await this.#jsm;
    return { js: nc.jetstream({ timeout: 5000 }), jsm };
  }

  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    const p = this.#nc;
    this.#nc = undefined;
    if (p === undefined) return;
    try {
      const nc = await p;
      await nc.close();
    } catch {
      // never connected: nothing to close
    }
  }
}
