import { type Duration, optionalDuration, parseDuration, parseTimeout, parseTtl } from './duration.js'
import type { NamespaceScope, ResolvedLoad, ResolvedWrite } from './engine/two-tier-engine.js'
import { TwoTierEngine } from './engine/two-tier-engine.js'
import { TierCacheError } from './errors.js'
import type { CacheEventName, CacheListener } from './events.js'
import { assertKey, assertNamespace, DEFAULT_MAX_KEY_BYTES, isWellFormed } from './keys.js'
import { type L1Entry, LocalCache } from './l1/local-cache.js'
import {
  DEFAULT_MAX_VALUE_BYTES,
  encodeValue,
  limitSerializer,
  resolveSerializer,
  type SerializerOption,
} from './serializers/serializer.js'
import type { InvalidationResult, StoreHealth } from './store/remote-store.js'
import { resolveStore, type StoreOption } from './store/resolve-store.js'
import { telemetryActive } from './telemetry/activity.js'
import { CacheTelemetry, type TelemetryOptions } from './telemetry/cache-telemetry.js'
import { assertLogger, attachLogger, type TierCacheLogger } from './telemetry/logger.js'

export interface L1Options {
  /** Most entries kept in process (default 10,000). */
  max?: number
  /**
   * Bound on the summed encoded size of L1 entries, in bytes (default 64 MiB). An entry larger than the bound
   * is not kept in L1 (it is still written to the remote tier).
   */
  maxBytes?: number
  /** How long L1 answers before asking the remote tier again (default 30s, never beyond the entry's ttl). */
  ttl?: Duration
}

export interface LoaderTimeouts {
  /** With a stale value at hand, a loader slower than this returns the stale value and finishes in the background. */
  soft?: Duration
  /** A loader slower than this fails with LOADER_TIMEOUT (or serves stale within grace). */
  hard?: Duration
}

export interface CacheOptions {
  /** `memory://` (default), `redis://…`, `redis+sentinel://…`, `redis+cluster://…`, an options object or a store. */
  store?: StoreOption
  /** Key prefix: the value of key K lives at `namespace:K`. */
  namespace?: string
  /** Default ttl of every write (default '5m'). */
  ttl?: Duration
  /** Default grace: how long past its ttl a value may be served when the loader or remote tier fails (default 0). */
  grace?: Duration
  /** Default loader timeouts for getOrSet. */
  timeouts?: LoaderTimeouts
  /** The in-process tier; `false` turns it off. */
  l1?: false | L1Options
  /** 'msgpack' (default), 'json' or `{ encode, decode }`. */
  serializer?: SerializerOption
  /** Longest key in UTF-8 bytes (default 4096). Tags have the same bound. */
  maxKeyBytes?: number
  /**
   * Largest encoded value in bytes (default 16 MiB). A larger value is VALUE_TOO_LARGE at `set`/`setMany`;
   * `getOrSet` returns it uncached (an `error` event). Stored bytes over the limit are a miss, not decoded.
   */
  maxValueBytes?: number
  /**
   * How long an invalidation's fence is kept in the remote tier (default '1m'). A loader's value is written
   * only if no `delete`/`clear` of its key happened while it ran (no stale sets); a load that takes longer
   * than this is returned but not cached. See docs/consistency.md.
   */
  fenceTtl?: Duration
  /**
   * OpenTelemetry: spans and metrics flow whenever an SDK is registered (before or after createCache).
   * `includeKeys: true` puts keys on spans (off by default: keys can hold personal data).
   */
  telemetry?: TelemetryOptions
  /** A pino-compatible logger for store errors, failovers, circuit changes and queued invalidations. Default: none. */
  logger?: TierCacheLogger
}

export interface SetOptions {
  ttl?: Duration
  grace?: Duration
  tags?: readonly string[]
}

export interface GetOrSetOptions extends SetOptions {
  timeouts?: LoaderTimeouts
}

export interface SetManyItem<T = unknown> extends SetOptions {
  key: string
  value: T
}

/** The loader of a getOrSet: returns the value to cache (undefined is returned but not cached). */
export type Loader<T> = () => T | Promise<T>

