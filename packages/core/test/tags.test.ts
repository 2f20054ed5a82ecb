import { createCache, MemoryStore } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sleep, TestStore, tick, uniqueName } from './support/test-store.js'

const T0 = 1_700_000_000_000

afterEach(() => {
  vi.useRealTimers()
})

describe('tags', () => {
  it('invalidateTags makes tagged entries misses, in L1 and in the store; others stay', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const remoteOnly = createCache({ store, l1: false })
    await cache.set('a', 1, { tags: ['org:7'] })
    await cache.set('b', 2, { tags: ['org:8'] })
    await cache.set('c', 3)
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([1, 2, 3])
    expect(await cache.invalidateTags(['org:7'])).toEqual({ status: 'applied' })
    expect(await cache.get('a')).toBeUndefined()
    expect(await remoteOnly.get('a')).toBeUndefined()
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, 2, 3])
    expect(await remoteOnly.getMany(['a', 'b', 'c'])).toEqual([undefined, 2, 3])
  })

  it('accepts one tag as a string, and [] as a no-op', async () => {
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('a', 1, { tags: ['t'] })
    expect(await cache.invalidateTags([])).toEqual({ status: 'applied' })
    expect(await cache.get('a')).toBe(1)
    await cache.invalidateTags('t')
    expect(await cache.get('a')).toBeUndefined()
  })

  it('an entry with two tags is invalidated by either', async () => {
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('x', 1, { tags: ['t1', 't2'] })
    await cache.set('y', 2, { tags: ['t1', 't2'] })
    await cache.invalidateTags('t2')
    expect(await cache.get('x')).toBeUndefined()
    await cache.invalidateTags('t1')
    expect(await cache.get('y')).toBeUndefined()
  })

  it('getOrSet with tags: after invalidation the loader runs again, and the new value is valid', async () => {
    const cache = createCache({ store: new MemoryStore() })
    let calls = 0
    const load = () => cache.getOrSet('k', () => ++calls, { tags: ['t'] })
    expect(await load()).toBe(1)
    expect(await load()).toBe(1)
    await cache.invalidateTags('t')
    expect(await load()).toBe(2)
    expect(await load()).toBe(2)
    await cache.invalidateTags('other')
    expect(await load()).toBe(2)
  })

  it('a value set again after its tag was invalidated is served', async () => {
    const cache = createCache({ store: new MemoryStore() })
    await cache.set('k', 1, { tags: ['t'] })
    await cache.invalidateTags('t')
    await cache.set('k', 2, { tags: ['t'] })
    expect(await cache.get('k')).toBe(2)
    expect(await createCache({ store: new MemoryStore() }).get('k')).toBeUndefined()
  })

  it('setMany with tags is invalidated like set', async () => {
    const cache = createCache({ store: new MemoryStore() })
    await cache.setMany([
      { key: 'a', value: 1, tags: ['t'] },
      { key: 'b', value: 2, tags: ['u'] },
    ])
    await cache.invalidateTags('t')
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, 2])
  })

  it('across two cache instances on one memory store: the other instance sees it via the bus', async () => {
    const name = uniqueName('tags')
    const a = createCache({ store: `memory://${name}` })
    const b = createCache({ store: `memory://${name}` })
    const bRemote = createCache({ store: `memory://${name}`, l1: false })
    await a.set('k', 'v', { tags: ['org:7'] })
    expect(await b.get('k')).toBe('v') // now in b's L1
    expect(await bRemote.get('k')).toBe('v')
    await a.invalidateTags('org:7')
    await tick()
    expect(await b.get('k')).toBeUndefined()
    expect(await bRemote.get('k')).toBeUndefined()
    expect(await b.getMany(['k'])).toEqual([undefined])
  })

  it('tags are scoped to the root namespace of a cache: another cache on the same store is unaffected', async () => {
    const store = new MemoryStore()
    const billing = createCache({ store, namespace: 'billing' })
    const users = createCache({ store, namespace: 'users' })
    await billing.set('k', 1, { tags: ['t'] })
    await users.set('k', 2, { tags: ['t'] })
    await billing.invalidateTags('t')
    expect(await billing.get('k')).toBeUndefined()
    expect(await users.get('k')).toBe(2)
  })
})

