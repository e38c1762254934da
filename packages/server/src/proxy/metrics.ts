/** Proxy call counters, per transport, event and proxy name (Centrifugo's proxy metrics' labels). */
export interface ProxyStat {
  readonly protocol: 'http' | 'grpc';
  readonly method: string;
  readonly name: string;
  /** Calls made (answered or not). */
  calls: number;
  /** Calls that failed: timeout, unreachable backend, non-200 status, malformed or oversized answer. */
  errors: number;
  /** Total time of the calls, ms. */
  durationMs: number;
}

const stats = new Map<string, ProxyStat>();

export function countCall(protocol: 'http' | 'grpc', method: string, name: string, ms: number, ok: boolean, extraErrorOnly = false): void {
  const key = `${protocol}\0${method}\0${name}`;
  let s = stats.get(key);
  if (!s) stats.set(key, (s = { protocol, method, name, calls: 0, errors: 0, durationMs: 0 }));
  if (!extraErrorOnly) {
    s.calls++;
    s.durationMs += ms;
  }
  if (!ok) s.errors++;
}

/** Counters of every proxy of this process (metrics). */
export function proxyStats(): readonly ProxyStat[] {
  return [...stats.values()];
}
