import type { ChannelOptions } from '../../src/index.js';

export const FUZZ_SECRET = 'fuzz-secret-hs256-0123456789abcdef';
/** Small on purpose: frames just over it are cheap to send. */
export const FUZZ_MAX_MESSAGE = 16 * 1024;

/**
 * - `news`: the bystanders' channels (subscribe, publish as subscriber, history, recovery, presence);
 * - `chat`: fuzz connections may subscribe (a second subscribe is 105), nothing else is on;
 * - `locked`: nothing allowed (103);
 * - any other namespace is unknown (102).
 */
export const fuzzNamespaces: Record<string, ChannelOptions> = {
  news: {
    allowSubscribeForClient: true,
    allowPublishForSubscriber: true,
    allowHistoryForSubscriber: true,
    allowPresenceForSubscriber: true,
    presence: true,
    historySize: 200,
    historyTtlMs: 600_000,
    allowRecovery: true,
  },
  chat: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true },
  locked: {},
};

/** The Pusher app the fuzz server mounts: its channels are the `news` namespace's (the bystanders' channels). */
export const FUZZ_PUSHER_APP = { id: 'fuzz', key: 'fuzz-key', secret: 'fuzz-secret', namespace: 'news', enableClientMessages: true };
