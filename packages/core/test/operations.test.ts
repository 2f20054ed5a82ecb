import { type Cache, createCache, MemoryStore } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { decodeEnvelope } from '../src/engine/envelope.js'
import { rejection, setupMemoryCache } from './support/memory-cache.js'
import { TestStore } from './support/test-store.js'

const setup = setupMemoryCache

describe('get / set / delete', () => {
  it('set then get returns the value; a missing key is undefined', async () => {
    const { cache } = setup()
    expect(await cache.get('nope')).toBeUndefined()
    await cache.set('k', { a: 1 })
    expect(await cache.get('k')).toEqual({ a: 1 })
  })

  it('caches falsy values (null, 0, false, "") as hits, not misses', async () => {
    const { cache } = setup({ l1: false })
    let calls = 0
    const load = () => {
      calls++
      return 'loaded'
    }
    for (const [key, value] of [
      ['null', null],
      ['zero', 0],
      ['false', false],
      ['empty', ''],
    ] as const) {
      await cache.set(key, value)
      expect(await cache.get(key)).toBe(value)
      expect(await cache.getOrSet(key, load)).toBe(value)
    }
    expect(calls).toBe(0)
  })

  it('set(key, undefined) is rejected (INVALID_OPTION) and writes nothing', async () => {
    const { cache, store } = setup()
    expect((await rejection(cache.set('k', undefined))).code).toBe('INVALID_OPTION')
    expect(store.size).toBe(0)
  })

  it('set overwrites, in both tiers', async () => {
    const { cache, store } = setup()
    await cache.set('k', 1)
    await cache.set('k', 2)
    expect(await cache.get('k')).toBe(2)
    const l1Off = createCache({ store, l1: false })
    expect(await l1Off.get('k')).toBe(2)
  })

  it('delete removes one key or several, from L1 and the store', async () => {
    const { cache, store } = setup()
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
    ])
    expect(await cache.delete('a')).toEqual({ status: 'applied' })
    expect(await cache.get('a')).toBeUndefined()
    expect(await store.get('a')).toBeUndefined()
    expect(await cache.delete(['b', 'c', 'never-set'])).toEqual({ status: 'applied' })
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined])
    expect(store.size).toBe(0)
    expect(await cache.delete([])).toEqual({ status: 'applied' })
  })

  it('a delete is a miss for getOrSet too: the loader runs again', async () => {
    const { cache } = setup()
    let calls = 0
    const load = () => ++calls
    expect(await cache.getOrSet('k', load)).toBe(1)
    expect(await cache.getOrSet('k', load)).toBe(1)
    await cache.delete('k')
    expect(await cache.getOrSet('k', load)).toBe(2)
  })

  it('uses the createCache ttl as the default for every write', async () => {
    const { cache, store } = setup({ ttl: '10s' })
    const before = Date.now()
    await cache.set('a', 1)
    await cache.setMany([{ key: 'b', value: 1 }])
    await cache.getOrSet('c', () => 1)
    await cache.set('d', 1, { ttl: '1h' })
    for (const key of ['a', 'b', 'c']) {
      const { expiresAt } = decodeEnvelope((await store.get(key))!)
      expect(expiresAt - before).toBeGreaterThanOrEqual(10_000)
      expect(expiresAt - before).toBeLessThan(11_000)
    }
    const { expiresAt } = decodeEnvelope((await store.get('d'))!)
    expect(expiresAt - before).toBeGreaterThanOrEqual(3_600_000)
  })

  it('without a ttl anywhere, writes default to 5 minutes', async () => {
    const { cache, store } = setup()
    const before = Date.now()
    await cache.set('a', 1)
    const { expiresAt } = decodeEnvelope((await store.get('a'))!)
    expect(expiresAt - before).toBeGreaterThanOrEqual(300_000)
    expect(expiresAt - before).toBeLessThan(301_000)
  })
})

