import { createCache, MemoryStore } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'

const T0 = 1_700_000_000_000

afterEach(() => {
  vi.useRealTimers()
})

function recorder(cache: ReturnType<typeof createCache>) {
  const events: unknown[] = []
  cache.on('hit', (e) => events.push({ hit: e.tier, key: e.key, namespace: e.namespace }))
  cache.on('miss', (e) => events.push({ miss: e.key, namespace: e.namespace }))
  cache.on('stale', (e) => events.push({ stale: e.reason, key: e.key }))
  cache.on('loaderError', (e) => events.push({ loaderError: (e.error as Error).message, key: e.key }))
  return events
}

describe('events', () => {
  it('hit (l1, remote) and miss, with key and namespace', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store, namespace: 'app' })
    const events = recorder(cache)
    await cache.get('k')
    await cache.set('k', 1)
    await cache.get('k')
    const other = createCache({ store, namespace: 'app' })
    const otherEvents = recorder(other)
    await other.get('k')
    await other.get('k')
    expect(events).toEqual([
      { miss: 'k', namespace: 'app' },
      { hit: 'l1', key: 'k', namespace: 'app' },
    ])
    expect(otherEvents).toEqual([
      { hit: 'remote', key: 'k', namespace: 'app' },
      { hit: 'l1', key: 'k', namespace: 'app' },
    ])
  })

  it('namespaced handles report their full namespace path', async () => {
    const cache = createCache({ store: new MemoryStore(), namespace: 'app' })
    const events = recorder(cache)
    await cache.namespace('users').get('k')
    expect(events).toEqual([{ miss: 'k', namespace: 'app:users' }])
  })

  it('getOrSet: miss then load, then l1 hit; a remote hit through getOrSet', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const events = recorder(cache)
    await cache.getOrSet('k', () => 1)
    await cache.getOrSet('k', () => 1)
    const remote = createCache({ store, l1: false })
    const remoteEvents = recorder(remote)
    await remote.getOrSet('k', () => 2)
    expect(events).toEqual([
      { miss: 'k', namespace: '' },
      { hit: 'l1', key: 'k', namespace: '' },
    ])
    expect(remoteEvents).toEqual([{ hit: 'remote', key: 'k', namespace: '' }])
  })

  it('getMany reports one event per key', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    await cache.set('a', 1)
    await createCache({ store }).set('b', 2)
    const events = recorder(cache)
    await cache.getMany(['a', 'b', 'c'])
    expect(events).toEqual([
      { hit: 'l1', key: 'a', namespace: '' },
      { hit: 'remote', key: 'b', namespace: '' },
      { miss: 'c', namespace: '' },
    ])
  })

  it('loaderError and stale', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const cache = createCache({ store: new MemoryStore() })
    const events = recorder(cache)
    await expect(cache.getOrSet('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await cache.set('b', 1, { ttl: '1s', grace: '1m' })
    vi.setSystemTime(T0 + 2_000)
    await cache.getOrSet('b', () => Promise.reject(new Error('again')))
    expect(events).toEqual([
      { miss: 'a', namespace: '' },
      { loaderError: 'boom', key: 'a' },
      { miss: 'b', namespace: '' },
      { loaderError: 'again', key: 'b' },
      { stale: 'loader-error', key: 'b' },
    ])
  })

  it('off() removes a listener; on() chains', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const seen: string[] = []
    const listener = (e: { key: string }) => seen.push(e.key)
    expect(cache.on('miss', listener)).toBe(cache)
    await cache.get('a')
    cache.off('miss', listener)
    await cache.get('b')
    expect(seen).toEqual(['a'])
  })

  it('namespace handles share the listeners of their cache', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const seen: string[] = []
    cache.namespace('n').on('miss', (e) => seen.push(e.namespace))
    await cache.get('a')
    await cache.namespace('m').get('a')
    expect(seen).toEqual(['', 'm'])
  })
})
