/**
 * The remote-store SPI: what a backend (memory, Redis standalone, Sentinel, Cluster) implements so the
 * two-tier engine can use it. Stores move opaque bytes; the engine owns encoding, expiry, grace and tags.
 *
 * The contract every implementation keeps:
 * - **Bounded.** Every method settles within the store's own timeouts (default ≤ 1 s for a read). A store
 *   that cannot reach its server rejects (or, for invalidations, queues); it never hangs.
 * - **Classified errors.** Transient failures reject with any error (the engine fails open on them);
 *   misconfiguration rejects with a fatal `TierCacheError` (`ADAPTER_MISSING`, `AUTH_FAILED`), which the
 *   engine passes to the caller instead of hiding it.
 * - **Invalidations are never lost.** `delete`, `bumpGenerations` and `clearPrefix` either apply or queue
 *   for replay and say which in their `InvalidationResult`.
 * - **Physical TTLs.** `ttlMs` is how long the server keeps the bytes (the engine passes ttl + grace).
 * - **Fences (no stale sets).** A store that implements `getFenced` / `setFenced` keeps the guarantee that a
 *   loader's value never outlives an invalidation that happened while the loader ran: `delete` and
 *   `clearPrefix` bump the fence keys they are given (atomically with removing the value, for `delete`), and
 *   `setFenced` writes only while the fence generations are still those `getFenced` read. A store without
 *   them still works; loaders' writes are then unconditional (documented in docs/consistency.md).
 */
export interface RemoteStore {
  /** 'memory' | 'redis' | 'sentinel' | 'cluster' | a custom name; used in telemetry (`db.system.name`). */
  readonly kind: string
  /** Resolves once the store can serve; rejects with a fatal TierCacheError on misconfiguration. */
  ready(): Promise<void>
  get(key: string): Promise<Uint8Array | undefined>
  /**
   * Values in key order; `undefined` for a missing key. Batched (one round trip per node where possible).
   * A store whose keys live on several nodes may answer {@link UNAVAILABLE} for the keys of a node it could
   * not read within the deadline, and the bytes of the others, instead of rejecting the whole batch.
   */
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined | typeof UNAVAILABLE>>
  /**
   * Rejects when the write may not have landed: the engine reports it and deletes the key instead (the
   * server may still hold the value being replaced). A store may also land it later by itself and resolve.
   */
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  /**
   * Like {@link set}. A store that wrote part of the batch rejects with an error whose `unwritten` property
   * lists the keys it did not write; only those are then deleted (otherwise all of them are).
   */
  setMany(entries: readonly StoreEntry[]): Promise<void>
  /**
   * Removes the keys. With a fence, `fence.keys[i]` (a generation key in the same slot as `keys[i]`) is
   * incremented in the same atomic step that removes `keys[i]`, and kept for `fence.ttlMs`.
   */
  delete(keys: readonly string[], fence?: Fence): Promise<InvalidationResult>
  /** Current generation of each generation key (a tag stamp); 0 where none was ever bumped. */
  getGenerations(keys: readonly string[]): Promise<number[]>
  /** Increments each generation key (INCR). `generations` holds the new values when applied. */
  bumpGenerations(keys: readonly string[]): Promise<InvalidationResult & { generations?: number[] }>
  /**
   * Removes every key that starts with `prefix`, except keys starting with `keepPrefix`. With a fence, every
   * `fence.keys` generation is incremented (kept for `fence.ttlMs`) before the first key is removed.
   */
  clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence): Promise<InvalidationResult>
  /**
   * Keys live in hash slots (Redis Cluster): keys used together in one command or script must share a slot.
   * The engine then lays fence keys out per slot (see `engine/fences.ts`).
   */
  readonly slotted?: boolean
  /**
   * The value of `key` and the generations of its fence keys (0 where absent), read in one round trip.
   * Every fence key shares `key`'s slot.
   */
  getFenced?(key: string, fence: readonly string[]): Promise<FencedRead>
  /**
   * Writes the entry only if every fence key still holds the generation in `expected` (0 = absent), atomically
   * (one script). Resolves true when written, false when refused: an invalidation happened since the read.
   * Rejects when the store cannot be reached (the engine then does not know, and does not write).
   */
  setFenced?(entry: StoreEntry, fence: readonly string[], expected: readonly number[]): Promise<boolean>
  /** The cross-process invalidation bus, where the backend has one. */
  readonly bus?: InvalidationBus
  /** Subscribe to store happenings (errors, retries, failovers, breaker changes). Returns an unsubscribe. */
  observe?(listener: StoreListener): () => void
  health(): StoreHealth
  /** Releases connections. Pending replays are given a short chance to flush. */
  close(): Promise<void>
}

