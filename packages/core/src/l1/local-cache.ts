import { LRUCache } from 'lru-cache'

/** One value in the in-process tier, decoded, with the freshness facts from its envelope. */
export interface L1Entry {
  readonly value: unknown
  /** Epoch ms until which this process may answer from L1 without asking the remote tier. */
  readonly freshUntil: number
  /** Epoch ms after which the value is stale (from the writer's ttl). */
  readonly expiresAt: number
  /** Epoch ms until which the value may be served as stale (grace). */
  readonly staleUntil: number
  readonly tags: readonly string[] | undefined
  readonly generations: readonly number[] | undefined
  /** Encoded size in bytes, for the optional byte bound. */
  readonly size: number
}

export interface LocalCacheOptions {
  /** Most entries kept. */
  max: number
  /** Optional bound on the summed encoded size of the entries. */
  maxBytes?: number
  /** How long a value may be answered from L1 before the remote tier is asked again. */
  ttlMs: number
}

/**
 * The in-process tier: lru-cache bounded by entries (and optionally bytes). Expiry is ours, not
 * lru-cache's: entries stay until their grace ends so they can serve as a stale fallback, and the freshness
 * check is one comparison on the hit path instead of lru-cache's per-entry timer bookkeeping.
 */
export class LocalCache {
  readonly #lru: LRUCache<string, L1Entry>
  readonly ttlMs: number

  constructor(options: LocalCacheOptions) {
    this.ttlMs = options.ttlMs
    this.#lru =
      options.maxBytes === undefined
        ? new LRUCache<string, L1Entry>({ max: options.max })
        : new LRUCache<string, L1Entry>({
            max: options.max,
            maxSize: options.maxBytes,
            sizeCalculation: (entry) => Math.max(1, entry.size),
          })
  }

  get size(): number {
    return this.#lru.size
  }

  /** The entry (fresh or not), updating recency. The caller decides what it is good for. */
  get(key: string): L1Entry | undefined {
    return this.#lru.get(key)
  }

  set(key: string, entry: L1Entry): void {
    if (entry.staleUntil <= Date.now()) {
      this.#lru.delete(key)
      return
    }
    this.#lru.set(key, entry)
  }

  delete(key: string): void {
    this.#lru.delete(key)
  }

  /** Drops every key starting with `prefix` (all keys for ''). O(entries): `clear()` is rare. */
  deletePrefix(prefix: string): void {
    if (prefix === '') {
      this.#lru.clear()
      return
    }
    for (const key of [...this.#lru.keys()]) if (key.startsWith(prefix)) this.#lru.delete(key)
  }

  clear(): void {
    this.#lru.clear()
  }
}
