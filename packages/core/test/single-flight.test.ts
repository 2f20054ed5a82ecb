import { createCache, MemoryStore } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { sleep, TestStore } from './support/test-store.js'

describe('single-flight', () => {
  it.each([
    ['L1 on', {}],
    ['L1 off', { l1: false as const }],
  ])('1000 concurrent getOrSet on one key → exactly one loader call (%s)', async (_name, options) => {
    const store = new TestStore()
    const cache = createCache({ store, ...options })
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(20)
      return { id: 1 }
    }
    const results = await Promise.all(Array.from({ length: 1000 }, () => cache.getOrSet('k', loader)))
    expect(calls).toBe(1)
    expect(results).toHaveLength(1000)
    for (const result of results) expect(result).toEqual({ id: 1 })
    expect(store.calls.set).toBe(1)
    expect(store.calls.get).toBe(1)
  })

  it('concurrent callers that arrive while the remote read is in flight join the same load', async () => {
    const store = new TestStore()
    let open!: () => void
    store.gate.get = new Promise<void>((resolve) => {
      open = resolve
    })
    const cache = createCache({ store })
    let calls = 0
    const first = cache.getOrSet('k', () => ++calls)
    await sleep(5)
    const later = Array.from({ length: 50 }, () => cache.getOrSet('k', () => ++calls))
    open()
    expect(await Promise.all([first, ...later])).toEqual(Array(51).fill(1))
    expect(calls).toBe(1)
  })

  it('different keys and different namespaces load independently', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const calls: string[] = []
    const loader = (name: string) => async () => {
      calls.push(name)
      await sleep(5)
      return name
    }
    const results = await Promise.all([
      cache.getOrSet('a', loader('a')),
      cache.getOrSet('b', loader('b')),
      cache.namespace('n').getOrSet('a', loader('n:a')),
      cache.getOrSet('a', loader('a-again')),
    ])
    expect(results).toEqual(['a', 'b', 'n:a', 'a'])
    expect(calls.sort()).toEqual(['a', 'b', 'n:a'])
  })

  it('concurrent callers of a failing loader share its one call and the same error object', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const error = new Error('db down')
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(10)
      throw error
    }
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, () => cache.getOrSet('k', loader)))
    expect(calls).toBe(1)
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      expect((outcome as PromiseRejectedResult).reason).toBe(error)
    }
  })

  it('a loader that throws synchronously is shared the same way', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const error = new TypeError('sync')
    let calls = 0
    const loader = () => {
      calls++
      throw error
    }
    const outcomes = await Promise.allSettled([cache.getOrSet('k', loader), cache.getOrSet('k', loader)])
    expect(calls).toBe(1)
    expect(outcomes.map((o) => (o as PromiseRejectedResult).reason)).toEqual([error, error])
  })

  it('errors are never cached: the next call calls the loader again', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    let calls = 0
    const loader = async () => {
      calls++
      if (calls === 1) throw new Error('first fails')
      return 'ok'
    }
    await expect(cache.getOrSet('k', loader)).rejects.toThrow('first fails')
    expect(store.size).toBe(0)
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getOrSet('k', loader)).toBe('ok')
    expect(calls).toBe(2)
    expect(await cache.getOrSet('k', loader)).toBe('ok')
    expect(calls).toBe(2)
  })

  it('non-Error rejections reach the caller unchanged', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const reason = { not: 'an error' }
    await expect(cache.getOrSet('a', () => Promise.reject(reason))).rejects.toBe(reason)
    await expect(
      cache.getOrSet('b', () => {
        throw 'a string'
      }),
    ).rejects.toBe('a string')
  })

  it('the flight ends when it lands: a later miss loads again', async () => {
    const cache = createCache({ store: new MemoryStore(), l1: false })
    let calls = 0
    await cache.getOrSet('k', () => ++calls, { ttl: 20 })
    await sleep(30)
    expect(await cache.getOrSet('k', () => ++calls, { ttl: 20 })).toBe(2)
  })
})
