import { createCache, MemoryStore, type RemoteStore } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { encodeEnvelope } from '../src/engine/envelope.js'
import { queuedResult, sleep, TestStore, tick } from './support/test-store.js'

const T0 = 1_700_000_000_000

afterEach(() => {
  vi.useRealTimers()
})

function withErrors(store: RemoteStore, options: Parameters<typeof createCache>[0] = {}) {
  const cache = createCache({ store, ...options })
  const errors: Array<{ operation: string; error: unknown; key?: string }> = []
  cache.on('error', (event) => errors.push(event))
  return { cache, errors }
}

describe('fail-open on a failing remote tier', () => {
  it('get resolves undefined and reports an error event', async () => {
    const store = new TestStore()
    const { cache, errors } = withErrors(store)
    store.fail('all')
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, undefined])
    expect(errors.map((e) => e.operation)).toEqual(['get', 'getMany'])
    expect(errors[0]!.key).toBe('k')
    expect((errors[0]!.error as Error).message).toBe('injected get failure')
  })

  it('getOrSet calls the loader and returns its value', async () => {
    const store = new TestStore()
    const { cache, errors } = withErrors(store)
    store.fail('all')
    let calls = 0
    expect(
      await cache.getOrSet('k', () => {
        calls++
        return 'loaded'
      }),
    ).toBe('loaded')
    expect(calls).toBe(1)
    await tick()
    expect(errors.map((e) => e.operation)).toContain('get')
  })

  it('set and setMany resolve, keep L1 correct and report the failed write', async () => {
    const store = new TestStore()
    const { cache, errors } = withErrors(store)
    store.fail('all')
    await cache.set('k', 1)
    await cache.setMany([{ key: 'm', value: 2 }])
    // Each failed write is reported, and so is the delete that replaces it (the store is down for it too).
    await tick()
    expect(errors.map((e) => e.operation).sort()).toEqual(['delete', 'delete', 'set', 'setMany'])
    // L1 answers while the store is down.
    expect(await cache.get('k')).toBe(1)
    expect(await cache.getMany(['m'])).toEqual([2])
  })

  it('a write the store did not take becomes a delete: nobody reads the value it was replacing', async () => {
    const shared = new MemoryStore()
    const store = new TestStore(shared)
    const { cache: writer, errors } = withErrors(store)
    const reader = createCache({ store: new TestStore(shared), l1: false })
    await writer.set('k', 'old')
    await writer.setMany([{ key: 'm', value: 'old' }])
    expect(await reader.get('k')).toBe('old')
    store.fail(['set', 'setMany'])
    await writer.set('k', 'new')
    await writer.setMany([{ key: 'm', value: 'new' }])
    await tick()
    expect(errors.map((e) => e.operation)).toEqual(['set', 'setMany'])
    expect(store.calls.delete).toBe(2)
    // Another process reads a miss, not 'old'; this one still has the new value in L1.
    expect(await reader.get('k')).toBeUndefined()
    expect(await reader.getMany(['m'])).toEqual([undefined])
    expect(await writer.get('k')).toBe('new')
  })

  it('a tagged write left unwritten because its tags cannot be verified also deletes the older remote copy', async () => {
    const shared = new MemoryStore()
    const store = new TestStore(shared)
    const { cache: writer } = withErrors(store)
    const reader = createCache({ store: new TestStore(shared), l1: false })
    await writer.set('k', 'old')
    await writer.set('m', 'old')
    store.fail(['getGenerations'])
    await writer.set('k', 'new', { tags: ['t'] })
    await writer.setMany([{ key: 'm', value: 'new', tags: ['t'] }])
    await tick()
    expect(store.calls.set + store.calls.setMany).toBe(2) // only the two untagged writes reached the store
    expect(await reader.get('k')).toBeUndefined()
    expect(await reader.get('m')).toBeUndefined()
  })

  it('while that delete is in flight, reads skip the remote tier (L1 still answers); a partial setMany deletes only what it did not write', async () => {
    const shared = new MemoryStore()
    const store = new TestStore(shared)
    const { cache } = withErrors(store, { l1: false })
    await cache.setMany([
      { key: 'a', value: 'old' },
      { key: 'b', value: 'old' },
    ])
    // A store that writes 'a' and not 'b', and says so; its deletes wait until the test lets them go.
    let release!: () => void
    store.gate.delete = new Promise<void>((resolve) => {
      release = resolve
    })
    store.setMany = async (entries) => {
      await shared.setMany(entries.filter((entry) => entry.key.endsWith('a')))
      throw Object.assign(new Error('one node is down'), {
        unwritten: entries.filter((entry) => !entry.key.endsWith('a')).map((entry) => entry.key),
      })
    }
    store.resetCalls()
    await cache.setMany([
      { key: 'a', value: 'new' },
      { key: 'b', value: 'new' },
    ])
    await tick()
    expect(store.calls.delete).toBe(1)
    expect(await cache.get('a')).toBe('new')
    // 'b' still holds 'old' in the store, but its delete is pending: a miss, never 'old'.
    expect(await shared.get('b')).toBeDefined()
    expect(await cache.get('b')).toBeUndefined()
    expect(await cache.getMany(['a', 'b'])).toEqual(['new', undefined])
    release()
    await sleep(5)
    expect(await shared.get('b')).toBeUndefined()
    expect(await cache.get('b')).toBeUndefined()
  })

  it('a tagged set while generations cannot be read resolves, reports, and does not serve an unverifiable value', async () => {
    const store = new TestStore()
    const { cache, errors } = withErrors(store)
    await cache.set('k', 'old', { tags: ['t'] })
    store.fail('all')
    await cache.set('k', 'new', { tags: ['brand-new-tag'] })
    expect(errors.length).toBeGreaterThan(0)
    expect(await cache.get('k')).not.toBe('old')
  })

  it('a store that hangs (boundedly) then fails: getOrSet waits for one timeout only, not also for the write-back', async () => {
    const store = new TestStore()
    const { cache } = withErrors(store)
    store.fail('all', 150)
    const started = performance.now()
    expect(await cache.getOrSet('k', () => 'loaded')).toBe('loaded')
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(280)
    await sleep(200) // let the background write-back settle
  })

  it('serves a stale L1 value within grace when the remote tier fails', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const store = new TestStore()
    const { cache } = withErrors(store)
    const stale: string[] = []
    cache.on('stale', (event) => stale.push(event.reason))
    await cache.set('k', 'v', { ttl: '1s', grace: '1m' })
    vi.setSystemTime(T0 + 2_000)
    store.fail('all')
    expect(await cache.get('k')).toBe('v')
    expect(await cache.getMany(['k'])).toEqual(['v'])
    expect(await cache.getOrSet('k', () => Promise.reject(new Error('db down')))).toBe('v')
    expect(stale).toEqual(['remote-unavailable', 'remote-unavailable', 'loader-error'])
    // A loader that succeeds wins over the stale value.
    expect(await cache.getOrSet('k', () => 'fresh')).toBe('fresh')
    expect(await cache.get('k')).toBe('fresh')
  })

  it('does not serve stale past grace when the remote tier fails', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const store = new TestStore()
    const { cache } = withErrors(store)
    await cache.set('k', 'v', { ttl: '1s', grace: '10s' })
    vi.setSystemTime(T0 + 11_000)
    store.fail('all')
    expect(await cache.get('k')).toBeUndefined()
  })

  it('the store recovering means normal service again', async () => {
    const store = new TestStore()
    const { cache } = withErrors(store, { l1: false })
    store.fail('all')
    await cache.set('k', 1)
    expect(await cache.get('k')).toBeUndefined()
    store.heal()
    await cache.set('k', 2)
    expect(await cache.get('k')).toBe(2)
  })

  it('an error with no error listener never throws or crashes', async () => {
    const store = new TestStore()
    const cache = createCache({ store })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      store.fail('all')
      expect(await cache.get('k')).toBeUndefined()
      expect(await cache.getOrSet('k', () => 1)).toBe(1)
      await cache.set('k', 1)
      await cache.setMany([{ key: 'k', value: 1 }])
      expect(await cache.getMany(['k', 'x'])).toEqual([1, undefined])
      store.emitStoreEvent({ type: 'error', operation: 'ping', error: new Error('store says no') })
      await sleep(20)
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a listener that throws does not break the operation', async () => {
    const store = new TestStore()
    const cache = createCache({ store })
    for (const name of ['hit', 'miss', 'error', 'stale', 'loaderError'] as const) {
      cache.on(name, () => {
        throw new Error(`listener for ${name} is buggy`)
      })
    }
    const calls: string[] = []
    cache.on('hit', () => calls.push('second listener still runs'))
    expect(await cache.get('nope')).toBeUndefined()
    await cache.set('k', 1)
    expect(await cache.get('k')).toBe(1)
    expect(calls).toEqual(['second listener still runs'])
    store.fail('all')
    expect(await cache.get('other')).toBeUndefined()
    await expect(cache.getOrSet('x', () => Promise.reject(new Error('loader')))).rejects.toThrow('loader')
  })

  it('store events are mapped to cache events', async () => {
    const store = new TestStore()
    const cache = createCache({ store })
    const seen: Array<[string, unknown]> = []
    cache.on('retry', (e) => seen.push(['retry', e.attempt]))
    cache.on('circuit', (e) => seen.push(['circuit', e.state]))
    cache.on('failover', (e) => seen.push(['failover', e.detail]))
    cache.on('error', (e) => seen.push(['error', e.operation]))
    cache.on('store', (e) => seen.push(['store', e.type]))
    store.emitStoreEvent({ type: 'retry', operation: 'get', attempt: 2, error: new Error('x') })
    store.emitStoreEvent({ type: 'circuit', state: 'open' })
    store.emitStoreEvent({ type: 'failover', detail: { master: 'b' } })
    store.emitStoreEvent({ type: 'error', operation: 'publish', error: new Error('y') })
    expect(seen).toEqual([
      ['store', 'retry'],
      ['retry', 2],
      ['store', 'circuit'],
      ['circuit', 'open'],
      ['store', 'failover'],
      ['failover', { master: 'b' }],
      ['store', 'error'],
      ['error', 'publish'],
    ])
    await cache.close()
    store.emitStoreEvent({ type: 'circuit', state: 'closed' })
    expect(seen).toHaveLength(8)
  })
})

