import { createCache, MemoryStore, TierCacheError } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sleep } from './support/test-store.js'

const T0 = 1_700_000_000_000

/** Freezes Date at T0 (timers stay real, so loader timeouts still run); `at(ms)` moves the clock. */
function clock() {
  vi.useFakeTimers({ toFake: ['Date'], now: T0 })
  return (ms: number) => vi.setSystemTime(T0 + ms)
}

afterEach(() => {
  vi.useRealTimers()
})

function recordEvents(cache: ReturnType<typeof createCache>) {
  const events: Array<[string, unknown]> = []
  cache.on('stale', (e) => events.push(['stale', e.reason]))
  cache.on('loaderError', (e) => events.push(['loaderError', e.error]))
  cache.on('miss', () => events.push(['miss', undefined]))
  cache.on('hit', (e) => events.push(['hit', e.tier]))
  return events
}

describe('expiry', () => {
  it('a value expires after its ttl (short real ttl)', async () => {
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('k', 1, { ttl: 50 })
    expect(await cache.get('k')).toBe(1)
    await sleep(70)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('expires exactly at ttl, in L1 and in the store', async () => {
    const at = clock()
    const store = new MemoryStore()
    const cache = createCache({ store })
    const remoteOnly = createCache({ store, l1: false })
    await cache.set('k', 1, { ttl: '1s' })
    at(999)
    expect(await cache.get('k')).toBe(1)
    expect(await remoteOnly.get('k')).toBe(1)
    at(1_000)
    expect(await cache.get('k')).toBeUndefined()
    expect(await remoteOnly.get('k')).toBeUndefined()
  })

  it('getOrSet loads again after expiry', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore(), ttl: '1m' })
    let calls = 0
    const loader = () => ++calls
    expect(await cache.getOrSet('k', loader)).toBe(1)
    at(59_999)
    expect(await cache.getOrSet('k', loader)).toBe(1)
    at(60_000)
    expect(await cache.getOrSet('k', loader)).toBe(2)
  })

  it('the store keeps the bytes for ttl + grace, then drops them', async () => {
    const at = clock()
    const store = new MemoryStore()
    const cache = createCache({ store })
    await cache.set('k', 1, { ttl: '1s', grace: '10s' })
    at(10_999)
    expect(await store.get('k')).toBeDefined()
    at(11_000)
    expect(await store.get('k')).toBeUndefined()
  })
})

describe('grace (fail-safe)', () => {
  it('serves the expired value when the loader throws, with stale + loaderError events', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore() })
    expect(await cache.getOrSet('k', () => 'v1', { ttl: '1s', grace: '1h' })).toBe('v1')
    at(5_000)
    const events = recordEvents(cache)
    const error = new Error('db down')
    const value = await cache.getOrSet(
      'k',
      () => {
        throw error
      },
      { ttl: '1s', grace: '1h' },
    )
    expect(value).toBe('v1')
    expect(events).toEqual([
      ['miss', undefined],
      ['loaderError', error],
      ['stale', 'loader-error'],
    ])
  })

  it('a plain get does not serve an expired value (grace is for failures)', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('k', 'v1', { ttl: '1s', grace: '1h' })
    at(2_000)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('serves stale from the remote tier too (another instance, L1 off)', async () => {
    const at = clock()
    const store = new MemoryStore()
    await createCache({ store }).set('k', 'v1', { ttl: '1s', grace: '1h' })
    at(2_000)
    const other = createCache({ store, l1: false })
    expect(
      await other.getOrSet('k', () => {
        throw new Error('x')
      }),
    ).toBe('v1')
  })

  it('is not served past grace: the loader error reaches the caller unchanged', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('k', 'v1', { ttl: '1s', grace: '10s' })
    at(10_999)
    const error = new Error('db down')
    const failing = () => Promise.reject(error)
    expect(await cache.getOrSet('k', failing)).toBe('v1')
    at(11_000)
    await expect(cache.getOrSet('k', failing)).rejects.toBe(error)
  })

  it('without grace, a failed refresh of an expired value is an error', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('k', 'v1', { ttl: '1s' })
    at(1_001)
    const error = new Error('x')
    await expect(cache.getOrSet('k', () => Promise.reject(error))).rejects.toBe(error)
  })

  it('the createCache grace is the default', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore(), grace: '1h', ttl: '1s' })
    await cache.set('k', 'v1')
    at(30 * 60_000)
    expect(await cache.getOrSet('k', () => Promise.reject(new Error('x')))).toBe('v1')
  })

  it('a successful refresh replaces the stale value', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore(), grace: '1h' })
    await cache.set('k', 'v1', { ttl: '1s' })
    at(2_000)
    expect(await cache.getOrSet('k', () => 'v2', { ttl: '1s' })).toBe('v2')
    expect(await cache.get('k')).toBe('v2')
  })
})

