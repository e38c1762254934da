// What the page's handlers received, outside the component the test rewrites, so it outlives every
// hot update (and a remount): a handler left behind by an edit would show up here twice.
import { reactive } from 'vue';

declare global {
  interface Window {
    /** Every handler call, in order, as `channel:text`. */
    received: string[];
    /** Runs of the component's onMounted. */
    mounts: number;
    /** Subscribes to `channel` on the useLiveUpdate instance and to `${channel}-plugin` on the plugin's (the test's ordering probe). */
    probe?: (channel: string) => void;
    /** Set by the test before an edit: still there afterwards means no full reload. */
    marker?: string;
  }
}

const params = new URLSearchParams(location.search);
export const url = params.get('ws')!;
const token = params.get('token')!;
export const getToken = (): Promise<string> => Promise.resolve(token);

window.received = [];
window.mounts = 0;
export const received = reactive({ room: [] as string[], other: [] as string[] });

export function push(channel: 'room' | 'other', text: string): void {
  received[channel].push(text);
  window.received = [...window.received, `${channel}:${text}`];
}
