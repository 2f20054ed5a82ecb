import { createCache, MemoryStore, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { describeHostileProperties, envelope, type RawHarness } from './support/hostile-input.js'

// Hostile keys, values and options against the embedded store: every case round-trips exactly through a
// fresh cache instance or is refused with a TierCacheError code, the store left as it was. The same
// properties run against a real redis-server in packages/redis/test/hostile-input.test.ts.
function harness(runs: number): RawHarness {
  const store = new MemoryStore()
  return {
    open: (options) => createCache({ namespace: 'hostile', ...options, store }),
    remoteCount: async () => store.size,
    writeRaw: (key, value) => store.set(key, value, 60_000),
    prefix: 'hostile:',
    runs,
  }
}

describe('hostile input on memory://', () => {
  const h = harness(100)
  describeHostileProperties('memory://', () => h)

  it('a crafted payload cannot change how later payloads decode (the record ids it defines)', async () => {
    // One payload defining every one-byte record id (0x40–0x7f) with a decoy field list.
    const decoys = [0xdc, 0, 64].concat(
      ...Array.from({ length: 64 }, (_, i) => [
        0xd4,
        0x72,
        0x40 + i,
        0x91,
        0xa4,
        ...Buffer.from('evil'),
        0x01,
      ]),
    )
    await h.writeRaw('hostile:decoy', envelope(new Uint8Array(decoys)))
    const reader = h.open({ l1: false })
    expect(await reader.get('decoy')).toHaveLength(64)
    const writer = h.open()
    const shapes = Array.from({ length: 40 }, (_, i) => ({ [`field${i}`]: i, nested: { a: [i], b: 'x' } }))
    for (const [i, shape] of shapes.entries()) await writer.set(`shape${i}`, shape)
    for (const [i, shape] of shapes.entries()) {
      expect(await reader.get(`shape${i}`)).toEqual(shape)
      expect(await reader.get('decoy')).toHaveLength(64) // interleaved: decoys again before the next read
    }
    await Promise.all([reader.close(), writer.close()])
  })
})

describe('bugs these properties found (regressions)', () => {
  const cache = () => createCache({ store: new MemoryStore() })
  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (error: unknown) => (error instanceof TierCacheError ? error.code : String(error)),
    )

  it("timeouts.hard '30d' is refused (Node fired the timer after 1 ms: LOADER_TIMEOUT at once)", async () => {
    expect(await code(cache().getOrSet('k', () => 'v', { timeouts: { hard: '30d' } }))).toBe(
      'INVALID_DURATION',
    )
    expect(await code(cache().getOrSet('k', () => 'v', { timeouts: { soft: 2 ** 31 } }))).toBe(
      'INVALID_DURATION',
    )
    expect(() => createCache({ timeouts: { hard: '25d' } })).toThrow(
      expect.objectContaining({ code: 'INVALID_DURATION' }),
    )
    expect(await code(cache().getOrSet('k', () => 'v', { timeouts: { hard: '24d' } }))).toBe('resolved')
  })

  it('a ttl no store can be given is refused (Redis refused PX 1e+308: the value lived in L1 only)', async () => {
    for (const ttl of [1e308, Number.MAX_VALUE, 2 ** 53, '99999999999999999999d'])
      expect(await code(cache().set('k', 'v', { ttl: ttl as number }))).toBe('INVALID_TTL')
    expect(await code(cache().set('k', 'v', { grace: 1e308 }))).toBe('INVALID_DURATION')
  })

  it('timeouts that are not an object are refused (they were ignored)', async () => {
    expect(await code(cache().getOrSet('k', () => 'v', { timeouts: 5 as never }))).toBe('INVALID_OPTION')
    expect(() => createCache({ timeouts: 'fast' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    )
  })

  it('msgpack refuses values it would silently change (they came back as other values)', async () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const sparse = [1]
    sparse[3] = 4
    for (const value of [
      new Point(1), // came back as { x: 1 }
      Promise.resolve(1), // came back as {}
      new WeakMap(), // came back as {}
      Object.create(null), // came back with Object.prototype
      { [Symbol('s')]: 1 }, // the symbol key was dropped
      sparse, // holes came back as undefined
      'a\ud800b', // the lone surrogate came back as U+FFFD
      { 'k\udc00': 1 },
    ])
      expect(await code(cache().set('k', value))).toBe('SERIALIZE_FAILED')
  })

  it('a Buffer comes back as a Buffer from every store, as a copy of the stored bytes', async () => {
    const store = new MemoryStore()
    await createCache({ store }).set('k', { blob: Buffer.from('abc') })
    const first = await createCache({ store, l1: false }).get<{ blob: Buffer }>('k')
    expect(Buffer.isBuffer(first?.blob)).toBe(true)
    first!.blob[0] = 0x7a
    const again = await createCache({ store, l1: false }).get<{ blob: Buffer }>('k')
    expect(again?.blob.toString()).toBe('abc')
  })
})
