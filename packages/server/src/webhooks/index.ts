import { LIFECYCLE_EVENT_TYPES, type Lifecycle, type LifecycleEvent, type LifecycleEventType } from '../cluster/lifecycle.js';
import type { Logger } from '../logger.js';
import { switchboardFormat, type WebhookFormat } from './format.js';
import { DEAD_LETTERS_PREFIX, deadLetterJournalName } from './journal.js';
import { WebhookQueue, type WebhookQueueOptions } from './queue.js';

export { WebhookQueue, type WebhookQueueOptions, type WebhookRetry, type WebhookStats, type DeadLetter } from './queue.js';
export { type WebhookJournal, DEAD_LETTERS_PREFIX, deadLetterJournalName } from './journal.js';
export { switchboardFormat, verifyWebhook, sign as signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookFormat, type WebhookRequest } from './format.js';

export interface WebhookOptions extends Omit<WebhookQueueOptions, 'format'> {
  /** The HMAC secret of the default format (at least 16 characters). */
  readonly secret?: string;
  /** Another dialect (Pusher's, ...) instead of Switchboard's signed JSON. */
  readonly format?: WebhookFormat;
  /** Which events to send (default all). */
  readonly events?: readonly LifecycleEventType[];
  /** Channel events only for channels of these namespaces ('' = channels without one); default every channel. */
  readonly namespaces?: readonly string[];
  /**
   * Keep the queue and the dead letters in the engine's journals (default true where the engine has
   * them: Redis, PostgreSQL, NATS with JetStream, SQLite), so a crashed node's undelivered events are
   * delivered by a survivor and its dead letters move to a survivor's; false: memory only.
   */
  readonly durable?: boolean;
}

/**
 * A webhook endpoint fed by the node's lifecycle: the queue (batching, signing through the format,
 * retries, dead letters) and the listener that picks its events. Channel occupancy is tracked for
 * the channels `namespaces` admits.
 */
export function attachWebhook(lifecycle: Lifecycle, namespaceOf: (channel: string) => string | undefined, options: WebhookOptions, logger?: Logger): { queue: WebhookQueue; detach: () => void } {
  const format = options.format ?? (options.secret !== undefined ? switchboardFormat(options.secret) : undefined);
  if (!format) throw new Error('webhook: give a secret (Switchboard format) or a format');
  const types = new Set<LifecycleEventType>(options.events ?? LIFECYCLE_EVENT_TYPES);
  for (const t of types) if (!LIFECYCLE_EVENT_TYPES.includes(t)) throw new Error(`webhook: unknown event type ${String(t)} (known: ${LIFECYCLE_EVENT_TYPES.join(', ')})`);
  if (options.durable !== undefined && typeof options.durable !== 'boolean') throw new Error('webhook: durable must be a boolean');
  const name = options.name ?? options.url;
  if (name.startsWith(DEAD_LETTERS_PREFIX)) throw new Error(`webhook: a name may not start with ${JSON.stringify(DEAD_LETTERS_PREFIX)} (it names dead-letter journals): ${JSON.stringify(name)}`);
  const state = lifecycle.state;
  const durable = options.durable !== false && state.webhookJournal !== undefined;
  const journal = durable ? state.webhookJournal!(name, lifecycle.ctx.id) : undefined;
  const deadJournal = durable ? state.webhookJournal!(deadLetterJournalName(name), lifecycle.ctx.id) : undefined;
  const queue = new WebhookQueue({
    ...options,
    format,
    ...(logger && !options.logger ? { logger } : {}),
    ...(deadJournal ? { deadJournal } : {}),
    ...(journal ? { journal, claimIntervalMs: options.claimIntervalMs ?? Math.max(100, Math.floor(lifecycle.nodeTtlMs / 4)) } : {}),
  });
  const ns = options.namespaces ? new Set(options.namespaces) : undefined;
  const channels = ns ? (ch: string) => ns.has(namespaceOf(ch) ?? '\0') : () => true;
  const channelTypes = ['subscribe', 'unsubscribe', 'channel_occupied', 'channel_vacated', 'presence_join', 'presence_leave'] as const;
  const wantsChannels = channelTypes.some((t) => types.has(t));
  const users = types.has('connect') || types.has('disconnect');
  const detach = lifecycle.listen(
    (e: LifecycleEvent) => {
      if (types.has(e.type)) queue.push(e);
    },
    { channels: wantsChannels ? channels : () => false, users },
  );
  return { queue, detach };
}
