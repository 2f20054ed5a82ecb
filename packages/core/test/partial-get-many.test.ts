import { createCache, isTierCacheError } from '@tiercache/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TestStore } from './support/test-store.js'

const T0 = 1_700_000_000_000

afterEach(() => {
  vi.useRealTimers()
})

/**
 * A reader cache (with L1) and a writer cache (without) on one store whose `getMany` answers UNAVAILABLE
 * for the keys in `down`: what a Cluster store answers while one master is dead.
 */
function setup(options: { l1?: false } = {}) {
  const store = new TestStore()
  const down = new Set<string>()
  store.unavailable = (key) => down.has(key)
  const reader = createCache({ store, ...(options.l1 === false ? { l1: false as const } : {}) })
  const writer = createCache({ store, l1: false })
  const seen = {
    hits: [] as Array<{ key: string; tier: string }>,
    stale: [] as Array<{ key: string; reason: string }>,
    misses: [] as string[],
    errors: [] as Array<{ operation: string; error: unknown }>,
  }
  reader.on('hit', ({ key, tier }) => seen.hits.push({ key, tier }))
  reader.on('stale', ({ key, reason }) => seen.stale.push({ key, reason }))
  reader.on('miss', ({ key }) => seen.misses.push(key))
  reader.on('error', ({ operation, error }) => seen.errors.push({ operation, error }))
  const reset = () => {
    for (const list of Object.values(seen)) list.length = 0
  }
  return { store, down, reader, writer, seen, reset }
}

describe('getMany with keys whose node could not be read (UNAVAILABLE)', () => {
  it('healthy keys are remote hits, unavailable keys are stale from L1 within grace, else misses; one error event', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const { store, down, reader, writer, seen, reset } = setup()
    await writer.setMany([
      { key: 'h1', value: 'H1', ttl: '1h' },
      { key: 'h2', value: 'H2', ttl: '1h' },
      { key: 'lost', value: 'L', ttl: '1h' },
    ])
    await reader.set('graced', 'G', { ttl: '1s', grace: '1h' })
    await reader.set('past-grace', 'P', { ttl: '1s', grace: '1s' })
    vi.setSystemTime(T0 + 5_000)
    down.add('graced').add('past-grace').add('lost')
    reset()
    store.resetCalls()

    const values = await reader.getMany(['h1', 'graced', 'lost', 'h2', 'past-grace', 'absent'])

    expect(values).toEqual(['H1', 'G', undefined, 'H2', undefined, undefined])
    expect(store.calls.getMany).toBe(1)
    expect(seen.hits).toEqual([
      { key: 'h1', tier: 'remote' },
      { key: 'h2', tier: 'remote' },
    ])
    expect(seen.stale).toEqual([{ key: 'graced', reason: 'remote-unavailable' }])
    expect(seen.misses.sort()).toEqual(['absent', 'lost', 'past-grace'])
    expect(seen.errors).toHaveLength(1)
    expect(seen.errors[0]!.operation).toBe('getMany')
    expect(isTierCacheError(seen.errors[0]!.error, 'STORE_UNAVAILABLE')).toBe(true)
    expect((seen.errors[0]!.error as Error).message).toMatch(/^3 of 6 keys could not be read/)

    // The node is back: everything it holds is served again, nothing is reported.
    down.clear()
    reset()
    expect(await reader.getMany(['h1', 'lost', 'h2'])).toEqual(['H1', 'L', 'H2'])
    expect(seen.errors).toEqual([])
  })

  it('a batch with every key unavailable: stale where graced, misses elsewhere, one error event', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const { down, reader, seen, reset } = setup()
    await reader.set('a', 'A', { ttl: '1s', grace: '1h' })
    await reader.set('b', 'B', { ttl: '1s' })
    vi.setSystemTime(T0 + 2_000)
    down.add('a').add('b')
    reset()
    expect(await reader.getMany(['a', 'b'])).toEqual(['A', undefined])
    expect(seen.stale).toEqual([{ key: 'a', reason: 'remote-unavailable' }])
    expect(seen.misses).toEqual(['b'])
    expect(seen.errors.map((event) => event.operation)).toEqual(['getMany'])
  })

  it('fresh L1 entries are answered without the store; only the others can be unavailable', async () => {
    const { store, down, reader, writer, seen, reset } = setup()
    await reader.set('local', 'in L1')
    await writer.set('remote', 'R')
    down.add('remote').add('local')
    reset()
    store.resetCalls()
    expect(await reader.getMany(['local', 'remote'])).toEqual(['in L1', undefined])
    expect(seen.hits).toEqual([{ key: 'local', tier: 'l1' }])
    expect(seen.misses).toEqual(['remote'])
    expect(seen.errors.map((event) => event.operation)).toEqual(['getMany'])
  })

  it('without L1, unavailable keys are misses and healthy keys hits', async () => {
    const { down, reader, writer, seen, reset } = setup({ l1: false })
    await writer.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
    ])
    down.add('b')
    reset()
    expect(await reader.getMany(['a', 'b', 'c'])).toEqual([1, undefined, 3])
    expect(seen.misses).toEqual(['b'])
    expect(seen.stale).toEqual([])
    expect(seen.errors.map((event) => event.operation)).toEqual(['getMany'])
  })

  it('a healthy tagged entry is still verified; an unavailable one is never served after its tag was invalidated', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const { down, reader, writer, seen, reset } = setup()
    await writer.set('tagged', 'T', { ttl: '1h', tags: ['org:1'] })
    await reader.set('gone', 'old', { ttl: '1s', grace: '1h', tags: ['org:2'] })
    await reader.set('kept', 'K', { ttl: '1s', grace: '1h', tags: ['org:3'] })
    vi.setSystemTime(T0 + 2_000)
    await reader.invalidateTags(['org:2'])
    down.add('gone').add('kept')
    reset()
    expect(await reader.getMany(['tagged', 'gone', 'kept'])).toEqual(['T', undefined, 'K'])
    expect(seen.stale).toEqual([{ key: 'kept', reason: 'remote-unavailable' }])
    expect(seen.misses).toEqual(['gone'])

    // After the healthy entry's tag is invalidated too, it is a miss, not a hit.
    await writer.invalidateTags(['org:1'])
    expect(await reader.getMany(['tagged'])).toEqual([undefined])
  })

  it('invalidated keys are never served stale: delete here, delete elsewhere (bus), clear', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    const { down, reader, writer, seen, reset } = setup()
    for (const key of ['deleted', 'deleted-elsewhere', 'cleared']) {
      await reader.set(key, `old ${key}`, { ttl: '1s', grace: '1h' })
    }
    vi.setSystemTime(T0 + 2_000)
    down.add('deleted').add('deleted-elsewhere').add('cleared')
    await reader.delete('deleted')
    await writer.delete('deleted-elsewhere')
    reset()
    expect(await reader.getMany(['deleted', 'deleted-elsewhere', 'cleared'])).toEqual([
      undefined,
      undefined,
      'old cleared',
    ])
    expect(seen.stale.map((event) => event.key)).toEqual(['cleared'])
    await reader.clear()
    reset()
    expect(await reader.getMany(['deleted', 'deleted-elsewhere', 'cleared'])).toEqual([
      undefined,
      undefined,
      undefined,
    ])
    expect(seen.stale).toEqual([])
    expect(seen.misses).toHaveLength(3)
  })
})
