import { type BusSubscriber, createCache, MemoryStore } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { sleep, TestStore, tick, uniqueName } from './support/test-store.js'

/** Two caches on one named memory store: like two processes on one Redis. */
function pair(namespace?: string) {
  const name = uniqueName('pair')
  const options = { store: `memory://${name}`, ...(namespace ? { namespace } : {}) }
  return { a: createCache(options), b: createCache(options), url: `memory://${name}` }
}

describe('two cache instances on one store (bus)', () => {
  it('a set in one drops the L1 copy in the other', async () => {
    const { a, b } = pair()
    await a.set('k', 'v1')
    expect(await b.get('k')).toBe('v1') // b's L1 now holds v1
    await a.set('k', 'v2')
    await tick()
    expect(await b.get('k')).toBe('v2')
  })

  it('setMany and getOrSet writes reach the other instance too', async () => {
    const { a, b } = pair()
    await a.setMany([{ key: 'k', value: 1 }])
    expect(await b.get('k')).toBe(1)
    await a.setMany([{ key: 'k', value: 2 }])
    await tick()
    expect(await b.get('k')).toBe(2)
  })

  it('a delete in one drops the L1 copy in the other', async () => {
    const { a, b } = pair()
    await a.set('k', 'v')
    expect(await b.get('k')).toBe('v')
    await a.delete('k')
    await tick()
    expect(await b.get('k')).toBeUndefined()
  })

  it('a clear in one drops the L1 copies of that namespace in the other', async () => {
    const { a, b } = pair('app')
    await a.namespace('x').set('k', 1)
    await a.namespace('y').set('k', 2)
    expect(await b.namespace('x').get('k')).toBe(1)
    expect(await b.namespace('y').get('k')).toBe(2)
    await a.namespace('x').clear()
    await tick()
    expect(await b.namespace('x').get('k')).toBeUndefined()
    expect(await b.namespace('y').get('k')).toBe(2)
  })

  it('an instance ignores its own messages: its L1 copy survives its own set', async () => {
    const name = uniqueName('own')
    const store = new TestStore()
    const a = createCache({ store, namespace: name })
    const b = createCache({ store, namespace: name })
    await a.set('k', 'v')
    await tick()
    store.resetCalls()
    expect(await a.get('k')).toBe('v')
    expect(store.calls.get).toBe(0)
    // b does process it (control): its next read goes to the store.
    await b.get('k')
    expect(store.calls.get).toBe(1)
  })

  it('caches with different namespaces on one store do not disturb each other', async () => {
    const name = uniqueName('ns')
    const a = createCache({ store: `memory://${name}`, namespace: 'a' })
    const b = createCache({ store: `memory://${name}`, namespace: 'b' })
    await a.set('k', 'A')
    await b.set('k', 'B')
    await a.delete('k')
    await a.clear()
    await tick()
    expect(await b.get('k')).toBe('B')
  })

  it('a closed instance stops listening', async () => {
    const { a, b } = pair()
    await a.set('k', 1)
    expect(await b.get('k')).toBe(1)
    await b.close()
    await a.set('k', 2) // must not throw in b's (closed) bus handler
    await tick()
    expect(await a.get('k')).toBe(2)
  })
})

describe('bus effects on loads in flight', () => {
  it("another instance's writes to other keys do not stop this instance from caching its load", async () => {
    const { a, b } = pair()
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(30)
      return 'x'
    }
    const loading = b.getOrSet('x', loader)
    await sleep(5)
    // Unrelated traffic from another process while b's loader runs.
    for (let i = 0; i < 5; i++) await a.set(`other-${i}`, i)
    await a.delete('other-0')
    await tick()
    expect(await loading).toBe('x')
    expect(await b.getOrSet('x', loader)).toBe('x')
    expect(calls).toBe(1)
  })

  it("another instance's delete of the same key does stop it", async () => {
    const { a, b } = pair()
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const loading = b.getOrSet('x', async () => {
      await gate
      return 'before-delete'
    })
    await sleep(5)
    await a.delete('x')
    await tick()
    release()
    expect(await loading).toBe('before-delete')
    expect(await b.get('x')).toBeUndefined()
  })
})

describe('bus resync', () => {
  it('a resync (missed messages) drops L1 and emits resync', async () => {
    const inner = new MemoryStore()
    const subscribers: BusSubscriber[] = []
    const store = new TestStore(inner)
    Object.defineProperty(store, 'bus', {
      value: {
        publish: inner.bus.publish,
        subscribe: (channel: string, subscriber: BusSubscriber) => {
          subscribers.push(subscriber)
          return inner.bus.subscribe(channel, subscriber)
        },
      },
    })
    const cache = createCache({ store })
    const reasons: string[] = []
    cache.on('resync', (e) => reasons.push(e.reason))
    await cache.set('k', 1)
    store.resetCalls()
    await cache.get('k')
    expect(store.calls.get).toBe(0)
    for (const subscriber of subscribers) subscriber.onResync()
    expect(reasons).toHaveLength(1)
    expect(await cache.get('k')).toBe(1)
    expect(store.calls.get).toBe(1)
  })
})
