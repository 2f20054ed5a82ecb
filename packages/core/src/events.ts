import type { StoreEvent } from './store/remote-store.js'

/** Which tier answered a read. */
export type Tier = 'l1' | 'remote' | 'loader' | 'stale'

/** Why a stale (expired, within grace) value was served. */
export type StaleReason =
  | 'loader-error'
  | 'loader-soft-timeout'
  | 'loader-hard-timeout'
  | 'remote-unavailable'

/** The events a cache emits, by name. Keys are the caller's keys; `namespace` is the full namespace. */
export interface CacheEvents {
  hit: { key: string; namespace: string; tier: 'l1' | 'remote' }
  miss: { key: string; namespace: string }
  stale: { key: string; namespace: string; reason: StaleReason }
  /** A loader threw (the error reached the caller unless a stale value was served). */
  loaderError: { key: string; namespace: string; error: unknown }
  /**
   * A loader's value was returned to its caller but not cached: the key (or its tags or namespace) was
   * invalidated while the loader ran (`invalidated`), or the load outlived the invalidation fences
   * (`slow-load`, longer than `fenceTtl`). See docs/consistency.md, "No stale sets".
   */
  loadDiscarded: { key: string; namespace: string; reason: 'invalidated' | 'slow-load' }
  /** The remote tier failed an operation (the call failed open), or stored bytes could not be decoded. */
  error: { operation: string; error: unknown; key?: string; namespace?: string }
  /** An invalidation could not be applied now and was queued for replay. */
  invalidationQueued: { operation: 'delete' | 'invalidateTags' | 'clear'; namespace: string }
  /** A queued invalidation reached the store. */
  invalidationReplayed: {
    operation: 'delete' | 'invalidateTags' | 'clear'
    namespace: string
    outcome: 'applied' | 'dropped'
  }
  /** The invalidation bus reconnected; L1 and tag generations were dropped because messages may be lost. */
  resync: { reason: string }
  /** Raw store happenings: retries, breaker changes, failovers, topology refreshes. */
  store: StoreEvent
  failover: { detail: Readonly<Record<string, unknown>> }
  circuit: { state: 'closed' | 'open' | 'half-open' }
  retry: { operation: string; attempt: number; error: unknown }
}

export type CacheEventName = keyof CacheEvents
export type CacheListener<E extends CacheEventName> = (payload: CacheEvents[E]) => void

/**
 * A small typed emitter. Unlike node's EventEmitter, an `error` with no listener is dropped rather than
 * thrown, and a listener that throws cannot break the cache operation that emitted. `has()` is checked
 * before building a payload, so events nobody listens to cost one Map lookup.
 */
export class CacheEmitter {
  readonly #listeners = new Map<CacheEventName, Set<CacheListener<any>>>()

  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): void {
    let set = this.#listeners.get(name)
    if (!set) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener)
  }

  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): void {
    const set = this.#listeners.get(name)
    if (!set) return
    set.delete(listener)
    if (set.size === 0) this.#listeners.delete(name)
  }

  has(name: CacheEventName): boolean {
    return this.#listeners.has(name)
  }

  emit<E extends CacheEventName>(name: E, payload: CacheEvents[E]): void {
    const set = this.#listeners.get(name)
    if (!set) return
    for (const listener of set) {
      try {
        listener(payload)
      } catch {
        // A listener's bug must not turn a cache hit into an error.
      }
    }
  }
}