describe('invalidation results', () => {
  it('delete, invalidateTags and clear resolve { status: "applied" } on a healthy store', async () => {
    const cache = createCache({ store: new MemoryStore() })
    expect(await cache.delete('k')).toEqual({ status: 'applied' })
    expect(await cache.delete(['a', 'b'])).toEqual({ status: 'applied' })
    expect(await cache.invalidateTags(['t'])).toEqual({ status: 'applied' })
    expect(await cache.clear()).toEqual({ status: 'applied' })
  })

  /** A store that cannot apply invalidations now: it queues them (old bytes stay) until `replay`. */
  function queuingStore() {
    const store = new TestStore()
    const queue: Array<() => Promise<unknown>> = []
    let resolveReplay!: (outcome: 'applied') => void
    const replayed = new Promise<'applied' | 'dropped'>((resolve) => {
      resolveReplay = resolve
    })
    const queued = { status: 'queued' as const, replayed }
    store.delete = async (keys) => {
      queue.push(() => store.inner.delete(keys))
      return queued
    }
    store.bumpGenerations = async (keys) => {
      queue.push(() => store.inner.bumpGenerations(keys))
      return queued
    }
    store.clearPrefix = async (prefix, keep) => {
      queue.push(() => store.inner.clearPrefix(prefix, keep))
      return queued
    }
    const replay = async () => {
      for (const run of queue) await run()
      resolveReplay('applied')
      await tick()
    }
    return { store, replay, replayed }
  }

  it.each([
    ['delete', (c: ReturnType<typeof createCache>) => c.delete('k')],
    ['invalidateTags', (c: ReturnType<typeof createCache>) => c.invalidateTags('t')],
    ['clear', (c: ReturnType<typeof createCache>) => c.clear()],
  ])('a queued %s keeps the key a miss until it is replayed', async (_name, invalidate) => {
    const { store, replay } = queuingStore()
    const cache = createCache({ store })
    const events: string[] = []
    cache.on('invalidationQueued', (e) => events.push(`queued:${e.operation}`))
    cache.on('invalidationReplayed', (e) => events.push(`replayed:${e.outcome}`))
    await cache.set('k', 'old', { tags: ['t'] })
    const result = await invalidate(cache)
    expect(result.status).toBe('queued')
    // The old bytes are still in the store, but this instance must not serve them.
    expect(await store.inner.get('k')).toBeDefined()
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['k'])).toEqual([undefined])
    let calls = 0
    expect(await cache.getOrSet('k', () => ++calls, { tags: ['t'] })).toBe(1)
    // ... and does not cache over it either (the replay would erase it anyway).
    expect(await cache.getOrSet('k', () => ++calls, { tags: ['t'] })).toBe(2)
    await replay()
    expect(result.status === 'queued' && (await result.replayed)).toBe('applied')
    expect(events).toEqual([`queued:${_name}`, 'replayed:applied'])
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getOrSet('k', () => 'after', { tags: ['t'] })).toBe('after')
    expect(await cache.get('k')).toBe('after')
  })

  it('the TestStore helper can rewrite results to queued (sanity of the helper)', async () => {
    const store = new TestStore()
    const { result, replay } = queuedResult()
    store.invalidationResult = result
    const cache = createCache({ store })
    const outcome = await cache.delete('k')
    expect(outcome.status).toBe('queued')
    replay()
    expect(outcome.status === 'queued' && (await outcome.replayed)).toBe('applied')
  })
})

