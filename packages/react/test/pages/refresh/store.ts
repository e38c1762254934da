// What the page's handlers received, outside the module the test rewrites, so it outlives every
// fast refresh (and a remount): a handler left behind by an edit would show up here twice.
import { useSyncExternalStore } from 'react';

declare global {
  interface Window {
    /** Every call of the subscription handler, in order. */
    received: string[];
    /** Runs of the subscribing component's mount effect. */
    mounts: number;
    /** Subscribes to `channel` on the provider's instance (the test's ordering probe). */
    probe?: (channel: string) => void;
    /** Set by the test before an edit: still there afterwards means no full reload. */
    marker?: string;
  }
}

window.received = [];
window.mounts = 0;
const listeners = new Set<() => void>();

export function push(text: string): void {
  window.received = [...window.received, text];
  for (const l of listeners) l();
}

export function useReceived(): string[] {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => window.received,
  );
}