describe('getMany / setMany', () => {
  it('getMany returns values in key order, undefined for misses, [] for []', async () => {
    const { cache } = setup()
    expect(await cache.getMany([])).toEqual([])
    await cache.setMany([
      { key: 'b', value: 'B' },
      { key: 'a', value: 'A' },
    ])
    expect(await cache.getMany(['a', 'x', 'b', 'a'])).toEqual(['A', undefined, 'B', 'A'])
  })

  it('getMany mixes L1 hits and remote hits in key order', async () => {
    const { cache, store } = setup()
    await cache.set('l1', 'from-l1')
    const other = createCache({ store, l1: false })
    await other.set('remote', 'from-remote')
    expect(await cache.getMany(['remote', 'missing', 'l1'])).toEqual(['from-remote', undefined, 'from-l1'])
  })

  it('setMany writes every item with its own ttl, in one store call', async () => {
    const store = new TestStore()
    const cache = createCache({ store, ttl: '1m' })
    const before = Date.now()
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2, ttl: '1h' },
    ])
    expect(store.calls.setMany).toBe(1)
    expect(store.calls.set).toBe(0)
    expect(decodeEnvelope((await store.inner.get('a'))!).expiresAt - before).toBeLessThan(61_000)
    expect(decodeEnvelope((await store.inner.get('b'))!).expiresAt - before).toBeGreaterThanOrEqual(3_600_000)
    expect(await cache.getMany(['a', 'b'])).toEqual([1, 2])
    await cache.setMany([])
    expect(store.calls.setMany).toBe(1)
  })

  it('setMany with one bad item writes nothing (bad key, bad ttl, undefined value, unencodable value)', async () => {
    const { cache, store } = setup()
    const good = { key: 'good', value: 1 }
    const bad: Array<[unknown, string]> = [
      [{ key: '', value: 1 }, 'INVALID_KEY'],
      [{ key: 'x'.repeat(5000), value: 1 }, 'KEY_TOO_LONG'],
      [{ key: 'k', value: 1, ttl: 0 }, 'INVALID_TTL'],
      [{ key: 'k', value: 1, grace: -1 }, 'INVALID_DURATION'],
      [{ key: 'k', value: undefined }, 'INVALID_OPTION'],
      [{ key: 'k', value: () => 1 }, 'SERIALIZE_FAILED'],
      [{ key: 'k', value: 1, tags: [''] }, 'INVALID_OPTION'],
      [null, 'INVALID_OPTION'],
    ]
    for (const [item, code] of bad) {
      expect((await rejection(cache.setMany([good, item as never]))).code).toBe(code)
      expect(store.size).toBe(0)
      expect(await cache.get('good')).toBeUndefined()
    }
    expect((await rejection(cache.setMany('nope' as never))).code).toBe('INVALID_OPTION')
  })
})

describe('bad input is a TierCacheError at the call and writes nothing', () => {
  it('each bad input rejects with its code and leaves the store empty', async () => {
    const { cache, store } = setup()
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => cache.set('', 1), 'INVALID_KEY'],
      [() => cache.set('x'.repeat(4097), 1), 'KEY_TOO_LONG'],
      [() => cache.set('k', 1, { ttl: 0 }), 'INVALID_TTL'],
      [() => cache.set('k', 1, { ttl: '1 hour' as never }), 'INVALID_TTL'],
      [() => cache.set('k', () => 1), 'SERIALIZE_FAILED'],
      [() => cache.set('k', Symbol('s')), 'SERIALIZE_FAILED'],
      [() => cache.set('k', cycle), 'SERIALIZE_FAILED'],
      [() => cache.set('k', 1, { tags: 'org' as never }), 'INVALID_OPTION'],
      [() => cache.set('k', 1, { tags: [1 as never] }), 'INVALID_OPTION'],
      [() => cache.set('k', 1, 'options' as never), 'INVALID_OPTION'],
      [() => cache.getOrSet('k', () => () => 1), 'SERIALIZE_FAILED'],
      [() => cache.getOrSet('k', 'not a function' as never), 'INVALID_OPTION'],
      [() => cache.getOrSet('k', () => 1, { ttl: 0 }), 'INVALID_TTL'],
      [() => cache.invalidateTags(['']), 'INVALID_OPTION'],
      [() => cache.invalidateTags(7 as never), 'INVALID_OPTION'],
    ]
    for (const [call, code] of cases) {
      const error = await rejection(call())
      expect(error.code, error.message).toBe(code)
      expect(error.name).toBe('TierCacheError')
      expect(store.size).toBe(0)
    }
    expect(await cache.get('k')).toBeUndefined()
  })

  it('bad getOrSet input is rejected even when the key is an L1 hit', async () => {
    const { cache } = setup()
    await cache.set('k', 1)
    expect((await rejection(cache.getOrSet('k', 'not a function' as never))).code).toBe('INVALID_OPTION')
    expect((await rejection(cache.getOrSet('k', () => 2, { ttl: -1 }))).code).toBe('INVALID_TTL')
    expect((await rejection(cache.getOrSet('k', () => 2, { timeouts: { hard: -1 } }))).code).toBe(
      'INVALID_DURATION',
    )
    expect(await cache.getOrSet('k', () => 2)).toBe(1)
  })

  it('a getOrSet whose loader returns an unencodable value rejects SERIALIZE_FAILED and caches nothing', async () => {
    const { cache, store } = setup()
    const error = await rejection(cache.getOrSet('k', async () => ({ fn: () => 1 })))
    expect(error.code).toBe('SERIALIZE_FAILED')
    expect(store.size).toBe(0)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a loader returning undefined is returned but not cached', async () => {
    const { cache, store } = setup()
    let calls = 0
    const load = () => {
      calls++
      return undefined
    }
    expect(await cache.getOrSet('k', load)).toBeUndefined()
    expect(await cache.getOrSet('k', load)).toBeUndefined()
    expect(calls).toBe(2)
    expect(store.size).toBe(0)
  })
})

