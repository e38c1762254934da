/**
 * Queue consumers (Centrifugo's `consumers`): API commands read from a queue (Redis Stream, NATS
 * JetStream, a PostgreSQL outbox, ...) and executed on this node. Each consumer type lives in its
 * engine package and implements `Consumer`; they share the message decoding and the rule for
 * what is skipped and what is retried (`applyConsumed`).
 */
import { isObject } from './internal/json.js';

/** Executes one API command (`runApiCommand(sb, method, payload)` bound to a node). */
export type ExecuteCommand = (method: string, payload: unknown) => Promise<unknown>;

/** What a consumer reports: malformed messages skipped, commands that failed and will be retried. */
export interface ConsumerLogger {
  /** Changes of who consumes what (a node taking over a partition). */
  info?(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface ConsumerOptions {
  /** The consumer's name (unique among a node's consumers; in logs). */
  readonly name: string;
  readonly execute: ExecuteCommand;
  readonly logger?: ConsumerLogger;
}

/**
 * A running queue consumer (the PostgreSQL outbox consumer has this shape too). `start` resolves
 * once it is connected and consuming (rejects with a clear message when its queue cannot be
 * reached); `close` finishes the command in hand, acknowledges it and lets other nodes take over
 * what is left.
 */
export interface Consumer {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Whether a failed command can never succeed (`ApiCommandError` with a code other than 100 says `permanent`). */
export function isPermanent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/** A message that can never be applied: it is logged and acknowledged, never retried. */
export class MalformedCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedCommandError';
  }
}

/**
 * The command in a consumed message, as Centrifugo reads it: with a method (a header or field),
 * the data is the method's payload; without, the data is `{"method": "...", "payload": {...}}`.
 */
export function decodeCommand(method: string | undefined, data: string | Uint8Array): { method: string; payload: unknown } {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MalformedCommandError('message data is not JSON');
  }
  if (method !== undefined && method !== '') return { method, payload: parsed };
  if (!isObject(parsed) || typeof parsed['method'] !== 'string' || parsed['method'] === '') {
    throw new MalformedCommandError('message has no method: expected {"method": "...", "payload": {...}} or a method field/header');
  }
  return { method: parsed['method'], payload: parsed['payload'] ?? {} };
}

/**
 * The payload of a consumed `publish` or `broadcast` with the message's id as its idempotency key,
 * unless it has one: consumed twice (a crash between applying and acknowledging), it is published
 * once within the engine's idempotency window. Other commands are returned unchanged.
 */
export function withIdempotencyKey(method: string, payload: unknown, messageId: string): unknown {
  if ((method !== 'publish' && method !== 'broadcast') || !isObject(payload) || payload['idempotency_key'] !== undefined) return payload;
  return { ...payload, idempotency_key: `consumed:${messageId}` };
}

/**
 * Decodes and executes one consumed message. `messageId`: the message's id, unique in its queue
 * (stream name and entry id), used as the idempotency key of a publication that has none. Resolves 'applied', or 'skipped' after logging a
 * message that can never succeed (not JSON, no or unknown method, a bad request, an unknown
 * channel...): the caller acknowledges both. Rejects when the command could not be applied now
 * (a backend is down: an internal error, code 100): the caller keeps it and retries, in order.
 */
export async function applyConsumed(
  options: ConsumerOptions,
  method: string | undefined,
  data: string | Uint8Array,
  where: Record<string, unknown>,
  messageId?: string,
): Promise<'applied' | 'skipped'> {
  let cmd;
  try {
    cmd = decodeCommand(method, data);
  } catch (err) {
    options.logger?.warn(`consumer ${options.name}: skipping a malformed message: ${(err as Error).message}`, where);
    return 'skipped';
  }
  // A node that crashes after applying and before acknowledging leaves the message to be consumed
  // again: a publication carries the message's id as its idempotency key (unless it has its own),
  // so that second time is not published again (within the engine's idempotency window).
  if (messageId !== undefined) cmd = { method: cmd.method, payload: withIdempotencyKey(cmd.method, cmd.payload, messageId) };
  try {
    await options.execute(cmd.method, cmd.payload);
    return 'applied';
  } catch (err) {
    if (isPermanent(err)) {
      options.logger?.warn(`consumer ${options.name}: skipping a ${cmd.method} command that cannot succeed: ${(err as Error).message}`, where);
      return 'skipped';
    }
    options.logger?.error(`consumer ${options.name}: ${cmd.method} failed, will retry: ${(err as Error).message}`, where);
    throw err;
  }
}
