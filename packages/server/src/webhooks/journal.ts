/**
 * Where a webhook queue keeps its events durably, so a node that crashes before delivering them
 * does not lose them: an engine's append-only log per (webhook, node). The queue still delivers from
 * memory; the journal is the copy a survivor takes over.
 *
 * Contract:
 * - `append(entry)` stores one encoded event at the end of this node's journal and resolves to its
 *   key there; appends issued in order are stored in that order.
 * - `remove(keys)` forgets delivered (or dead-lettered) entries; unknown keys are ignored (a
 *   survivor may have claimed them meanwhile).
 * - `claim(limit)` moves up to `limit` entries of journals whose node is dead (its lease lapsed, or
 *   it left) into this node's journal, atomically, so each entry is taken by exactly one caller;
 *   returned oldest first per dead node, with their new keys. A claimer that dies in turn leaves
 *   them in its own journal for the next survivor.
 */
export interface WebhookJournal {
  append(entry: string): Promise<string>;
  remove(keys: readonly string[]): Promise<void>;
  claim(limit: number): Promise<{ key: string; entry: string }[]>;
  /** How many entries this node's journal holds now (for stats and tests). */
  size(): Promise<number>;
}

/** Journal names starting with this are a webhook's dead letters; webhooks may not be named so. */
export const DEAD_LETTERS_PREFIX = 'dead-letters:';

/** The name of the journal holding the dead letters of the webhook (queue journal) named `name`. */
export function deadLetterJournalName(name: string): string {
  return DEAD_LETTERS_PREFIX + name;
}