/** A cache handle: the root from `createCache`, or a namespace of it (sharing L1, store and single-flight). */
export interface Cache {
  /** Full namespace path ('' without namespace). */
  readonly namespacePath: string
  get<T = unknown>(key: string): Promise<T | undefined>
  getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>>
  set<T>(key: string, value: T, options?: SetOptions): Promise<void>
  setMany(items: readonly SetManyItem[]): Promise<void>
  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T>
  /** Removes one key or several. Resolves `applied`, or `queued` when the store will replay it later. */
  delete(keys: string | readonly string[]): Promise<InvalidationResult>
  invalidateTags(tags: string | readonly string[]): Promise<InvalidationResult>
  /** Removes every key of this namespace (and its child namespaces). */
  clear(): Promise<InvalidationResult>
  /** A child namespace: keys live under `<this namespace>:<name>:`. */
  namespace(name: string): Cache
  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): this
  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): this
  /** Resolves once the remote tier is connected; rejects on misconfiguration (missing adapter, bad password). */
  ready(): Promise<void>
  health(): StoreHealth
  /** Closes the cache (on the root: releases the store's connections). Later calls reject with CLOSED. */
  close(): Promise<void>
}

const DEFAULT_TTL_MS = 5 * 60_000
/** Most memoised full keys per namespaced handle (≈ 100 bytes each beyond the key strings). */
const FULL_KEY_MEMO_MAX = 10_000
const DEFAULT_L1_MAX = 10_000
const DEFAULT_L1_TTL_MS = 30_000
/** Default L1 byte bound: one huge value (or many) cannot take the process's memory. */
const DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024
/** The envelope stores a tag count as a u16. */
const MAX_TAGS = 65_535
const DEFAULT_FENCE_TTL_MS = 60_000

interface Defaults {
  readonly write: ResolvedWrite
  readonly load: ResolvedLoad
  readonly maxKeyBytes: number
}

/**
 * Creates a cache. Synchronous and lazy: nothing connects until the first operation (or `ready()`).
 * Misconfiguration (unknown scheme, malformed URL, bad ttl) throws a TierCacheError here.
 */
export function createCache(options: CacheOptions = {}): Cache {
  if (typeof options !== 'object' || options === null)
    throw new TierCacheError('INVALID_OPTION', 'createCache takes an options object')
  const ttl = options.ttl === undefined ? DEFAULT_TTL_MS : parseTtl(options.ttl, 'ttl')
  assertTimeouts(options.timeouts)
  const grace = optionalDuration(options.grace, 'grace', 0)
  const soft =
    options.timeouts?.soft === undefined ? undefined : parseTimeout(options.timeouts.soft, 'timeouts.soft')
  const hard =
    options.timeouts?.hard === undefined ? undefined : parseTimeout(options.timeouts.hard, 'timeouts.hard')
  const maxKeyBytes = options.maxKeyBytes === undefined ? DEFAULT_MAX_KEY_BYTES : options.maxKeyBytes
  if (!Number.isInteger(maxKeyBytes) || maxKeyBytes <= 0)
    throw new TierCacheError('INVALID_OPTION', 'maxKeyBytes must be a positive integer')
  const maxValueBytes = options.maxValueBytes === undefined ? DEFAULT_MAX_VALUE_BYTES : options.maxValueBytes
  if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes <= 0)
    throw new TierCacheError('INVALID_OPTION', 'maxValueBytes must be a positive integer')
  const namespace = options.namespace === undefined ? '' : assertNamespace(options.namespace)
  const serializer = limitSerializer(resolveSerializer(options.serializer), maxValueBytes)
  if (
    options.telemetry !== undefined &&
    (typeof options.telemetry !== 'object' || options.telemetry === null)
  )
    throw new TierCacheError('INVALID_OPTION', 'telemetry must be { enabled?, includeKeys? }')
  const logger = options.logger === undefined ? undefined : assertLogger(options.logger)
  const l1 = createL1(options.l1)
  const { store, owned } = resolveStore(options.store)
  const rootPrefix = namespace === '' ? '' : `${namespace}:`
  const engine = new TwoTierEngine({
    store,
    ownsStore: owned,
    serializer,
    l1,
    rootPrefix,
    tagTtlMs: l1?.ttlMs ?? DEFAULT_L1_TTL_MS,
    fenceTtlMs:
      options.fenceTtl === undefined ? DEFAULT_FENCE_TTL_MS : parseTtl(options.fenceTtl, 'fenceTtl'),
  })
  if (logger !== undefined) attachLogger(engine.events, logger, namespace)
  const telemetry = new CacheTelemetry(engine, namespace, options.telemetry)
  const write: ResolvedWrite = { ttl, grace, tags: undefined }
  return new CacheHandle(
    engine,
    { write, load: { ...write, soft, hard }, maxKeyBytes },
    namespace,
    true,
    telemetry,
  )
}