describe('namespaces', () => {
  it('the same key in two namespaces holds two values', async () => {
    const store = new MemoryStore()
    const a = createCache({ store, namespace: 'a' })
    const b = createCache({ store, namespace: 'b' })
    await a.set('k', 'A')
    await b.set('k', 'B')
    expect(await a.get('k')).toBe('A')
    expect(await b.get('k')).toBe('B')
    const root = createCache({ store })
    await root.namespace('x').set('k', 'X')
    await root.namespace('y').set('k', 'Y')
    expect(await root.namespace('x').get('k')).toBe('X')
    expect(await root.namespace('y').get('k')).toBe('Y')
    expect(await root.get('k')).toBeUndefined()
  })

  it('clear() of one namespace leaves the other (and the parent) untouched', async () => {
    const store = new MemoryStore()
    const root = createCache({ store, namespace: 'app' })
    const users = root.namespace('users')
    const orders = root.namespace('orders')
    await root.set('top', 0)
    await users.set('k', 1)
    await orders.set('k', 2)
    expect(await users.clear()).toEqual({ status: 'applied' })
    expect(await users.get('k')).toBeUndefined()
    expect(await orders.get('k')).toBe(2)
    expect(await root.get('top')).toBe(0)
    expect(await store.get('app:orders:k')).toBeDefined()
    expect(await store.get('app:users:k')).toBeUndefined()
  })

  it('clear() of a namespace also clears its child namespaces, not a sibling that shares its name as a prefix', async () => {
    const store = new MemoryStore()
    const root = createCache({ store })
    const a = root.namespace('a')
    await a.set('k', 1)
    await a.namespace('b').set('k', 2)
    await root.namespace('ab').set('k', 3)
    await a.clear()
    expect(await a.get('k')).toBeUndefined()
    expect(await a.namespace('b').get('k')).toBeUndefined()
    expect(await root.namespace('ab').get('k')).toBe(3)
  })

  it('clear() of one createCache namespace leaves another cache on the same store alone', async () => {
    const store = new MemoryStore()
    const billing = createCache({ store, namespace: 'billing' })
    const users = createCache({ store, namespace: 'users' })
    await billing.set('k', 1)
    await users.set('k', 2)
    await billing.clear()
    expect(await billing.get('k')).toBeUndefined()
    expect(await users.get('k')).toBe(2)
  })

  it('remote key layout: key K of namespace N lives at N:K; nested namespaces join with :', async () => {
    const store = new MemoryStore()
    const plain = createCache({ store })
    const billing = createCache({ store, namespace: 'billing' })
    await plain.set('user:1', 'p')
    await billing.set('user:1', 'b')
    await billing.namespace('users').set('42', 'u')
    await billing.namespace('a').namespace('b').set('k', 'ab')
    await createCache({ store, namespace: 'x:y' }).set('k', 'xy')
    expect(await store.get('user:1')).toBeDefined()
    expect(await store.get('billing:user:1')).toBeDefined()
    expect(await store.get('billing:users:42')).toBeDefined()
    expect(await store.get('billing:a:b:k')).toBeDefined()
    expect(await store.get('x:y:k')).toBeDefined()
    expect(store.size).toBe(5)
    expect(billing.namespace('a').namespace('b').namespacePath).toBe('billing:a:b')
  })

  it('tag metadata lives under the reserved <ns>:__tc: prefix', async () => {
    const store = new TestStore()
    const cache = createCache({ store, namespace: 'billing' })
    await cache.set('k', 1, { tags: ['org:7'] })
    await cache.invalidateTags('org:7')
    expect(await store.inner.getGenerations(['billing:__tc:tag:org:7'])).toEqual([1])
  })
})

describe('close', () => {
  async function expectClosed(cache: Cache): Promise<void> {
    for (const call of [
      () => cache.get('k'),
      () => cache.set('k', 1),
      () => cache.getOrSet('k', () => 1),
      () => cache.getMany(['k']),
      () => cache.setMany([{ key: 'k', value: 1 }]),
      () => cache.delete('k'),
      () => cache.invalidateTags('t'),
      () => cache.clear(),
      () => cache.ready(),
    ]) {
      expect((await rejection(call())).code).toBe('CLOSED')
    }
  }

  it('every operation rejects with CLOSED after close(), also for an L1 hit', async () => {
    const { cache } = setup()
    await cache.set('k', 1)
    await cache.close()
    await expectClosed(cache)
    expect(cache.health().state).toBe('closed')
    await cache.close() // idempotent
  })

  it('closing the root closes its namespaces; closing a namespace leaves the root open', async () => {
    const { cache } = setup()
    const child = cache.namespace('c')
    await child.close()
    await expectClosed(child)
    await cache.set('k', 1)
    expect(await cache.get('k')).toBe(1)
    const other = cache.namespace('d')
    await cache.close()
    await expectClosed(other)
    expect(() => cache.namespace('e')).toThrow(expect.objectContaining({ code: 'CLOSED' }))
  })

  it('does not close or empty a store instance it was given', async () => {
    const { cache, store } = setup()
    await cache.set('k', 1)
    await cache.close()
    expect(store.size).toBe(1)
    expect(await createCache({ store }).get('k')).toBe(1)
  })
})