describe('invalidated means gone (never served as stale, even within grace)', () => {
  async function setupStale() {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const store = new TestStore()
    const cache = createCache({ store, grace: '1h' })
    await cache.set('k', 'old', { ttl: '1s', tags: ['t'] })
    const failing = () => Promise.reject(new Error('db down'))
    return { store, cache, failing }
  }

  it.each([
    ['delete', (cache: ReturnType<typeof createCache>) => cache.delete('k')],
    ['invalidateTags', (cache: ReturnType<typeof createCache>) => cache.invalidateTags('t')],
    ['clear', (cache: ReturnType<typeof createCache>) => cache.clear()],
  ])('after %s, a failing loader is an error, not the old value', async (_name, invalidate) => {
    const { cache, failing } = await setupStale()
    await invalidate(cache)
    vi.setSystemTime(T0 + 5_000)
    await expect(cache.getOrSet('k', failing)).rejects.toThrow('db down')
  })

  it.each([
    ['delete', (cache: ReturnType<typeof createCache>) => cache.delete('k')],
    ['invalidateTags', (cache: ReturnType<typeof createCache>) => cache.invalidateTags('t')],
    ['clear', (cache: ReturnType<typeof createCache>) => cache.clear()],
  ])('after %s, a failing remote tier is a miss, not the old value', async (_name, invalidate) => {
    const { cache, store, failing } = await setupStale()
    await invalidate(cache)
    vi.setSystemTime(T0 + 5_000)
    store.fail(['get', 'getMany', 'getGenerations'])
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['k'])).toEqual([undefined])
    await expect(cache.getOrSet('k', failing)).rejects.toThrow('db down')
  })

  it.each([
    ['delete', (cache: ReturnType<typeof createCache>) => cache.delete('k')],
    ['invalidateTags', (cache: ReturnType<typeof createCache>) => cache.invalidateTags('t')],
    ['clear', (cache: ReturnType<typeof createCache>) => cache.clear()],
  ])(
    'after %s in another instance, this instance does not serve its stale L1 copy',
    async (_name, invalidate) => {
      vi.useFakeTimers({ toFake: ['Date'], now: T0 })
      const name = uniqueName('gone')
      const a = createCache({ store: `memory://${name}`, grace: '1h' })
      const b = createCache({ store: `memory://${name}`, grace: '1h' })
      await a.set('k', 'old', { ttl: '1s', tags: ['t'] })
      expect(await b.get('k')).toBe('old')
      await invalidate(a)
      await tick()
      vi.setSystemTime(T0 + 5_000)
      await expect(b.getOrSet('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down')
    },
  )

  it('within grace and not invalidated, the same setup does serve stale (control)', async () => {
    const { cache, store, failing } = await setupStale()
    vi.setSystemTime(T0 + 5_000)
    expect(await cache.getOrSet('k', failing)).toBe('old')
    store.fail(['get'])
    expect(await cache.get('k')).toBe('old')
  })
})

describe('invalidation while a loader runs (epochs)', () => {
  async function slowLoad(cache: ReturnType<typeof createCache>, tags?: string[]) {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const result = cache.getOrSet(
      'k',
      async () => {
        await gate
        return 'loaded-before-invalidation'
      },
      tags ? { tags } : {},
    )
    await sleep(5)
    return { result, release }
  }

  it('a tag invalidated while its loader runs: the caller gets the value, but it is not cached', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const { result, release } = await slowLoad(cache, ['t'])
    await cache.invalidateTags('t')
    release()
    expect(await result).toBe('loaded-before-invalidation')
    expect(await cache.get('k')).toBeUndefined()
    expect(await createCache({ store, l1: false }).get('k')).toBeUndefined()
  })

  it('a key deleted while its loader runs: not cached', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const { result, release } = await slowLoad(cache)
    await cache.delete('k')
    release()
    await result
    expect(await cache.get('k')).toBeUndefined()
    expect(store.size).toBe(0)
  })

  it('a namespace cleared while its loader runs: not cached', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const { result, release } = await slowLoad(cache)
    await cache.clear()
    release()
    await result
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a tag invalidated by another instance (bus) while the loader runs: not cached', async () => {
    const name = uniqueName('epoch')
    const a = createCache({ store: `memory://${name}` })
    const b = createCache({ store: `memory://${name}` })
    const { result, release } = await slowLoad(a, ['t'])
    await b.invalidateTags('t')
    await tick()
    release()
    await result
    expect(await a.get('k')).toBeUndefined()
    expect(await b.get('k')).toBeUndefined()
  })

  it('a set while the loader runs wins over the loaded value', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const { result, release } = await slowLoad(cache)
    await cache.set('k', 'explicit')
    release()
    await result
    expect(await cache.get('k')).toBe('explicit')
  })
})

describe('tag generations learned concurrently', () => {
  it('a generation read that was in flight during a bus invalidation does not overwrite the newer generation', async () => {
    const inner = new MemoryStore()
    const a = createCache({ store: inner, namespace: 'app' })
    await a.set('k', 'v', { tags: ['t'] })
    const slow = new TestStore(inner)
    const b = createCache({ store: slow, namespace: 'app' })
    let reply!: () => void
    slow.holdReply.getGenerations = new Promise<void>((resolve) => {
      reply = resolve
    })
    // b reads 'k' and asks for t's generation; the store answers 0, but the answer is slow to arrive...
    const firstRead = b.get('k')
    await sleep(5)
    expect(slow.calls.getGenerations).toBe(1)
    // ...while a invalidates t (generation 1) and b learns it through the bus.
    await a.invalidateTags('t')
    await tick()
    reply()
    await firstRead // concurrent with the invalidation: either answer is fine
    // From now on b must not treat generation 0 as current.
    expect(await b.get('k')).toBeUndefined()
    expect(await b.getMany(['k'])).toEqual([undefined])
    expect(await b.getOrSet('k', () => 'reloaded', { tags: ['t'] })).toBe('reloaded')
    expect(await b.get('k')).toBe('reloaded')
  })
})