function createL1(option: CacheOptions['l1']): LocalCache | undefined {
  if (option === false) return undefined
  if (option !== undefined && (typeof option !== 'object' || option === null)) {
    throw new TierCacheError('INVALID_OPTION', 'l1 must be false or { max, ttl, maxBytes }')
  }
  const max = option?.max === undefined ? DEFAULT_L1_MAX : option.max
  if (!Number.isInteger(max) || max <= 0)
    throw new TierCacheError('INVALID_OPTION', 'l1.max must be a positive integer')
  const maxBytes = option?.maxBytes === undefined ? DEFAULT_L1_MAX_BYTES : option.maxBytes
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new TierCacheError('INVALID_OPTION', 'l1.maxBytes must be a positive integer')
  }
  const ttlMs = option?.ttl === undefined ? DEFAULT_L1_TTL_MS : parseTtl(option.ttl, 'l1.ttl')
  return new LocalCache({ max, ttlMs, maxBytes })
}

class CacheHandle implements Cache {
  readonly #scope: NamespaceScope
  readonly #engine: TwoTierEngine
  readonly #defaults: Defaults
  readonly #root: boolean
  /** Used only while an OpenTelemetry SDK is registered; otherwise every method takes its plain path. */
  readonly #telemetry: CacheTelemetry
  /**
   * key → `prefix + key`, for namespaced handles. Building the full key on every L1 hit allocates a cons
   * string that the L1 lookup must flatten and hash (measured: a namespaced hit at 0.4× of an un-namespaced
   * one); a memoised full key keeps its hash. Bounded: cleared when it reaches FULL_KEY_MEMO_MAX.
   */
  readonly #fullKeys = new Map<string, string>()
  #closed = false

  constructor(
    engine: TwoTierEngine,
    defaults: Defaults,
    namespace: string,
    root: boolean,
    telemetry: CacheTelemetry,
  ) {
    this.#engine = engine
    this.#telemetry = telemetry
    this.#defaults = defaults
    this.#scope = { prefix: namespace === '' ? '' : `${namespace}:`, path: namespace }
    this.#root = root
  }

  get namespacePath(): string {
    return this.#scope.path
  }

  /** `TierCache(namespace 'billing', redis://:***@10.0.0.1:6379)`: what the cache is, never its secrets. */
  toString(): string {
    const store = this.#engine.store as { readonly label?: unknown; readonly kind: string }
    const where = typeof store.label === 'string' ? store.label : `${store.kind} store`
    return `TierCache(${this.#scope.path === '' ? 'no namespace' : `namespace '${this.#scope.path}'`}, ${where})`
  }

  toJSON(): string {
    return this.toString()
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString()
  }

  #fullKey(key: string): string {
    const prefix = this.#scope.prefix
    if (prefix === '') return key
    let full = this.#fullKeys.get(key)
    if (full === undefined) {
      if (this.#fullKeys.size >= FULL_KEY_MEMO_MAX) this.#fullKeys.clear()
      full = prefix + key
      this.#fullKeys.set(key, full)
    }
    return full
  }

  /**
   * The L1 entry of `key` if fresh. Only the key's type is checked first: a key found in L1 passed the full
   * `assertKey` when it was written (same cache, same limits), so the rest of the check — byte length, lone
   * surrogates (a ~10 ns builtin call, 8% of an L1 hit), reserved prefix — runs only on a miss, and a bad key
   * (never in L1) is still refused on every call.
   */
  #l1Hit(key: string): L1Entry | undefined {
    if (typeof key !== 'string' || key.length === 0) assertKey(key, this.#defaults.maxKeyBytes)
    return this.#engine.freshL1(this.#fullKey(key))
  }

