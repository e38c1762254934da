import { EpochMismatchError, type HistoryReadOptions, type HistoryReadResult, type HistoryStore, type StreamPosition } from '@switchboard/server';
import { NatsEngineError } from './link.js';

const EMPTY: StreamPosition = { offset: 0, epoch: '' };

/**
 * The history store of a core-only NATS engine (`engine.nats.history: "none"`): it keeps nothing.
 * Every stream is empty at offset 0 (the same on every node, so positions agree), and an append
 * is refused with a clear error (the configuration refuses namespaces that keep history, so none
 * should arrive).
 */
export class NoHistoryStore implements HistoryStore {
  append(): Promise<StreamPosition> {
    return Promise.reject(new NatsEngineError('history is off with engine.nats.history "none": keep history in JetStream (history: "jetstream") or use a namespace without history'));
  }

  async read(_channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    const since = options.since;
    if (since !== undefined && since.epoch !== '') throw new EpochMismatchError(EMPTY);
    return { publications: [], position: EMPTY };
  }

  async position(): Promise<StreamPosition> {
    return EMPTY;
  }

  async remove(): Promise<void> {}

  async close(): Promise<void> {}
}
