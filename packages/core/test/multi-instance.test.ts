import { createCache } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { TestStore, tick, uniqueName } from './support/test-store.js'

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