  #assertOpen(): void {
    if (this.#closed || this.#engine.closed) throw new TierCacheError('CLOSED', 'the cache was closed')
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('get', this.#scope, key, () => this.#get<T>(key))
    return this.#get<T>(key)
  }

  /** Not async: the remote path hands back the engine's promise as is (no extra promise and await). */
  #get<T>(key: string): Promise<T | undefined> {
    let entry: L1Entry | undefined
    try {
      this.#assertOpen()
      // The L1 hit: one lookup, one comparison, no allocation beyond the returned promise.
      entry = this.#l1Hit(key)
      if (entry === undefined) assertKey(key, this.#defaults.maxKeyBytes)
      else if (this.#engine.events.has('hit'))
        this.#engine.events.emit('hit', { key, namespace: this.#scope.path, tier: 'l1' })
    } catch (error) {
      return Promise.reject(error)
    }
    if (entry !== undefined) return Promise.resolve(entry.value as T)
    return this.#engine.get(this.#scope, key) as Promise<T | undefined>
  }

  getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('getMany', this.#scope, keys, () => this.#getMany<T>(keys))
    return this.#getMany<T>(keys)
  }

  async #getMany<T>(keys: readonly string[]): Promise<Array<T | undefined>> {
    this.#assertOpen()
    if (!Array.isArray(keys)) throw new TierCacheError('INVALID_KEY', 'getMany takes an array of keys')
    if (keys.length === 0) return []
    for (const key of keys) assertKey(key, this.#defaults.maxKeyBytes)
    return (await this.#engine.getMany(this.#scope, keys)) as Array<T | undefined>
  }

  set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('set', this.#scope, key, () => this.#set(key, value, options))
    return this.#set(key, value, options)
  }

  async #set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    this.#assertOpen()
    assertKey(key, this.#defaults.maxKeyBytes)
    if (value === undefined)
      throw new TierCacheError('INVALID_OPTION', `cannot set '${key}' to undefined; use delete()`)
    await this.#engine.set(this.#scope, key, value, this.#write(options))
  }

  setMany(items: readonly SetManyItem[]): Promise<void> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('setMany', this.#scope, items, () => this.#setMany(items))
    return this.#setMany(items)
  }

  async #setMany(items: readonly SetManyItem[]): Promise<void> {
    this.#assertOpen()
    if (!Array.isArray(items))
      throw new TierCacheError('INVALID_OPTION', 'setMany takes an array of { key, value }')
    if (items.length === 0) return
    // Every item is validated and encoded before anything is written: bad input writes nothing.
    const prepared = items.map((item) => {
      if (typeof item !== 'object' || item === null)
        throw new TierCacheError('INVALID_OPTION', 'setMany items are { key, value, ttl?, tags? }')
      assertKey(item.key, this.#defaults.maxKeyBytes)
      if (item.value === undefined)
        throw new TierCacheError('INVALID_OPTION', `cannot set '${item.key}' to undefined`)
      return {
        key: item.key,
        value: item.value,
        payload: encodeValue(this.#engine.serializer, item.value),
        options: this.#write(item),
      }
    })
    await this.#engine.setMany(this.#scope, prepared)
  }

  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    if (telemetryActive() && this.#telemetry.enabled) {
      return this.#telemetry.run('getOrSet', this.#scope, key, (op) =>
        this.#getOrSet(key, this.#telemetry.wrapLoader(loader, this.#scope, key, op), options),
      )
    }
    return this.#getOrSet(key, loader, options)
  }

  async #getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    this.#assertOpen()
    // Validated before the L1 lookup: bad input must fail on every call, not only on the first miss.
    if (typeof loader !== 'function')
      throw new TierCacheError('INVALID_OPTION', 'getOrSet needs a loader function')
    const load = this.#load(options)
    const entry = this.#l1Hit(key)
    if (entry === undefined) assertKey(key, this.#defaults.maxKeyBytes)
    else {
      if (this.#engine.events.has('hit'))
        this.#engine.events.emit('hit', { key, namespace: this.#scope.path, tier: 'l1' })
      return entry.value as T
    }
    return (await this.#engine.getOrSet(this.#scope, key, loader, load)) as T
  }

  delete(keys: string | readonly string[]): Promise<InvalidationResult> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('delete', this.#scope, keys, () => this.#delete(keys))
    return this.#delete(keys)
  }

  async #delete(keys: string | readonly string[]): Promise<InvalidationResult> {
    this.#assertOpen()
    const list = typeof keys === 'string' ? [keys] : keys
    if (!Array.isArray(list))
      throw new TierCacheError('INVALID_KEY', 'delete takes a key or an array of keys')
    for (const key of list) assertKey(key, this.#defaults.maxKeyBytes)
    if (list.length === 0) return { status: 'applied' }
    return this.#engine.delete(this.#scope, list)
  }

  invalidateTags(tags: string | readonly string[]): Promise<InvalidationResult> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('invalidateTags', this.#scope, tags, () => this.#invalidateTags(tags))
    return this.#invalidateTags(tags)
  }

  async #invalidateTags(tags: string | readonly string[]): Promise<InvalidationResult> {
    this.#assertOpen()
    const list = assertTags(typeof tags === 'string' ? [tags] : tags, this.#defaults.maxKeyBytes)
    if (list === undefined || list.length === 0) return { status: 'applied' }
    return this.#engine.invalidateTags(this.#scope, list)
  }

  clear(): Promise<InvalidationResult> {
    if (telemetryActive() && this.#telemetry.enabled)
      return this.#telemetry.run('clear', this.#scope, undefined, () => this.#clear())
    return this.#clear()
  }

  async #clear(): Promise<InvalidationResult> {
    this.#assertOpen()
    return this.#engine.clear(this.#scope)
  }

  namespace(name: string): Cache
  namespace(name: string): Cache {
    this.#assertOpen()
    const child = assertNamespace(name)
    return new CacheHandle(
      this.#engine,
      this.#defaults,
      this.#scope.path === '' ? child : `${this.#scope.path}:${child}`,
      false,
      this.#telemetry,
    )
  }

  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#engine.events.on(name, listener)
    return this
  }

  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#engine.events.off(name, listener)
    return this
  }

  async ready(): Promise<void> {
    this.#assertOpen()
    await this.#engine.store.ready()
  }

  health(): StoreHealth {
    return this.#engine.closed ? { state: 'closed' } : this.#engine.store.health()
  }

  async close(): Promise<void> {
    this.#closed = true
    // A namespace handle only closes itself; the root closes the shared engine and the store it owns.
    if (this.#root) {
      this.#telemetry.detach()
      await this.#engine.close()
    }
  }

  #write(options: SetOptions | undefined): ResolvedWrite {
    if (options === undefined) return this.#defaults.write
    if (typeof options !== 'object' || options === null)
      throw new TierCacheError('INVALID_OPTION', 'options must be an object')
    const defaults = this.#defaults.write
    return {
      ttl: options.ttl === undefined ? defaults.ttl : parseTtl(options.ttl),
      grace: options.grace === undefined ? defaults.grace : parseDuration(options.grace, 'grace'),
      tags: assertTags(options.tags, this.#defaults.maxKeyBytes),
    }
  }

  #load(options: GetOrSetOptions | undefined): ResolvedLoad {
    if (options === undefined) return this.#defaults.load
    const write = this.#write(options)
    const defaults = this.#defaults.load
    const timeouts = options.timeouts
    assertTimeouts(timeouts)
    // One literal, not `{ ...write }`: the spread was the costliest step of an L1 hit with options.
    return {
      ttl: write.ttl,
      grace: write.grace,
      tags: write.tags,
      soft: timeouts?.soft === undefined ? defaults.soft : parseTimeout(timeouts.soft, 'timeouts.soft'),
      hard: timeouts?.hard === undefined ? defaults.hard : parseTimeout(timeouts.hard, 'timeouts.hard'),
    }
  }
}

/** `timeouts` is undefined or an object; anything else would be ignored silently. */
function assertTimeouts(timeouts: unknown): void {
  if (timeouts !== undefined && (typeof timeouts !== 'object' || timeouts === null))
    throw new TierCacheError('INVALID_OPTION', 'timeouts must be { soft?, hard? }')
}

function assertTags(tags: unknown, maxBytes: number): readonly string[] | undefined {
  if (tags === undefined) return undefined
  if (!Array.isArray(tags)) throw new TierCacheError('INVALID_OPTION', 'tags must be an array of strings')
  // The envelope stores the count and each tag's length as u16: beyond, it would write a corrupt entry.
  if (tags.length > MAX_TAGS)
    throw new TierCacheError('INVALID_OPTION', `at most ${MAX_TAGS} tags per entry, got ${tags.length}`)
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0)
      throw new TierCacheError('INVALID_OPTION', 'every tag must be a non-empty string')
    // A tag is a store key too (its generation); the same bounds as keys.
    if (tag.length * 3 > maxBytes && Buffer.byteLength(tag, 'utf8') > maxBytes)
      throw new TierCacheError(
        'KEY_TOO_LONG',
        `tag is ${Buffer.byteLength(tag, 'utf8')} bytes, the limit is ${maxBytes} (maxKeyBytes)`,
      )
    if (!isWellFormed(tag))
      throw new TierCacheError('INVALID_OPTION', 'a tag must not contain a lone surrogate')
  }
  return tags.length === 0 ? undefined : tags
}
