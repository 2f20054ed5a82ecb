import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseStoreUrl, redactUrl, SCHEMES } from '../config/store-url.js'
import { TierCacheError } from '../errors.js'
import { MemoryStore } from './memory-store.js'
import type {
  BusMessage,
  BusSubscriber,
  Fence,
  FencedRead,
  InvalidationBus,
  RemoteStore,
  StoreAdapterModule,
  StoreConfig,
  StoreEntry,
  StoreHealth,
  StoreListener,
} from './remote-store.js'

/** What `createCache({ store })` accepts. */
export type StoreOption = string | StoreOptions | RemoteStore

/** Options form: `{ url, tls, password, … }`, or `{ type: 'cluster', … }` without a URL. */
export interface StoreOptions {
  url?: string
  type?: 'memory' | 'redis' | 'sentinel' | 'cluster'
  /** Node TLS options (`ca`, `cert`, `key`, `servername`, …), or true for default verification. */
  tls?: boolean | Record<string, unknown>
  username?: string
  password?: string
  [option: string]: unknown
}

const TYPE_ADAPTERS: Record<string, string> = {
  redis: '@tiercache/redis',
  sentinel: '@tiercache/sentinel',
  cluster: '@tiercache/cluster',
}

export function isRemoteStore(value: unknown): value is RemoteStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RemoteStore).get === 'function' &&
    typeof (value as RemoteStore).getMany === 'function' &&
    typeof (value as RemoteStore).bumpGenerations === 'function'
  )
}

/**
 * Turns the `store` option into a store. Synchronous: URLs are validated now (bad ones throw), adapters are
 * imported on first use. `owned` says whether closing the cache closes the store.
 */
export function resolveStore(option: StoreOption | undefined): { store: RemoteStore; owned: boolean } {
  if (option === undefined) return { store: MemoryStore.shared(''), owned: false }
  if (isRemoteStore(option)) return { store: option, owned: false }
  let config: StoreConfig
  let adapter: string
  let label: string
  if (typeof option === 'string') {
    const parsed = parseStoreUrl(option)
    if (parsed.scheme === 'memory') return { store: MemoryStore.fromUrl(parsed), owned: false }
    config = { url: option, parsed }
    adapter = SCHEMES[parsed.scheme]!.adapter
    label = redactUrl(option)
  } else if (typeof option === 'object' && option !== null) {
    if (option.url !== undefined) {
      const parsed = parseStoreUrl(option.url)
      if (parsed.scheme === 'memory') return { store: MemoryStore.fromUrl(parsed), owned: false }
      config = { ...option, parsed }
      adapter = SCHEMES[parsed.scheme]!.adapter
      label = redactUrl(option.url)
    } else if (option.type === 'memory') {
      return { store: MemoryStore.shared(String(option.name ?? '')), owned: false }
    } else if (option.type !== undefined && TYPE_ADAPTERS[option.type]) {
      config = { ...option }
      adapter = TYPE_ADAPTERS[option.type]!
      label = `{ type: '${option.type}' }`
    } else {
      throw new TierCacheError(
        'INVALID_OPTION',
        `store options need a 'url' or a 'type' (memory, redis, sentinel, cluster)`,
      )
    }
  } else {
    throw new TierCacheError('INVALID_OPTION', `store must be a URL, an options object or a store instance`)
  }
  return { store: new LazyStore(adapter, config, label), owned: true }
}

/** Imports an adapter package: first as a normal import, then from the application's folder (cwd). */
export async function importAdapter(pkg: string, label: string): Promise<StoreAdapterModule> {
  let module: Partial<StoreAdapterModule>
  try {
    module = await import(pkg)
  } catch (first) {
    if (!isNotFound(first, pkg)) throw invalidAdapter(pkg, first)
    try {
      // pnpm's strict layout hides the app's dependencies from core's own folder; the app's folder sees them.
      const resolved = createRequire(join(process.cwd(), '__tiercache_resolve__.js')).resolve(pkg)
      module = await import(pathToFileURL(resolved).href)
    } catch (second) {
      if (!isNotFound(second, pkg)) throw invalidAdapter(pkg, second)
      throw new TierCacheError(
        'ADAPTER_MISSING',
        `the store ${label} needs the package ${pkg}, which is not installed. Install it: npm install ${pkg}`,
        { cause: first },
      )
    }
  }
  if (typeof module.createStore !== 'function') throw invalidAdapter(pkg, undefined)
  return module as StoreAdapterModule
}

function isNotFound(error: unknown, pkg: string): boolean {
  const code = (error as { code?: string })?.code
  const message = String((error as Error)?.message ?? '')
  return (
    (code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'MODULE_NOT_FOUND' ||
      /Cannot find (package|module)/.test(message)) &&
    message.includes(pkg)
  )
}

function invalidAdapter(pkg: string, cause: unknown): TierCacheError {
  const reason =
    cause === undefined
      ? 'it does not export createStore()'
      : `loading it failed: ${(cause as Error)?.message ?? cause}`
  return new TierCacheError(
    'ADAPTER_INVALID',
    `the package ${pkg} is not a usable tiercache adapter: ${reason}`,
    { cause },
  )
}

/**
 * A store whose adapter is imported on first use, so `createCache` stays synchronous. Once loaded, calls go
 * straight to the real store without an extra await.
 */
