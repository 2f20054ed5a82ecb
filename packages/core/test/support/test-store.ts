import {
  type InvalidationResult,
  MemoryStore,
  type RemoteStore,
  type StoreEntry,
  type StoreHealth,
  type StoreListener,
  UNAVAILABLE,
} from '@tiercache/core'

export type StoreMethod =
  | 'get'
  | 'getMany'
  | 'set'
  | 'setMany'
  | 'delete'
  | 'getGenerations'
  | 'bumpGenerations'
  | 'clearPrefix'

let counter = 0

/** A store name no other test uses, so tests never share state through `memory://<name>`. */
export function uniqueName(label = 't'): string {
  counter++
  return `${label}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}

export const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * A test-only store: a MemoryStore with call counting and fault injection (reject, or hang for a bounded
 * time and then reject), so the engine's fail-open paths are exercised without a real server.
 */
export class TestStore implements RemoteStore {
  readonly kind = 'test'
  readonly inner: MemoryStore
  readonly calls: Record<StoreMethod, number> = {
    get: 0,
    getMany: 0,
    set: 0,
    setMany: 0,
    delete: 0,
    getGenerations: 0,
    bumpGenerations: 0,
    clearPrefix: 0,
  }
  readonly #failing = new Set<StoreMethod>()
  #hangMs = 0
  /** Replaces the result of invalidations (delete, bumpGenerations, clearPrefix) after the inner store applied them. */
  invalidationResult: (() => InvalidationResult) | undefined
  /** Holds the inner call back until this resolves: lets a test order events precisely. */
  gate: Partial<Record<StoreMethod, Promise<void>>> = {}
  /** Runs the inner call at once but holds its answer back until this resolves (a slow reply in flight). */
  holdReply: Partial<Record<StoreMethod, Promise<void>>> = {}
  /**
   * Keys (full remote keys) whose node is "down": `getMany` answers UNAVAILABLE for them and the inner
   * store's bytes for the others, as a multi-node store does when one of its nodes cannot be read.
   */
  unavailable: ((key: string) => boolean) | undefined
  readonly #listeners = new Set<StoreListener>()

  constructor(inner: MemoryStore = new MemoryStore()) {
    this.inner = inner
  }

  get bus() {
    return this.inner.bus
  }

  /** Makes these methods reject with a fresh Error (after `hangMs`, to model a slow failure). */
  fail(methods: readonly StoreMethod[] | 'all', hangMs = 0): void {
    const list: readonly StoreMethod[] =
      methods === 'all' ? (Object.keys(this.calls) as StoreMethod[]) : methods
    for (const method of list) this.#failing.add(method)
    this.#hangMs = hangMs
  }

  heal(): void {
    this.#failing.clear()
  }

  resetCalls(): void {
    for (const key of Object.keys(this.calls) as StoreMethod[]) this.calls[key] = 0
  }

  async #call<T>(method: StoreMethod, run: () => Promise<T>): Promise<T> {
    this.calls[method]++
    if (this.#failing.has(method)) {
      if (this.#hangMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#hangMs))
      throw new Error(`injected ${method} failure`)
    }
    const gate = this.gate[method]
    if (gate) await gate
    const result = await run()
    const hold = this.holdReply[method]
    if (hold) await hold
    return result
  }

  ready(): Promise<void> {
    return Promise.resolve()
  }
  get(key: string) {
    return this.#call('get', () => this.inner.get(key))
  }
  getMany(keys: readonly string[]) {
    return this.#call('getMany', async (): Promise<Array<Uint8Array | undefined | typeof UNAVAILABLE>> => {
      const values = await this.inner.getMany(keys)
      const down = this.unavailable
      return down === undefined ? values : values.map((value, i) => (down(keys[i]!) ? UNAVAILABLE : value))
    })
  }
  set(key: string, value: Uint8Array, ttlMs: number) {
    return this.#call('set', () => this.inner.set(key, value, ttlMs))
  }
  setMany(entries: readonly StoreEntry[]) {
    return this.#call('setMany', () => this.inner.setMany(entries))
  }
  delete(keys: readonly string[]) {
    return this.#call('delete', async () => this.#rewrite(await this.inner.delete(keys)))
  }
  getGenerations(keys: readonly string[]) {
    return this.#call('getGenerations', () => this.inner.getGenerations(keys))
  }
  bumpGenerations(keys: readonly string[]) {
    return this.#call('bumpGenerations', async () => {
      const result = await this.inner.bumpGenerations(keys)
      return this.invalidationResult ? this.invalidationResult() : result
    })
  }
  clearPrefix(prefix: string, keepPrefix?: string) {
    return this.#call('clearPrefix', async () =>
      this.#rewrite(await this.inner.clearPrefix(prefix, keepPrefix)),
    )
  }
  #rewrite(result: InvalidationResult): InvalidationResult {
    return this.invalidationResult ? this.invalidationResult() : result
  }
  observe(listener: StoreListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
  /** Emits a store event to the cache(s) observing this store. */
  emitStoreEvent(event: Parameters<StoreListener>[0]): void {
    for (const listener of this.#listeners) listener(event)
  }
  health(): StoreHealth {
    return { state: 'ready' }
  }
  close(): Promise<void> {
    return Promise.resolve()
  }
}

/** A queued invalidation whose replay the test settles by hand. */
export function queuedResult(): {
  result: () => InvalidationResult
  replay: (outcome?: 'applied' | 'dropped') => void
} {
  let replay!: (outcome: 'applied' | 'dropped') => void
  const replayed = new Promise<'applied' | 'dropped'>((resolve) => {
    replay = resolve
  })
  return {
    result: () => ({ status: 'queued', replayed }),
    replay: (outcome = 'applied') => replay(outcome),
  }
}
