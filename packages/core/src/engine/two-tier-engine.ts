import { randomUUID } from 'node:crypto'
import { isFatalError, isTierCacheError, TierCacheError } from '../errors.js'
import { CacheEmitter, type StaleReason } from '../events.js'
import { RESERVED_PREFIX } from '../keys.js'
import { FenceLayout } from '../keyspace/fences.js'
import type { L1Entry, LocalCache } from '../l1/local-cache.js'
import { encodeValue, type Serializer } from '../serializers/serializer.js'
import type {
  BusMessage,
  Fence,
  FencedRead,
  InvalidationResult,
  RemoteStore,
  StoreEntry,
  StoreEvent,
} from '../store/remote-store.js'
import { APPLIED, UNAVAILABLE as KEY_UNAVAILABLE } from '../store/remote-store.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'
import { InvalidationEpochs } from './invalidation-epochs.js'
import { runLoader } from './loader-runner.js'
import { TagRegistry } from './tag-registry.js'

/** Options of one write, already validated and in milliseconds. */
export interface ResolvedWrite {
  readonly ttl: number
  readonly grace: number
  readonly tags: readonly string[] | undefined
}

/** Options of one getOrSet, already validated and in milliseconds. */
export interface ResolvedLoad extends ResolvedWrite {
  readonly soft: number | undefined
  readonly hard: number | undefined
}

/** The part of a cache handle the engine needs: where its keys live. */
export interface NamespaceScope {
  /** Remote-key prefix of this namespace: 'billing:users:' (or '' without namespace). */
  readonly prefix: string
  /** Namespace path for events: 'billing:users' (or ''). */
  readonly path: string
}

type RemoteRead =
  | { readonly kind: 'hit'; readonly entry: L1Entry }
  | { readonly kind: 'stale'; readonly entry: L1Entry }
  | { readonly kind: 'miss' }
  | { readonly kind: 'unavailable' }

const MISS: RemoteRead = { kind: 'miss' }
const UNAVAILABLE: RemoteRead = { kind: 'unavailable' }

/**
 * What a loader's write is conditional on: the fence keys of its key and the generations read before the
 * loader started (undefined when that read failed: then the remote tier is not written at all).
 */
interface LoadGuard {
  readonly fence: readonly string[]
  readonly expected: readonly number[] | undefined
  /** performance.now() when the fences were read. */
  readonly readAt: number
}

/** A loader's write is skipped this long before its fences could have expired (clock and latency slack). */
const FENCE_SLACK_MS = 1_000

export interface EngineConfig {
  readonly store: RemoteStore
  readonly ownsStore: boolean
  readonly serializer: Serializer
  readonly l1: LocalCache | undefined
  /** Prefix of the root namespace ('billing:' or ''), under which `__tc:` metadata lives. */
  readonly rootPrefix: string
  /** How long known tag generations are trusted without the bus (the L1 ttl). */
  readonly tagTtlMs: number
  /** How long an invalidation's fence generations are kept: the longest load whose value can be cached. */
  readonly fenceTtlMs: number
}

/**
 * The two-tier engine shared by a cache and all its namespaces: L1 → remote store → loader, with
 * single-flight, grace, timeouts, tag generations and invalidation bookkeeping. The read path is the top of
 * this class and can be read top to bottom; the facade (`create-cache.ts`) validates input before calling in.
 */
export class TwoTierEngine {
  /** Tells this instance's bus messages apart from those of other instances, in or out of this process. */
  readonly id = randomUUID()
  readonly events = new CacheEmitter()
  readonly store: RemoteStore
  readonly l1: LocalCache | undefined
  readonly serializer: Serializer
  readonly tags: TagRegistry
  readonly rootPrefix: string
  readonly #ownsStore: boolean
  readonly #l1TtlMs: number
  readonly #inflight = new Map<string, Promise<unknown>>()
  /** Loaders still running after a soft/hard timeout answered their callers, with the epoch they started at. */
  readonly #background = new Map<
    string,
    { readonly pending: Promise<unknown>; readonly epoch: number; readonly clears: number }
  >()
  readonly #epochs = new InvalidationEpochs()
  /** Keys and prefixes whose invalidation is in flight or queued: the remote tier may still hold old bytes. */
  readonly #pendingKeys = new Map<string, number>()
  readonly #pendingPrefixes = new Map<string, number>()
  readonly #busChannel: string
  readonly #detach: Array<() => void> = []
  /** Where fence keys live; undefined for a custom store without conditional writes. */
  readonly #fences: FenceLayout | undefined
  readonly #fenceTtlMs: number
  closed = false

