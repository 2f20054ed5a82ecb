import { createCache, type Duration, type L1Options, msgpackSerializer } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { encodeEnvelope } from '../src/engine/envelope.js'
import { TestStore } from './support/test-store.js'

function setup(l1: false | L1Options, ttl: Duration = '1h') {
  const store = new TestStore()
  const cache = createCache({ store, l1, ttl })
  return { store, cache }
}

/** Writes a value straight into the store, bypassing the cache (and its bus): what another writer left there. */
async function writeBehindTheCache(store: TestStore, key: string, value: unknown, ttlMs = 3_600_000) {
  const now = Date.now()
  const header = { expiresAt: now + ttlMs, staleUntil: now + ttlMs, tags: undefined, generations: undefined }
  await store.inner.set(key, encodeEnvelope(header, msgpackSerializer.encode(value)), ttlMs)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('L1', () => {
  it('answers repeated reads without asking the store', async () => {
    const { cache, store } = setup({})
    await cache.set('k', 1)
    store.resetCalls()
    for (let i = 0; i < 10; i++) expect(await cache.get('k')).toBe(1)
    expect(await cache.getOrSet('k', () => 2)).toBe(1)
    expect(await cache.getMany(['k'])).toEqual([1])
    expect(store.calls.get + store.calls.getMany).toBe(0)
  })

  it('remote hits are kept in L1', async () => {
    const { cache, store } = setup({})
    await writeBehindTheCache(store, 'k', 'remote')
    expect(await cache.get('k')).toBe('remote')
    expect(await cache.get('k')).toBe('remote')
    expect(store.calls.get).toBe(1)
  })

  it('is bounded by max entries (least recently used evicted first)', async () => {
    const { cache, store } = setup({ max: 3 })
    for (let i = 0; i < 5; i++) await cache.set(`k${i}`, i)
    store.resetCalls()
    expect(await cache.getMany(['k2', 'k3', 'k4'])).toEqual([2, 3, 4])
    expect(store.calls.getMany).toBe(0)
    expect(await cache.get('k0')).toBe(0) // evicted from L1, still in the store
    expect(store.calls.get).toBe(1)
    // k0 is now in L1 again, which evicted the least recently used (k2).
    expect(await cache.get('k2')).toBe(2)
    expect(store.calls.get).toBe(2)
    expect(await cache.get('k4')).toBe(4)
    expect(store.calls.get).toBe(2)
  })

  it('is bounded by maxBytes of encoded entries', async () => {
    const { cache, store } = setup({ max: 1000, maxBytes: 2_500 })
    const value = 'x'.repeat(1_000) // ~1 KiB encoded: two fit, three do not
    for (let i = 0; i < 3; i++) await cache.set(`k${i}`, value)
    store.resetCalls()
    await cache.get('k1')
    await cache.get('k2')
    expect(store.calls.get).toBe(0)
    await cache.get('k0')
    expect(store.calls.get).toBe(1)
    // An entry larger than the whole budget is never kept in L1 but is still cached remotely.
    await cache.set('huge', 'y'.repeat(5_000))
    store.resetCalls()
    expect(await cache.get('huge')).toBe('y'.repeat(5_000))
    expect(await cache.get('huge')).toBe('y'.repeat(5_000))
    expect(store.calls.get).toBe(2)
  })

  it('answers from L1 until l1.ttl, then from the store', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_000_000 })
    const { cache, store } = setup({ ttl: '10s' })
    const hits: string[] = []
    cache.on('hit', (event) => hits.push(event.tier))
    await cache.set('k', 'old')
    await writeBehindTheCache(store, 'k', 'new')
    vi.setSystemTime(1_000_000 + 9_999)
    expect(await cache.get('k')).toBe('old')
    expect(store.calls.get).toBe(0)
    vi.setSystemTime(1_000_000 + 10_000)
    expect(await cache.get('k')).toBe('new')
    expect(store.calls.get).toBe(1)
    expect(await cache.get('k')).toBe('new')
    expect(store.calls.get).toBe(1)
    expect(hits).toEqual(['l1', 'remote', 'l1'])
  })

  it('never answers from L1 past the entry ttl, even when l1.ttl is longer', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_000_000 })
    const { cache } = setup({ ttl: '1h' })
    await cache.set('k', 1, { ttl: 100 })
    vi.setSystemTime(1_000_000 + 100)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('l1: false sends every read to the store', async () => {
    const { cache, store } = setup(false)
    await cache.set('k', 1)
    for (let i = 0; i < 5; i++) expect(await cache.get('k')).toBe(1)
    expect(store.calls.get).toBe(5)
    let loads = 0
    for (let i = 0; i < 3; i++) {
      expect(
        await cache.getOrSet('k', () => {
          loads++
          return 2
        }),
      ).toBe(1)
    }
    expect(store.calls.get).toBe(8)
    expect(loads).toBe(0)
    expect(await cache.getMany(['k', 'k'])).toEqual([1, 1])
    expect(store.calls.getMany).toBe(1)
  })

  it('l1: false sees a write made behind its back immediately', async () => {
    const { cache, store } = setup(false)
    await cache.set('k', 'a')
    await writeBehindTheCache(store, 'k', 'b')
    expect(await cache.get('k')).toBe('b')
  })

  it('namespaces share one L1 without mixing keys', async () => {
    const { cache, store } = setup({ max: 10 })
    await cache.namespace('a').set('k', 'A')
    await cache.namespace('b').set('k', 'B')
    store.resetCalls()
    expect(await cache.namespace('a').get('k')).toBe('A')
    expect(await cache.namespace('b').get('k')).toBe('B')
    expect(store.calls.get).toBe(0)
  })
})
