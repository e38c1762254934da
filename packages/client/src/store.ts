/**
 * A tiny observable value with the shape React's `useSyncExternalStore` and Vue's refs want:
 * `getSnapshot()` returns the current value, `subscribe(listener)` returns an unsubscribe function.
 */
export interface Store<T> {
  // properties, not methods: they are passed around unbound (useSyncExternalStore(store.subscribe, ...))
  getSnapshot: () => T;
  subscribe: (listener: () => void) => () => void;
}

export class ValueStore<T> implements Store<T> {
  #value: T;
  readonly #listeners = new Set<() => void>();
  constructor(value: T) {
    this.#value = value;
  }
  getSnapshot = (): T => this.#value;
  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };
  set(value: T): void {
    if (Object.is(value, this.#value)) return;
    this.#value = value;
    for (const l of [...this.#listeners]) l();
  }
}

/** A minimal typed event emitter: `on` returns its own `off`. */
export class Emitter<E extends Record<string, unknown>> {
  readonly #handlers = new Map<keyof E, Set<(v: never) => void>>();
  on<K extends keyof E>(event: K, fn: (value: E[K]) => void): () => void {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }
  /** Calls every listener; a throwing listener is reported through `onListenerError`, never breaks the loop. */
  emit<K extends keyof E>(event: K, value: E[K], onListenerError?: (err: unknown) => void): boolean {
    const set = this.#handlers.get(event);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        (fn as (v: E[K]) => void)(value);
      } catch (err) {
        onListenerError?.(err);
      }
    }
    return true;
  }
  listenerCount(event: keyof E): number {
    return this.#handlers.get(event)?.size ?? 0;
  }
}