describe('loader timeouts', () => {
  it('soft timeout: a slow loader with a stale value at hand returns stale, and the background refresh lands', async () => {
    const at = clock()
    const store = new MemoryStore()
    const cache = createCache({ store, grace: '1h' })
    await cache.set('k', 'old', { ttl: '1s' })
    at(2_000)
    const events = recordEvents(cache)
    let finished = false
    const started = performance.now()
    const value = await cache.getOrSet(
      'k',
      async () => {
        await sleep(150)
        finished = true
        return 'new'
      },
      { ttl: '1m', timeouts: { soft: 20 } },
    )
    expect(value).toBe('old')
    expect(performance.now() - started).toBeLessThan(120)
    expect(finished).toBe(false)
    expect(events).toContainEqual(['stale', 'loader-soft-timeout'])
    await vi.waitFor(() => expect(finished).toBe(true), { timeout: 2_000 })
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('new'), { timeout: 1_000 })
    expect(await createCache({ store, l1: false }).get('k')).toBe('new')
  })

  it('soft timeout does not apply without a stale value: the caller waits for the loader', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const value = await cache.getOrSet(
      'k',
      async () => {
        await sleep(60)
        return 'v'
      },
      { timeouts: { soft: 5 } },
    )
    expect(value).toBe('v')
  })

  it('hard timeout without a stale value rejects LOADER_TIMEOUT; the late value is still cached', async () => {
    const cache = createCache({ store: new MemoryStore() })
    let finished = false
    const started = performance.now()
    const error = await cache
      .getOrSet(
        'k',
        async () => {
          await sleep(150)
          finished = true
          return 'late'
        },
        { timeouts: { hard: 20 } },
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TierCacheError)
    expect(error).toMatchObject({ code: 'LOADER_TIMEOUT' })
    expect((error as Error).message).toContain("'k'")
    expect(performance.now() - started).toBeLessThan(120)
    expect(finished).toBe(false)
    await vi.waitFor(() => expect(finished).toBe(true), { timeout: 2_000 })
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('late'), { timeout: 1_000 })
  })

  it('hard timeout with a stale value within grace serves stale', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore(), grace: '1h' })
    await cache.set('k', 'old', { ttl: '1s' })
    at(2_000)
    const events = recordEvents(cache)
    const value = await cache.getOrSet('k', () => sleep(150).then(() => 'new'), { timeouts: { hard: 20 } })
    expect(value).toBe('old')
    expect(events).toContainEqual(['stale', 'loader-hard-timeout'])
  })

  it('createCache timeouts are the default', async () => {
    const cache = createCache({ store: new MemoryStore(), timeouts: { hard: 20 } })
    await expect(cache.getOrSet('k', () => sleep(100).then(() => 1))).rejects.toMatchObject({
      code: 'LOADER_TIMEOUT',
    })
  })

  it('a loader that fails after its hard timeout reports loaderError and caches nothing', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const late = new Error('late failure')
    const seen: unknown[] = []
    cache.on('loaderError', (e) => seen.push(e.error))
    await expect(
      cache.getOrSet('k', () => sleep(60).then(() => Promise.reject(late)), { timeouts: { hard: 10 } }),
    ).rejects.toMatchObject({ code: 'LOADER_TIMEOUT' })
    await vi.waitFor(() => expect(seen).toEqual([late]), { timeout: 2_000 })
    expect(store.size).toBe(0)
  })

  it('a fast loader is unaffected by its timeouts (no stray timers keep firing)', async () => {
    const cache = createCache({ store: new MemoryStore() })
    expect(await cache.getOrSet('k', async () => 'fast', { timeouts: { soft: 50, hard: 100 } })).toBe('fast')
  })

  it('while a timed-out loader is still running, later callers join it instead of calling the loader again', async () => {
    const at = clock()
    const cache = createCache({ store: new MemoryStore(), grace: '1h' })
    await cache.set('k', 'old', { ttl: '1s' })
    at(2_000)
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(200)
      return 'new'
    }
    const options = { timeouts: { soft: 10 } }
    expect(await cache.getOrSet('k', loader, options)).toBe('old')
    expect(await cache.getOrSet('k', loader, options)).toBe('old')
    expect(await cache.getOrSet('k', loader, options)).toBe('old')
    expect(calls).toBe(1)
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('new'), { timeout: 2_000 })
    expect(calls).toBe(1)
  })

  it('after LOADER_TIMEOUT, a retry joins the still-running loader', async () => {
    const cache = createCache({ store: new MemoryStore() })
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(150)
      return 'v'
    }
    await expect(cache.getOrSet('k', loader, { timeouts: { hard: 10 } })).rejects.toMatchObject({
      code: 'LOADER_TIMEOUT',
    })
    expect(await cache.getOrSet('k', loader)).toBe('v')
    expect(calls).toBe(1)
  })
})