/** Generation keys an invalidation bumps (see {@link RemoteStore.delete}), and how long they are kept. */
export interface Fence {
  readonly keys: readonly string[]
  readonly ttlMs: number
}

/** What {@link RemoteStore.getFenced} read. */
export interface FencedRead {
  readonly value: Uint8Array | undefined
  readonly generations: readonly number[]
}

export interface StoreEntry {
  readonly key: string
  readonly value: Uint8Array
  readonly ttlMs: number
}

/**
 * What happened to an invalidation. `queued` means the store could not apply it within its deadline and
 * will replay it when the server is back; `replayed` settles then (`'dropped'` only if the store was closed
 * first). A store whose replay queue overflows must over-invalidate (e.g. clear the namespace), never drop.
 */
export type InvalidationResult =
  | { readonly status: 'applied' }
  | { readonly status: 'queued'; readonly replayed: Promise<'applied' | 'dropped'> }

export const APPLIED: InvalidationResult = Object.freeze({ status: 'applied' })

/**
 * A per-key answer of {@link RemoteStore.getMany}: this key's node could not be read within the deadline
 * (its master is down, its circuit is open). The engine treats it like a failed single read — stale from
 * L1 within grace, else a miss — and reports it (one `error` event per batch). A store returns it only
 * when other keys of the batch were read; when nothing could be read it rejects. `Symbol.for`, so copies
 * of core loaded twice (an adapter resolving its own) still agree on it.
 */
export const UNAVAILABLE: unique symbol = Symbol.for('tiercache.unavailable')

export type StoreHealthState = 'ready' | 'connecting' | 'degraded' | 'down' | 'closed'

export interface StoreHealth {
  readonly state: StoreHealthState
  /** Circuit breaker state, where the store has one. */
  readonly circuit?: 'closed' | 'open' | 'half-open'
  /** Invalidations waiting for replay. */
  readonly queuedInvalidations?: number
  /** Free-form detail: current master, known nodes, last error. */
  readonly detail?: Readonly<Record<string, unknown>>
}

/** Messages on the invalidation bus. Keys, tag keys and prefixes are full remote keys. */
export interface BusMessage {
  /** Id of the cache instance that sent it, so an instance ignores its own messages. */
  readonly origin: string
  readonly keys?: readonly string[]
  /** Generation keys with the generation they were bumped to (-1 when unknown: drop the local copy). */
  readonly generations?: ReadonlyArray<readonly [string, number]>
  readonly prefixes?: readonly string[]
}

export interface BusSubscriber {
  onMessage(message: BusMessage): void
  /** Messages may have been missed (subscriber reconnected): drop everything local that could be stale. */
  onResync(): void
}

export interface InvalidationBus {
  /** Best effort and fail-open: resolves even when the message could not be sent (reported via observe). */
  publish(channel: string, message: BusMessage): Promise<void>
  /** Starts delivering messages on `channel`. Returns an unsubscribe. */
  subscribe(channel: string, subscriber: BusSubscriber): () => void
}

export type StoreEvent =
  | { readonly type: 'error'; readonly operation: string; readonly error: unknown }
  | { readonly type: 'retry'; readonly operation: string; readonly attempt: number; readonly error: unknown }
  | { readonly type: 'circuit'; readonly state: 'closed' | 'open' | 'half-open' }
  | { readonly type: 'failover'; readonly detail: Readonly<Record<string, unknown>> }
  | { readonly type: 'invalidation-queued'; readonly operation: string; readonly queueSize: number }
  | { readonly type: 'invalidation-replayed'; readonly count: number }
  | { readonly type: 'invalidation-overflow'; readonly dropped: number }
  | { readonly type: 'topology'; readonly detail: Readonly<Record<string, unknown>> }

export type StoreListener = (event: StoreEvent) => void

/**
 * What an adapter package exports: `createStore(config)`. `config.url` is the URL as given (if any) and
 * `config.parsed` its parsed form; the other fields are the options form (`tls`, `password`, …).
 */
export interface StoreConfig {
  readonly url?: string
  readonly parsed?: ParsedStoreUrl
  readonly [option: string]: unknown
}

export interface StoreAdapterModule {
  createStore(config: StoreConfig): RemoteStore
}

/** A store URL taken apart; produced by core so every adapter reads URLs the same way. */
export interface ParsedStoreUrl {
  /** Lower-case scheme without ':' ('redis', 'rediss', 'valkey', 'redis+sentinel', …). */
  readonly scheme: string
  readonly tls: boolean
  readonly username?: string
  readonly password?: string
  readonly hosts: ReadonlyArray<{ readonly host: string; readonly port: number }>
  /** Path without the leading '/': the db number for standalone, the master name for sentinel. */
  readonly path: string
  readonly params: Readonly<Record<string, string>>
}
