import { assertKnownParams } from '../config/store-url.js'
import { TierCacheError } from '../errors.js'
import type {
  BusMessage,
  BusSubscriber,
  Fence,
  FencedRead,
  InvalidationBus,
  InvalidationResult,
  ParsedStoreUrl,
  RemoteStore,
  StoreEntry,
  StoreHealth,
} from './remote-store.js'
import { APPLIED } from './remote-store.js'

interface StoredBytes {
  readonly value: Uint8Array
  readonly expiresAt: number
}

const DEFAULT_MAX_ENTRIES = 100_000

/**
 * The embedded `memory://` store: an in-process stand-in for Redis with the same semantics (bytes, physical
 * TTLs, generation counters, a bus). `memory://name` names a store shared by every cache in the process
 * that uses the same name — like two services on one Redis — so multi-instance behaviour (bus invalidation,
 * remote hits) works and is testable without a server. Bounded by `?max=` entries (oldest evicted first).
 */
export class MemoryStore implements RemoteStore {
  static readonly #named = new Map<string, MemoryStore>()

  /** The process-wide store of that name. */
  static shared(name: string, maxEntries = DEFAULT_MAX_ENTRIES): MemoryStore {
    let store = MemoryStore.#named.get(name)
    if (!store) {
      store = new MemoryStore({ maxEntries })
      MemoryStore.#named.set(name, store)
    }
    return store
  }

  static fromUrl(parsed: ParsedStoreUrl): MemoryStore {
    assertKnownParams(parsed, ['max'], 'memory://')
    const text = parsed.params.max
    if (text !== undefined && !/^[1-9]\d*$/.test(text)) {
      throw new TierCacheError('INVALID_URL', `memory://?max= must be a positive integer, got '${text}'`)
    }
    return MemoryStore.shared(parsed.path, text === undefined ? DEFAULT_MAX_ENTRIES : Number(text))
  }

  readonly kind = 'memory'
  readonly bus: InvalidationBus
  readonly #entries = new Map<string, StoredBytes>()
  readonly #generations = new Map<string, number>()
  /** Fence generations (no stale sets), each kept until its expiry like a Redis key with a PEXPIRE. */
  readonly #fences = new Map<string, { generation: number; expiresAt: number }>()
  #fenceSweepAt = 1024
  readonly #channels = new Map<string, Set<BusSubscriber>>()
  readonly #maxEntries: number

  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.bus = {
      publish: async (channel: string, message: BusMessage) => {
        const subscribers = this.#channels.get(channel)
        if (!subscribers) return
        // Delivered asynchronously, like a real bus: a publisher never runs subscriber code inline.
        for (const subscriber of subscribers) queueMicrotask(() => subscriber.onMessage(message))
      },
      subscribe: (channel: string, subscriber: BusSubscriber) => {
        let subscribers = this.#channels.get(channel)
        if (!subscribers) {
          subscribers = new Set()
          this.#channels.set(channel, subscribers)
        }
        subscribers.add(subscriber)
        return () => subscribers.delete(subscriber)
      },
    }
  }

  /** Number of live byte entries (for tests and the L1-vs-store memory picture). */
  get size(): number {
    return this.#entries.size
  }

  ready(): Promise<void> {
    return Promise.resolve()
  }

  #read(key: string): Uint8Array | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  #write(key: string, value: Uint8Array, ttlMs: number): void {
    // Delete first so a rewrite moves the key to the young end of the insertion order (eviction order).
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs })
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#read(key))
  }

  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return Promise.resolve(keys.map((key) => this.#read(key)))
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.#write(key, value, ttlMs)
    return Promise.resolve()
  }

  setMany(entries: readonly StoreEntry[]): Promise<void> {
    for (const entry of entries) this.#write(entry.key, entry.value, entry.ttlMs)
    return Promise.resolve()
  }

  delete(keys: readonly string[], fence?: Fence): Promise<InvalidationResult> {
    for (let i = 0; i < keys.length; i++) {
      this.#entries.delete(keys[i]!)
      if (fence !== undefined) this.#bumpFence(fence.keys[i]!, fence.ttlMs)
    }
    return Promise.resolve(APPLIED)
  }

  getFenced(key: string, fence: readonly string[]): Promise<FencedRead> {
    return Promise.resolve({ value: this.#read(key), generations: fence.map((k) => this.#fence(k)) })
  }

  setFenced(entry: StoreEntry, fence: readonly string[], expected: readonly number[]): Promise<boolean> {
    for (let i = 0; i < fence.length; i++)
      if (this.#fence(fence[i]!) !== expected[i]) return Promise.resolve(false)
    this.#write(entry.key, entry.value, entry.ttlMs)
    return Promise.resolve(true)
  }

  #fence(key: string): number {
    const fence = this.#fences.get(key)
    if (fence === undefined) return 0
    if (fence.expiresAt > Date.now()) return fence.generation
    this.#fences.delete(key)
    return 0
  }

  #bumpFence(key: string, ttlMs: number): void {
    const now = Date.now()
    this.#fences.set(key, { generation: this.#fence(key) + 1, expiresAt: now + ttlMs })
    // Expired fences are dropped in sweeps whenever the map doubled since the last one: bounded by the
    // number of invalidations in one fence ttl, like the fence keys on a Redis server.
    if (this.#fences.size >= this.#fenceSweepAt) {
      for (const [k, f] of this.#fences) if (f.expiresAt <= now) this.#fences.delete(k)
      this.#fenceSweepAt = Math.max(1024, this.#fences.size * 2)
    }
  }

  getGenerations(keys: readonly string[]): Promise<number[]> {
    return Promise.resolve(keys.map((key) => this.#generations.get(key) ?? 0))
  }

  bumpGenerations(keys: readonly string[]): Promise<InvalidationResult & { generations: number[] }> {
    const generations = keys.map((key) => {
      const next = (this.#generations.get(key) ?? 0) + 1
      this.#generations.set(key, next)
      return next
    })
    return Promise.resolve({ status: 'applied', generations })
  }

  clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence): Promise<InvalidationResult> {
    if (fence !== undefined) for (const key of fence.keys) this.#bumpFence(key, fence.ttlMs)
    for (const key of this.#entries.keys()) {
      if (key.startsWith(prefix) && (keepPrefix === undefined || !key.startsWith(keepPrefix)))
        this.#entries.delete(key)
    }
    return Promise.resolve(APPLIED)
  }

  health(): StoreHealth {
    return { state: 'ready', detail: { entries: this.#entries.size } }
  }

  /** Shared by name, so closing one cache must not empty it for the others. */
  close(): Promise<void> {
    return Promise.resolve()
  }
}