class LazyStore implements RemoteStore {
  readonly kind: string
  readonly bus: InvalidationBus
  /** Known before the adapter loads: the engine lays its fence keys out once, at construction. */
  readonly slotted: boolean
  #real: RemoteStore | undefined
  #loading: Promise<RemoteStore> | undefined
  #closed = false
  readonly #adapter: string
  readonly #config: StoreConfig
  readonly #label: string
  /** The store as the user named it, credentials masked (`redis://:***@host:6379`): for `String(cache)`. */
  get label(): string {
    return this.#label
  }
  readonly #listeners = new Set<StoreListener>()
  readonly #subscriptions = new Map<
    symbol,
    { channel: string; subscriber: BusSubscriber; off?: () => void }
  >()

  constructor(adapter: string, config: StoreConfig, label: string) {
    this.#adapter = adapter
    this.#config = config
    this.#label = label
    this.kind = adapter.replace('@tiercache/', '')
    this.slotted = this.kind === 'cluster'
    this.bus = {
      publish: (channel: string, message: BusMessage) =>
        this.#load().then(
          (store) => store.bus?.publish(channel, message),
          () => undefined,
        ),
      subscribe: (channel: string, subscriber: BusSubscriber) => {
        const id = Symbol(channel)
        const entry: { channel: string; subscriber: BusSubscriber; off?: () => void } = {
          channel,
          subscriber,
        }
        this.#subscriptions.set(id, entry)
        if (this.#real) entry.off = this.#real.bus?.subscribe(channel, subscriber)
        return () => {
          this.#subscriptions.delete(id)
          entry.off?.()
        }
      },
    }
  }

  #load(): Promise<RemoteStore> {
    if (this.#real) return Promise.resolve(this.#real)
    if (this.#closed) return Promise.reject(new TierCacheError('CLOSED', 'the store was closed'))
    this.#loading ??= importAdapter(this.#adapter, this.#label).then((module) => {
      if (this.#closed) throw new TierCacheError('CLOSED', 'the store was closed')
      let real: RemoteStore
      try {
        real = module.createStore(this.#config)
      } catch (error) {
        // The adapter rejected its options: misconfiguration, which must reach the caller, never fail open.
        if (error instanceof TierCacheError) throw error
        throw new TierCacheError(
          'INVALID_OPTION',
          `${this.#adapter} rejected the store options for ${this.#label}: ${(error as Error)?.message ?? error}`,
          { cause: error },
        )
      }
      this.#real = real
      for (const listener of this.#listeners) real.observe?.(listener)
      for (const entry of this.#subscriptions.values())
        entry.off = real.bus?.subscribe(entry.channel, entry.subscriber)
      return real
    })
    return this.#loading
  }

  ready(): Promise<void> {
    return this.#load().then((store) => store.ready())
  }
  get(key: string) {
    return this.#real ? this.#real.get(key) : this.#load().then((s) => s.get(key))
  }
  getMany(keys: readonly string[]) {
    return this.#real ? this.#real.getMany(keys) : this.#load().then((s) => s.getMany(keys))
  }
  set(key: string, value: Uint8Array, ttlMs: number) {
    return this.#real ? this.#real.set(key, value, ttlMs) : this.#load().then((s) => s.set(key, value, ttlMs))
  }
  setMany(entries: readonly StoreEntry[]) {
    return this.#real ? this.#real.setMany(entries) : this.#load().then((s) => s.setMany(entries))
  }
  delete(keys: readonly string[], fence?: Fence) {
    return this.#load().then((s) => s.delete(keys, fence))
  }
  getFenced(key: string, fence: readonly string[]): Promise<FencedRead> {
    const read = (s: RemoteStore): Promise<FencedRead> =>
      s.getFenced ? s.getFenced(key, fence) : s.get(key).then((value) => ({ value, generations: [] }))
    return this.#real ? read(this.#real) : this.#load().then(read)
  }
  /** An adapter without fences writes unconditionally (what the engine does for such a store). */
  setFenced(entry: StoreEntry, fence: readonly string[], expected: readonly number[]): Promise<boolean> {
    return this.#load().then((s) =>
      s.setFenced
        ? s.setFenced(entry, fence, expected)
        : s.set(entry.key, entry.value, entry.ttlMs).then(() => true),
    )
  }
  getGenerations(keys: readonly string[]) {
    return this.#real ? this.#real.getGenerations(keys) : this.#load().then((s) => s.getGenerations(keys))
  }
  bumpGenerations(keys: readonly string[]) {
    return this.#load().then((s) => s.bumpGenerations(keys))
  }
  clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence) {
    return this.#load().then((s) => s.clearPrefix(prefix, keepPrefix, fence))
  }
  observe(listener: StoreListener): () => void {
    this.#listeners.add(listener)
    const off = this.#real?.observe?.(listener)
    return () => {
      this.#listeners.delete(listener)
      off?.()
    }
  }
  health(): StoreHealth {
    if (this.#real) return this.#real.health()
    return { state: this.#closed ? 'closed' : 'connecting', detail: { adapter: this.#adapter } }
  }
  async close(): Promise<void> {
    this.#closed = true
    const real = this.#real
    if (real) await real.close()
  }
}