describe('corrupt or foreign bytes in the store', () => {
  async function setup(serializer?: 'json') {
    const store = new MemoryStore()
    const cache = createCache({ store, l1: false, ...(serializer ? { serializer } : {}) })
    const errors: Array<{ code?: string; key?: string; operation: string }> = []
    cache.on('error', (e) =>
      errors.push({ code: (e.error as { code?: string }).code, key: e.key, operation: e.operation }),
    )
    return { store, cache, errors }
  }

  const garbage: Array<[string, Uint8Array]> = [
    ['random bytes', new Uint8Array([1, 2, 3, 250, 251, 252, 0, 9, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7])],
    ['empty value', new Uint8Array()],
    ['a foreign JSON string', new TextEncoder().encode('{"name":"written by another client"}')],
    ['a foreign msgpack value', new Uint8Array([0x81, 0xa1, 0x61, 0x01])],
    [
      'a truncated envelope',
      encodeEnvelope(
        { expiresAt: Date.now() + 60_000, staleUntil: Date.now() + 60_000, tags: ['abc'], generations: [0] },
        new Uint8Array([1]),
      ).subarray(0, 22),
    ],
    [
      'a future envelope version',
      (() => {
        const bytes = encodeEnvelope(
          {
            expiresAt: Date.now() + 60_000,
            staleUntil: Date.now() + 60_000,
            tags: undefined,
            generations: undefined,
          },
          new Uint8Array([0xc0]),
        )
        bytes[1] = 99
        return bytes
      })(),
    ],
  ]

  it.each(garbage)(
    '%s is a miss with a DESERIALIZE_FAILED error event, never a throw',
    async (_name, bytes) => {
      const { store, cache, errors } = await setup()
      await store.set('k', bytes, 60_000)
      expect(await cache.get('k')).toBeUndefined()
      expect(await cache.getMany(['k'])).toEqual([undefined])
      expect(errors).toEqual([
        { code: 'DESERIALIZE_FAILED', key: 'k', operation: 'decode' },
        { code: 'DESERIALIZE_FAILED', key: 'k', operation: 'decode' },
      ])
      // getOrSet treats it as a miss and overwrites it with a good entry.
      expect(await cache.getOrSet('k', () => 'repaired')).toBe('repaired')
      expect(await cache.get('k')).toBe('repaired')
    },
  )

  it('an envelope whose payload the serializer cannot decode is a miss too', async () => {
    const { store, cache, errors } = await setup('json')
    const now = Date.now()
    const header = {
      expiresAt: now + 60_000,
      staleUntil: now + 60_000,
      tags: undefined,
      generations: undefined,
    }
    await store.set('k', encodeEnvelope(header, new TextEncoder().encode('{not json')), 60_000)
    expect(await cache.get('k')).toBeUndefined()
    expect(errors[0]).toMatchObject({ code: 'DESERIALIZE_FAILED', key: 'k' })
  })

  it('a corrupt entry does not disturb its neighbours in getMany', async () => {
    const { store, cache } = await setup()
    await cache.set('a', 1)
    await cache.set('c', 3)
    await store.set('b', new Uint8Array([9, 9, 9]), 60_000)
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([1, undefined, 3])
  })
})