  constructor(config: EngineConfig) {
    this.store = config.store
    this.#ownsStore = config.ownsStore
    this.serializer = config.serializer
    this.l1 = config.l1
    this.rootPrefix = config.rootPrefix
    this.#l1TtlMs = config.l1?.ttlMs ?? 0
    this.tags = new TagRegistry(config.store, `${config.rootPrefix}${RESERVED_PREFIX}tag:`, config.tagTtlMs)
    this.#busChannel = `${config.rootPrefix}${RESERVED_PREFIX}bus`
    this.#fenceTtlMs = config.fenceTtlMs
    this.#fences =
      config.store.getFenced !== undefined && config.store.setFenced !== undefined
        ? new FenceLayout(config.rootPrefix, config.store.slotted === true)
        : undefined
    const bus = config.store.bus
    if (bus) {
      this.#detach.push(
        bus.subscribe(this.#busChannel, {
          onMessage: (message) => this.#onBusMessage(message),
          onResync: () => this.#onBusResync('bus reconnected'),
        }),
      )
    }
    const off = config.store.observe?.((event) => this.#onStoreEvent(event))
    if (off) this.#detach.push(off)
  }

  // ── Read path ────────────────────────────────────────────────────────────────────────────────────────

  /** The L1 entry for `fullKey` if it may be answered without asking anyone. The hit path: no allocation. */
  freshL1(fullKey: string): L1Entry | undefined {
    const entry = this.l1?.get(fullKey)
    if (entry === undefined || entry.freshUntil <= Date.now()) return undefined
    if (entry.tags !== undefined && this.tags.check(entry.tags, entry.generations) !== true) return undefined
    return entry
  }

  /**
   * A remote read for `cache.get`. A promise chain rather than async functions: one `.then` on the store's
   * promise instead of three async frames (the remote-hit bar counts every microtask and promise).
   */
  get(scope: NamespaceScope, key: string): Promise<unknown> {
    const fullKey = scope.prefix + key
    // The epoch guards what L1 keeps; without L1 there is nothing to guard (and no key to hash).
    const epoch = this.l1 === undefined ? 0 : this.#epochs.of(fullKey)
    const clears = this.#epochs.clears
    if (this.#isPending(fullKey))
      return Promise.resolve(this.#answerGet(MISS, fullKey, key, scope, epoch, clears))
    return this.#fetch(fullKey).then(
      (bytes) => {
        const remote = this.#settleRemote(bytes, fullKey, key, scope)
        return remote instanceof Promise
          ? remote.then((read) => this.#answerGet(read, fullKey, key, scope, epoch, clears))
          : this.#answerGet(remote, fullKey, key, scope, epoch, clears)
      },
      (error: unknown) =>
        this.#answerGet(this.#unavailable(error, key, scope), fullKey, key, scope, epoch, clears),
    )
  }

  #answerGet(
    remote: RemoteRead,
    fullKey: string,
    key: string,
    scope: NamespaceScope,
    epoch: number,
    clears: number,
  ): unknown {
    if (remote.kind === 'hit') {
      this.#remember(fullKey, remote.entry, epoch, clears)
      this.#emitHit(key, scope, 'remote')
      return remote.entry.value
    }
    if (remote.kind === 'unavailable') {
      const stale = this.#staleL1(fullKey)
      if (stale !== undefined) {
        this.#emitStale(key, scope, 'remote-unavailable')
        return stale.value
      }
    }
    if (this.events.has('miss')) this.events.emit('miss', { key, namespace: scope.path })
    return undefined
  }

  getOrSet(
    scope: NamespaceScope,
    key: string,
    loader: () => unknown,
    options: ResolvedLoad,
  ): Promise<unknown> {
    const fullKey = scope.prefix + key
    const flying = this.#inflight.get(fullKey)
    if (flying !== undefined) return flying
    const flight = this.#loadThrough(scope, fullKey, key, loader, options)
    this.#inflight.set(fullKey, flight)
    const land = () => {
      if (this.#inflight.get(fullKey) === flight) this.#inflight.delete(fullKey)
    }
    flight.then(land, land)
    return flight
  }

  async #loadThrough(
    scope: NamespaceScope,
    fullKey: string,
    key: string,
    loader: () => unknown,
    options: ResolvedLoad,
  ): Promise<unknown> {
    const epoch = this.#epochs.of(fullKey)
    const clears = this.#epochs.clears
    // Tag stamps must predate the loader (an invalidation while it runs then voids the entry): asked for
    // alongside the value, awaited before the loader, so a tagged miss costs no extra round trip.
    const stamps =
      options.tags === undefined ? undefined : this.tags.resolve(options.tags).catch(() => undefined)
    const fence = this.#fences?.fencesOf(fullKey)
    let remote: RemoteRead
    let expected: readonly number[] | undefined
    if (fence === undefined) remote = await this.#readRemote(fullKey, key, scope)
    else ({ remote, expected } = await this.#readRemoteFenced(fullKey, key, scope, fence))
    if (remote.kind === 'hit') {
      this.#remember(fullKey, remote.entry, epoch, clears)
      this.#emitHit(key, scope, 'remote')
      return remote.entry.value
    }
    const stale =
      remote.kind === 'stale'
        ? remote.entry
        : remote.kind === 'unavailable'
          ? this.#staleL1(fullKey)
          : undefined
    if (this.events.has('miss')) this.events.emit('miss', { key, namespace: scope.path })

    const generations = stamps === undefined ? undefined : await stamps
    const guard: LoadGuard | undefined =
      fence === undefined ? undefined : { fence, expected, readAt: performance.now() }
    // A loader that outlived an earlier caller's timeout is still running: join it (one loader call per key),
    // unless an invalidation since it started makes its value suspect. Its own handler reports and caches it.
    const running = this.#background.get(fullKey)
    const joined =
      running !== undefined && running.epoch === epoch && !this.#epochs.clearedSince(fullKey, running.clears)
        ? running.pending
        : undefined
    let outcome: Awaited<ReturnType<typeof runLoader>>
    try {
      outcome = await runLoader(
        joined === undefined ? loader : () => joined,
        stale === undefined ? undefined : options.soft,
        options.hard,
      )
    } catch (error) {
      if (joined === undefined && this.events.has('loaderError'))
        this.events.emit('loaderError', { key, namespace: scope.path, error })
      if (stale !== undefined) {
        this.#emitStale(key, scope, 'loader-error')
        return stale.value
      }
      throw error
    }
    // Caches what this call's loader returned, with what was read before it ran (stamps, fences, epochs).
    const cacheLoaded = (value: unknown, payload: Uint8Array | undefined) =>
      this.#cacheLoaded(scope, fullKey, key, value, options, generations, { epoch, clears }, payload, guard)
    if (outcome.kind !== 'value' && joined === undefined) {
      // The loader keeps running; when it finishes, its value is cached (unless invalidated meanwhile).
      const background = { pending: outcome.pending, epoch, clears }
      this.#background.set(fullKey, background)
      outcome.pending
        .then(
          (value) => cacheLoaded(value, undefined).catch(() => undefined),
          (error: unknown) => {
            if (this.events.has('loaderError'))
              this.events.emit('loaderError', { key, namespace: scope.path, error })
          },
        )
        .finally(() => {
          if (this.#background.get(fullKey) === background) this.#background.delete(fullKey)
        })
    }
    if (outcome.kind !== 'value') {
      if (stale !== undefined) {
        this.#emitStale(
          key,
          scope,
          outcome.kind === 'soft-timeout' ? 'loader-soft-timeout' : 'loader-hard-timeout',
        )
        return stale.value
      }
      throw new TierCacheError(
        'LOADER_TIMEOUT',
        `the loader for '${key}' did not finish within ${options.hard} ms (timeouts.hard)`,
      )
    }
    const value = outcome.value
    // A joined loader's value is cached by the caller that started it.
    if (value === undefined || joined !== undefined) return value
    let payload: Uint8Array
    try {
      payload = encodeValue(this.serializer, value)
    } catch (error) {
      // Too large to cache (maxValueBytes): the caller still gets its value, uncached, reported once per load.
      // Anything else the serializer refuses is a programming error and stays loud.
      if (!isTierCacheError(error, 'VALUE_TOO_LARGE')) throw error
      this.#emitError('getOrSet', error, key, scope)
      return value
    }
    const write = cacheLoaded(value, payload)
    // A call pays at most one remote timeout: after a failed read, the write-back goes on in the background.
    if (remote.kind === 'unavailable') write.catch(() => undefined)
    else await write
    return value
  }

  /** Reads one key from the remote tier. Never rejects, except with a fatal (misconfiguration) error. */
  #readRemote(fullKey: string, key: string, scope: NamespaceScope): Promise<RemoteRead> {
    if (this.#isPending(fullKey)) return Promise.resolve(MISS)
    return this.#fetch(fullKey).then(
      (bytes) => this.#settleRemote(bytes, fullKey, key, scope),
      (error: unknown) => this.#unavailable(error, key, scope),
    )
  }

  /** `#readRemote` plus the fence generations of the key, in the same round trip. */
  #readRemoteFenced(
    fullKey: string,
    key: string,
    scope: NamespaceScope,
    fence: readonly string[],
  ): Promise<{ remote: RemoteRead; expected: readonly number[] | undefined }> {
    if (this.#isPending(fullKey)) return Promise.resolve({ remote: MISS, expected: undefined })
    let read: Promise<FencedRead>
    try {
      read = this.store.getFenced!(fullKey, fence)
    } catch (error) {
      read = Promise.reject(error)
    }
    return read.then(
      ({ value, generations }) => {
        const remote = this.#settleRemote(value, fullKey, key, scope)
        return remote instanceof Promise
          ? remote.then((settled) => ({ remote: settled, expected: generations }))
          : { remote, expected: generations }
      },
      (error: unknown) => ({ remote: this.#unavailable(error, key, scope), expected: undefined }),
    )
  }

  /** `store.get`, with a synchronous throw of a custom store turned into a rejection. */
  #fetch(fullKey: string): Promise<Uint8Array | undefined> {
    try {
      return this.store.get(fullKey)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** A failed store read: fatal errors propagate, everything else is reported and read as unavailable. */
  #unavailable(error: unknown, key: string, scope: NamespaceScope): RemoteRead {
    if (isFatalError(error)) throw error
    this.#emitError('get', error, key, scope)
    return UNAVAILABLE
  }

  /** Stored bytes → what the read found. Synchronous unless the entry has tags to verify. */
  #settleRemote(
    bytes: Uint8Array | undefined,
    fullKey: string,
    key: string,
    scope: NamespaceScope,
  ): RemoteRead | Promise<RemoteRead> {
    if (bytes === undefined) return MISS
    const now = Date.now()
    const entry = this.#decode(bytes, key, scope, now)
    if (entry === undefined) return MISS
    if (entry.tags !== undefined) {
      return this.tags
        .verify(entry.tags, entry.generations)
        .then((valid) => (valid ? this.#classify(entry, fullKey, Date.now()) : MISS))
    }
    return this.#classify(entry, fullKey, now)
  }

  #classify(entry: L1Entry, fullKey: string, now: number): RemoteRead {
    // An invalidation may have started while we were reading; the bytes may predate it.
    if (this.#isPending(fullKey)) return MISS
    return entry.expiresAt > now ? { kind: 'hit', entry } : { kind: 'stale', entry }
  }

  /** Bytes → entry; undefined (a counted miss) for bytes that are not a tiercache entry or do not decode. */
  #decode(bytes: Uint8Array, key: string, scope: NamespaceScope, now = Date.now()): L1Entry | undefined {
    try {
      const envelope = decodeEnvelope(bytes)
      const value = this.serializer.decode(envelope.payload)
      const expiresAt = envelope.expiresAt
      return {
        value,
        expiresAt,
        staleUntil: envelope.staleUntil,
        freshUntil: Math.min(expiresAt, now + this.#l1TtlMs),
        tags: envelope.tags,
        generations: envelope.generations,
        size: bytes.length,
      }
    } catch (error) {
      this.#emitError(
        'decode',
        new TierCacheError(
          'DESERIALIZE_FAILED',
          `stored bytes for '${key}' are not a readable tiercache entry: ${(error as Error)?.message}`,
          {
            cause: error,
          },
        ),
        key,
        scope,
      )
      return undefined
    }
  }

  /** An expired L1 entry still within grace, whose tags are still valid: what fail-safe may serve. */
  #staleL1(fullKey: string): L1Entry | undefined {
    const entry = this.l1?.get(fullKey)
    if (entry === undefined || entry.staleUntil <= Date.now()) return undefined
    if (entry.tags !== undefined && this.tags.check(entry.tags, entry.generations, Date.now(), true) !== true)
      return undefined
    return entry
  }

  #remember(fullKey: string, entry: L1Entry, epoch: number, clears: number): void {
    if (this.l1 !== undefined && this.#unchanged(fullKey, epoch, clears)) this.l1.set(fullKey, entry)
  }

  /** No invalidation of `fullKey` reached this process since the snapshot (`epoch`, `clears`). */
  #unchanged(fullKey: string, epoch: number, clears: number): boolean {
    return this.#epochs.of(fullKey) === epoch && !this.#epochs.clearedSince(fullKey, clears)
  }

  // ── Batch read ───────────────────────────────────────────────────────────────────────────────────────

  async getMany(scope: NamespaceScope, keys: readonly string[]): Promise<unknown[]> {
    const values = new Array<unknown>(keys.length).fill(undefined)
    const missing: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const entry = this.freshL1(scope.prefix + keys[i]!)
      if (entry === undefined) missing.push(i)
      else {
        values[i] = entry.value
        this.#emitHit(keys[i]!, scope, 'l1')
      }
    }
    if (missing.length === 0) return values
    const fullKeys = missing.map((i) => scope.prefix + keys[i]!)
    const epochs = fullKeys.map((fullKey) => this.#epochs.of(fullKey))
    const clears = this.#epochs.clears
    // A key whose invalidation is queued when the read starts is a miss even if the replay lands before the
    // answer: the read may have been served just before the replayed DEL (seen in the Cluster soak).
    const pendingAtStart =
      this.#pendingKeys.size > 0 || this.#pendingPrefixes.size > 0
        ? fullKeys.map((fullKey) => this.#isPending(fullKey))
        : undefined
    // A key the store could not read (the whole batch, or a node of it) is served like a failed single
    // read: stale from L1 within grace, else a miss.
    const unreadable = (j: number) => {
      const key = keys[missing[j]!]!
      const stale = this.#staleL1(fullKeys[j]!)
      if (stale !== undefined) {
        values[missing[j]!] = stale.value
        this.#emitStale(key, scope, 'remote-unavailable')
      } else if (this.events.has('miss')) this.events.emit('miss', { key, namespace: scope.path })
    }
    let stored: Array<Uint8Array | undefined | typeof KEY_UNAVAILABLE>
    try {
      stored = await this.store.getMany(fullKeys)
    } catch (error) {
      if (isFatalError(error)) throw error
      this.#emitError('getMany', error, undefined, scope)
      for (let j = 0; j < missing.length; j++) unreadable(j)
      return values
    }
    let unavailable = 0
    const entries = stored.map((bytes, j) => {
      if (bytes === KEY_UNAVAILABLE) {
        unavailable++
        return undefined
      }
      return bytes === undefined ? undefined : this.#decode(bytes, keys[missing[j]!]!, scope)
    })
    if (unavailable > 0) {
      this.#emitError(
        'getMany',
        new TierCacheError(
          'STORE_UNAVAILABLE',
          `${unavailable} of ${missing.length} keys could not be read: their node is down or failing over`,
        ),
        undefined,
        scope,
      )
    }
    // One generation lookup for all tags of the batch; entries it cannot verify are misses.
    const tags = new Set<string>()
    for (const entry of entries) if (entry?.tags) for (const tag of entry.tags) tags.add(tag)
    if (tags.size > 0) await this.tags.resolve([...tags]).catch(() => undefined)
    const now = Date.now()
    for (let j = 0; j < missing.length; j++) {
      if (unavailable > 0 && stored[j] === KEY_UNAVAILABLE) {
        unreadable(j)
        continue
      }
      const entry = entries[j]
      const key = keys[missing[j]!]!
      const fullKey = fullKeys[j]!
      const valid =
        entry !== undefined &&
        entry.expiresAt > now &&
        pendingAtStart?.[j] !== true &&
        !this.#isPending(fullKey) &&
        (entry.tags === undefined || this.tags.check(entry.tags, entry.generations, now) === true)
      if (valid) {
        values[missing[j]!] = entry.value
        this.#remember(fullKey, entry, epochs[j]!, clears)
        this.#emitHit(key, scope, 'remote')
      } else if (this.events.has('miss')) this.events.emit('miss', { key, namespace: scope.path })
    }
    return values
  }

  // ── Write path ───────────────────────────────────────────────────────────────────────────────────────

  /** Caches a loader's value in L1 and the remote tier, unless an invalidation happened while it loaded. */
  async #cacheLoaded(
    scope: NamespaceScope,
    fullKey: string,
    key: string,
    value: unknown,
    options: ResolvedWrite,
    stamped: number[] | undefined,
    snapshot: { readonly epoch: number; readonly clears: number },
    payload: Uint8Array | undefined,
    guard: LoadGuard | undefined,
  ): Promise<void> {
    if (value === undefined) return
    let bytes = payload
    if (bytes === undefined) {
      try {
        bytes = encodeValue(this.serializer, value)
      } catch (error) {
        this.#emitError('set', error, key, scope)
        return
      }
    }
    // Tags whose generations could not be read cannot be stamped: such a value is not cached at all.
    if (options.tags !== undefined && stamped === undefined) return
    // Invalidated while loading: the value may predate the invalidation, so caching it would resurrect it.
    if (!this.#unchanged(fullKey, snapshot.epoch, snapshot.clears) || this.#isPending(fullKey)) return
    if (guard === undefined) await this.#write(scope, fullKey, key, value, bytes, options, stamped, false)
    else await this.#writeFenced(scope, fullKey, key, value, bytes, options, stamped, snapshot, guard)
  }

  /**
   * A loader's write where the store has fences (no stale sets): the remote tier takes it only if no
   * delete/clear of the key happened since the fences were read (one script, atomic), and L1 only if the
   * remote tier took it, no invalidation reached this process meanwhile, and the tags were not invalidated
   * (re-read alongside the write, so this costs no extra round trip).
   */
  async #writeFenced(
    scope: NamespaceScope,
    fullKey: string,
    key: string,
    value: unknown,
    payload: Uint8Array,
    options: ResolvedWrite,
    stamped: readonly number[] | undefined,
    snapshot: { readonly epoch: number; readonly clears: number },
    guard: LoadGuard,
  ): Promise<void> {
    const { bytes, entry } = this.#envelope(value, payload, options, stamped, Date.now())
    const keepLocally = () => {
      if (
        this.l1 !== undefined &&
        this.#unchanged(fullKey, snapshot.epoch, snapshot.clears) &&
        !this.#isPending(fullKey)
      )
        this.l1.set(fullKey, entry)
    }
    // The fences could not be read (the store was unreachable): the remote tier may hold an invalidation this
    // process cannot see, so only L1 takes the value, as any fail-open load.
    if (guard.expected === undefined) return keepLocally()
    // A load longer than the fences live could have missed an invalidation whose fence expired: not cached.
    if (
      performance.now() - guard.readAt >
      this.#fenceTtlMs - Math.min(FENCE_SLACK_MS, this.#fenceTtlMs / 10)
    ) {
      this.#emitDiscarded(key, scope, 'slow-load')
      return
    }
    const tagKeys = options.tags?.map((tag) => this.tags.keyOf(tag))
    let written: boolean
    let current: number[] | undefined
    try {
      ;[written, current] = await Promise.all([
        this.store.setFenced!(
          { key: fullKey, value: bytes, ttlMs: options.ttl + options.grace },
          guard.fence,
          guard.expected,
        ),
        tagKeys === undefined ? undefined : this.store.getGenerations(tagKeys).catch(() => undefined),
      ])
    } catch (error) {
      if (isFatalError(error)) {
        this.l1?.delete(fullKey)
        throw error
      }
      this.#emitError('set', error, key, scope)
      return keepLocally()
    }
    if (!written) {
      this.#emitDiscarded(key, scope, 'invalidated')
      return
    }
    if (options.tags !== undefined) {
      if (current === undefined) return
      let moved = false
      for (let i = 0; i < options.tags.length; i++) {
        this.tags.learn(options.tags[i]!, current[i]!)
        if (current[i] !== stamped?.[i]) moved = true
      }
      if (moved) {
        this.#emitDiscarded(key, scope, 'invalidated')
        return
      }
    }
    keepLocally()
  }

  /** `set`: generations are read first (known ones cost nothing), then both tiers are written. */
  async set(scope: NamespaceScope, key: string, value: unknown, options: ResolvedWrite): Promise<void> {
    const payload = encodeValue(this.serializer, value)
    const fullKey = scope.prefix + key
    this.#epochs.bump(fullKey)
    let generations: number[] | undefined
    if (options.tags !== undefined) {
      try {
        generations = await this.tags.resolve(options.tags)
      } catch (error) {
        if (isFatalError(error)) throw error
        // Unverifiable tags: drop any older copy so nothing stale is served (the remote one too), and report.
        this.l1?.delete(fullKey)
        this.#emitError('set', error, key, scope)
        this.#invalidateUnwritten(scope, [fullKey])
        return
      }
    }
    await this.#write(scope, fullKey, key, value, payload, options, generations, true)
  }

  async #write(
    scope: NamespaceScope,
    fullKey: string,
    key: string,
    value: unknown,
    payload: Uint8Array,
    options: ResolvedWrite,
    generations: readonly number[] | undefined,
    announce: boolean,
  ): Promise<void> {
    const bytes = this.#stamp(fullKey, value, payload, options, generations, Date.now())
    try {
      await this.store.set(fullKey, bytes, options.ttl + options.grace)
    } catch (error) {
      if (isFatalError(error)) {
        // Misconfigured, not sick: the write failed, so L1 must not answer later reads with its value.
        this.l1?.delete(fullKey)
        throw error
      }
      this.#emitError('set', error, key, scope)
      this.#invalidateUnwritten(scope, [fullKey])
      return
    }
    if (announce) this.#publish({ origin: this.id, keys: [fullKey] })
  }

  /** Wraps a payload in its envelope (expiry, grace, tag generations) and puts the value in L1. */
  #stamp(
    fullKey: string,
    value: unknown,
    payload: Uint8Array,
    options: ResolvedWrite,
    generations: readonly number[] | undefined,
    now: number,
  ): Uint8Array {
    const { bytes, entry } = this.#envelope(value, payload, options, generations, now)
    this.l1?.set(fullKey, entry)
    return bytes
  }

  /** The stored bytes of a value and its L1 entry. */
  #envelope(
    value: unknown,
    payload: Uint8Array,
    options: ResolvedWrite,
    generations: readonly number[] | undefined,
    now: number,
  ): { bytes: Uint8Array; entry: L1Entry } {
    const expiresAt = now + options.ttl
    const staleUntil = expiresAt + options.grace
    const bytes = encodeEnvelope({ expiresAt, staleUntil, tags: options.tags, generations }, payload)
    const entry: L1Entry = {
      value,
      expiresAt,
      staleUntil,
      freshUntil: Math.min(expiresAt, now + this.#l1TtlMs),
      tags: options.tags,
      generations,
      size: bytes.length,
    }
    return { bytes, entry }
  }

  async setMany(
    scope: NamespaceScope,
    items: ReadonlyArray<{ key: string; value: unknown; payload: Uint8Array; options: ResolvedWrite }>,
  ): Promise<void> {
    const tags = new Set<string>()
    for (const item of items) if (item.options.tags) for (const tag of item.options.tags) tags.add(tag)
    let known: Map<string, number> | undefined
    if (tags.size > 0) {
      const list = [...tags]
      try {
        const generations = await this.tags.resolve(list)
        known = new Map(list.map((tag, i) => [tag, generations[i]!]))
      } catch (error) {
        if (isFatalError(error)) throw error
        this.#emitError('setMany', error, undefined, scope)
      }
    }
    const now = Date.now()
    const entries: StoreEntry[] = []
    const fullKeys: string[] = []
    const skipped: string[] = []
    for (const { key, value, payload, options } of items) {
      const fullKey = scope.prefix + key
      this.#epochs.bump(fullKey)
      let generations: number[] | undefined
      if (options.tags !== undefined) {
        if (known === undefined) {
          this.l1?.delete(fullKey)
          skipped.push(fullKey)
          continue
        }
        generations = options.tags.map((tag) => known!.get(tag)!)
      }
      const bytes = this.#stamp(fullKey, value, payload, options, generations, now)
      entries.push({ key: fullKey, value: bytes, ttlMs: options.ttl + options.grace })
      fullKeys.push(fullKey)
    }
    // Tagged entries not written (their tags could not be verified): their older remote copies go too.
    this.#invalidateUnwritten(scope, skipped)
    if (entries.length === 0) return
    try {
      await this.store.setMany(entries)
    } catch (error) {
      if (isFatalError(error)) {
        for (const fullKey of fullKeys) this.l1?.delete(fullKey)
        throw error
      }
      this.#emitError('setMany', error, undefined, scope)
      this.#invalidateUnwritten(scope, unwrittenKeys(error, fullKeys))
      return
    }
    this.#publish({ origin: this.id, keys: fullKeys })
  }

  // ── Invalidation ─────────────────────────────────────────────────────────────────────────────────────

  async delete(scope: NamespaceScope, keys: readonly string[]): Promise<InvalidationResult> {
    const fullKeys = keys.map((key) => scope.prefix + key)
    for (const fullKey of fullKeys) {
      this.l1?.delete(fullKey)
      this.#epochs.bump(fullKey)
    }
    return this.#deleteRemote(scope, fullKeys)
  }

  /**
   * A write the remote tier did not take (after the store's own retries) may have left the value it was
   * replacing there, for other processes — and this one, once L1 lets go — to read. So the keys are deleted
   * remotely like a `delete` (fenced, retried, queued and replayed), while L1 keeps the new value; until that
   * lands, reads of the keys skip the remote tier. Not awaited: the write has already failed open.
   */
  #invalidateUnwritten(scope: NamespaceScope, fullKeys: readonly string[]): void {
    if (fullKeys.length === 0) return
    this.#deleteRemote(scope, fullKeys).catch((error: unknown) => {
      if (!this.closed) this.#emitError('delete', error, undefined, scope)
    })
  }

  /** The remote half of a delete: keys pending (reads skip the remote tier) until it is applied or replayed. */
  #deleteRemote(scope: NamespaceScope, fullKeys: readonly string[]): Promise<InvalidationResult> {
    for (const fullKey of fullKeys) this.#pendingKeys.set(fullKey, (this.#pendingKeys.get(fullKey) ?? 0) + 1)
    const settle = () => {
      for (const fullKey of fullKeys) decrement(this.#pendingKeys, fullKey)
    }
    const fence: Fence | undefined =
      this.#fences === undefined
        ? undefined
        : { keys: fullKeys.map((fullKey) => this.#fences!.keyFence(fullKey)), ttlMs: this.#fenceTtlMs }
    return this.#invalidate(
      'delete',
      scope,
      () => (fence === undefined ? this.store.delete(fullKeys) : this.store.delete(fullKeys, fence)),
      settle,
      () => ({ origin: this.id, keys: fullKeys }),
    )
  }

  async invalidateTags(scope: NamespaceScope, tags: readonly string[]): Promise<InvalidationResult> {
    const unique = [...new Set(tags)]
    // No epoch moves: a tagged entry carries its tags' generations from before its load, checked on every read.
    for (const tag of unique) this.tags.beginInvalidation(tag)
    const genKeys = unique.map((tag) => this.tags.keyOf(tag))
    let applied: number[] | undefined
    const settle = () => {
      for (let i = 0; i < unique.length; i++) {
        // A replayed bump's generation is not known here: forget anything learned meanwhile (the bus may
        // have told of an older generation while ours waited in the queue).
        if (applied !== undefined) this.tags.learn(unique[i]!, applied[i]!)
        else this.tags.forget(unique[i]!)
        this.tags.endInvalidation(unique[i]!)
      }
    }
    return this.#invalidate(
      'invalidateTags',
      scope,
      async () => {
        const result = await this.store.bumpGenerations(genKeys)
        if (result.status === 'applied' && result.generations !== undefined) applied = result.generations
        return result
      },
      settle,
      () => ({
        origin: this.id,
        generations: genKeys.map((genKey, i): readonly [string, number] => [genKey, applied?.[i] ?? -1]),
      }),
    )
  }

  async clear(scope: NamespaceScope): Promise<InvalidationResult> {
    const prefix = scope.prefix
    this.l1?.deletePrefix(prefix)
    this.#epochs.clear(prefix)
    this.#pendingPrefixes.set(prefix, (this.#pendingPrefixes.get(prefix) ?? 0) + 1)
    const keep = `${this.rootPrefix}${RESERVED_PREFIX}`
    const fence: Fence | undefined =
      this.#fences === undefined
        ? undefined
        : { keys: this.#fences.clearFences(prefix), ttlMs: this.#fenceTtlMs }
    return this.#invalidate(
      'clear',
      scope,
      () =>
        fence === undefined
          ? this.store.clearPrefix(prefix, keep)
          : this.store.clearPrefix(prefix, keep, fence),
      () => decrement(this.#pendingPrefixes, prefix),
      () => ({ origin: this.id, prefixes: [prefix] }),
    )
  }

  /**
   * The shared shape of delete / invalidateTags / clear: apply through the store, announce on the bus, and
   * when the store queued it, keep it pending until the replay lands, then announce again (other processes
   * may have re-read the old value while the store was away).
   */
  async #invalidate(
    operation: 'delete' | 'invalidateTags' | 'clear',
    scope: NamespaceScope,
    apply: () => Promise<InvalidationResult>,
    settle: () => void,
    message: () => BusMessage,
  ): Promise<InvalidationResult> {
    let result: InvalidationResult
    try {
      result = await apply()
    } catch (error) {
      settle()
      throw error
    }
    if (result.status === 'applied') {
      settle()
      this.#publish(message())
      return APPLIED
    }
    if (this.events.has('invalidationQueued'))
      this.events.emit('invalidationQueued', { operation, namespace: scope.path })
    result.replayed.then((outcome) => {
      settle()
      this.#epochs.bumpAll()
      this.#publish(message())
      if (this.events.has('invalidationReplayed')) {
        this.events.emit('invalidationReplayed', { operation, namespace: scope.path, outcome })
      }
    })
    return result
  }

  #isPending(fullKey: string): boolean {
    if (this.#pendingKeys.size > 0 && this.#pendingKeys.has(fullKey)) return true
    if (this.#pendingPrefixes.size > 0)
      for (const prefix of this.#pendingPrefixes.keys()) if (fullKey.startsWith(prefix)) return true
    return false
  }

  // ── Bus and store events ─────────────────────────────────────────────────────────────────────────────

  #publish(message: BusMessage): void {
    const bus = this.store.bus
    if (bus === undefined) return
    bus.publish(this.#busChannel, message).catch((error: unknown) => this.#emitError('publish', error))
  }

  #onBusMessage(message: BusMessage): void {
    if (message.origin === this.id || this.closed) return
    // Keys and prefixes move only their own epochs: bumping all on every remote set would keep any load in
    // this process from being cached while another process writes unrelated keys. Tags move none (see
    // invalidateTags).
    if (message.keys) {
      for (const key of message.keys) {
        this.l1?.delete(key)
        this.#epochs.bump(key)
      }
    }
    if (message.prefixes) {
      for (const prefix of message.prefixes) {
        this.l1?.deletePrefix(prefix)
        this.#epochs.clear(prefix)
      }
    }
    if (message.generations) {
      for (const [genKey, generation] of message.generations) {
        const tag = this.tags.tagOf(genKey)
        if (tag !== undefined) this.tags.learn(tag, generation)
      }
    }
  }

  #onBusResync(reason: string): void {
    this.l1?.clear()
    this.tags.clear()
    this.#epochs.bumpAll()
    if (this.events.has('resync')) this.events.emit('resync', { reason })
  }

  #onStoreEvent(event: StoreEvent): void {
    const events = this.events
    if (events.has('store')) events.emit('store', event)
    switch (event.type) {
      case 'error':
        this.#emitError(event.operation, event.error)
        break
      case 'retry':
        if (events.has('retry'))
          events.emit('retry', { operation: event.operation, attempt: event.attempt, error: event.error })
        break
      case 'circuit':
        if (events.has('circuit')) events.emit('circuit', { state: event.state })
        break
      case 'failover':
        if (events.has('failover')) events.emit('failover', { detail: event.detail })
        break
    }
  }

  #emitHit(key: string, scope: NamespaceScope, tier: 'l1' | 'remote'): void {
    if (this.events.has('hit')) this.events.emit('hit', { key, namespace: scope.path, tier })
  }

  /** A loaded value that was returned to its caller but not cached (see `loadDiscarded`). */
  #emitDiscarded(key: string, scope: NamespaceScope, reason: 'invalidated' | 'slow-load'): void {
    if (this.events.has('loadDiscarded'))
      this.events.emit('loadDiscarded', { key, namespace: scope.path, reason })
  }

  #emitStale(key: string, scope: NamespaceScope, reason: StaleReason): void {
    if (this.events.has('stale')) this.events.emit('stale', { key, namespace: scope.path, reason })
  }

  #emitError(operation: string, error: unknown, key?: string, scope?: NamespaceScope): void {
    if (!this.events.has('error')) return
    this.events.emit('error', {
      operation,
      error,
      ...(key !== undefined ? { key } : {}),
      ...(scope !== undefined ? { namespace: scope.path } : {}),
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const detach of this.#detach) detach()
    this.l1?.clear()
    if (this.#ownsStore) await this.store.close()
  }
}

/**
 * The keys a failed `setMany` did not write: the ones the store names (a Cluster store writes each master's
 * share on its own and lists the rest in the error's `unwritten`), else all of them.
 */
function unwrittenKeys(error: unknown, fullKeys: readonly string[]): readonly string[] {
  const unwritten = (error as { unwritten?: unknown } | null)?.unwritten
  return Array.isArray(unwritten) && unwritten.every((key) => typeof key === 'string') ? unwritten : fullKeys
}

function decrement(map: Map<string, number>, key: string): void {
  const count = (map.get(key) ?? 1) - 1
  if (count <= 0) map.delete(key)
  else map.set(key, count)
}
