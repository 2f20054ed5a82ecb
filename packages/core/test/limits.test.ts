import { createCache, MemoryStore, msgpackSerializer, type Serializer, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { rejection } from './support/memory-cache.js'
import { TestStore } from './support/test-store.js'

/** Every `error` event of a cache, as { operation, code, cause code }. */
function errorsOf(cache: ReturnType<typeof createCache>) {
  const seen: Array<{ operation: string; code?: string; cause?: string; key?: string }> = []
  cache.on('error', ({ operation, error, key }) => {
    const e = error as TierCacheError
    seen.push({ operation, code: e.code, cause: (e.cause as TierCacheError | undefined)?.code, key })
  })
  return seen
}

const MiB = 1024 * 1024

describe('maxValueBytes', () => {
  it('defaults to 16 MiB and must be a positive integer', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store, l1: false })
    await cache.set('fits', 'x'.repeat(16 * MiB - 64))
    expect(await createCache({ store }).get('fits')).toHaveLength(16 * MiB - 64)
    const error = await rejection(cache.set('big', 'x'.repeat(16 * MiB + 1)))
    expect(error.code).toBe('VALUE_TOO_LARGE')
    expect(error.message).toContain('maxValueBytes')
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null]) {
      expect(() => createCache({ maxValueBytes: bad as number })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      )
    }
  })

  it('set: VALUE_TOO_LARGE, and the key keeps its previous value in both tiers', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store, maxValueBytes: 100 })
    await cache.set('k', 'small')
    expect((await rejection(cache.set('k', 'x'.repeat(200)))).code).toBe('VALUE_TOO_LARGE')
    expect(await cache.get('k')).toBe('small')
    expect(await createCache({ store, maxValueBytes: 100 }).get('k')).toBe('small')
  })

  it('setMany: one item too large writes nothing', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store, maxValueBytes: 100 })
    const error = await rejection(
      cache.setMany([
        { key: 'a', value: 'ok' },
        { key: 'b', value: 'x'.repeat(200) },
      ]),
    )
    expect(error.code).toBe('VALUE_TOO_LARGE')
    expect(await store.get('a')).toBeUndefined()
    expect(await store.get('b')).toBeUndefined()
    expect(await cache.get('a')).toBeUndefined()
  })

  it('the limit is on the encoded value, whatever the serializer', async () => {
    const cache = createCache({ store: new MemoryStore(), serializer: 'json', maxValueBytes: 10 })
    await cache.set('k', '12345678') // "12345678" with quotes: 10 bytes
    expect((await rejection(cache.set('k', '123456789'))).code).toBe('VALUE_TOO_LARGE')
  })

  it('getOrSet: the caller gets a too-large loaded value, uncached, with one error event', async () => {
    const store = new TestStore()
    const cache = createCache({ store, maxValueBytes: 100 })
    const errors = errorsOf(cache)
    const big = { blob: 'x'.repeat(500) }
    let calls = 0
    const loader = async () => {
      calls++
      await new Promise((resolve) => setTimeout(resolve, 10))
      return big
    }
    // Concurrent callers share the one load, its value, and its one error event.
    const results = await Promise.all([cache.getOrSet('k', loader), cache.getOrSet('k', loader)])
    expect(results).toEqual([big, big])
    expect(calls).toBe(1)
    expect(errors).toEqual([{ operation: 'getOrSet', code: 'VALUE_TOO_LARGE', cause: undefined, key: 'k' }])
    expect(store.calls.set).toBe(0)
    expect(await store.inner.get('k')).toBeUndefined()
    // Not cached: the next call loads again.
    expect(await cache.getOrSet('k', loader)).toEqual(big)
    expect(calls).toBe(2)
  })

  it('getOrSet: an unencodable loader value still rejects SERIALIZE_FAILED (a programming error stays loud)', async () => {
    const cache = createCache({ store: new MemoryStore(), maxValueBytes: 100 })
    expect((await rejection(cache.getOrSet('k', () => ({ f: () => 1 })))).code).toBe('SERIALIZE_FAILED')
  })

  it('stored bytes over the limit are a miss with DESERIALIZE_FAILED, never decoded', async () => {
    const store = new MemoryStore()
    await createCache({ store, maxValueBytes: 10_000 }).set('k', 'x'.repeat(5_000))
    let decodes = 0
    const counting: Serializer = {
      name: 'counting',
      encode: (value) => msgpackSerializer.encode(value),
      decode: (bytes) => {
        decodes++
        return msgpackSerializer.decode(bytes)
      },
    }
    const reader = createCache({ store, serializer: counting, maxValueBytes: 1_000 })
    const errors = errorsOf(reader)
    expect(await reader.get('k')).toBeUndefined()
    expect(await reader.getMany(['k'])).toEqual([undefined])
    expect(await reader.getOrSet('k', () => 'loaded')).toBe('loaded')
    expect(decodes).toBe(0)
    expect(errors.filter((e) => e.operation === 'decode')).toEqual([
      { operation: 'decode', code: 'DESERIALIZE_FAILED', cause: 'VALUE_TOO_LARGE', key: 'k' },
      { operation: 'decode', code: 'DESERIALIZE_FAILED', cause: 'VALUE_TOO_LARGE', key: 'k' },
      { operation: 'decode', code: 'DESERIALIZE_FAILED', cause: 'VALUE_TOO_LARGE', key: 'k' },
    ])
  })
})

describe('L1 byte bound', () => {
  it('an entry larger than l1.maxBytes is not kept in L1 but is written to the remote tier', async () => {
    const store = new TestStore()
    const cache = createCache({ store, l1: { maxBytes: 1_000 } })
    await cache.set('small', 'x')
    await cache.set('big', 'x'.repeat(5_000))
    expect(await store.inner.get('big')).toBeDefined()
    const before = store.calls.get
    expect(await cache.get('small')).toBe('x') // L1
    expect(store.calls.get).toBe(before)
    expect(await cache.get('big')).toHaveLength(5_000) // remote: L1 did not keep it
    expect(store.calls.get).toBe(before + 1)
    expect(await createCache({ store }).get('big')).toHaveLength(5_000)
  })

  it('a value growing past the bound drops the older L1 copy instead of serving it', async () => {
    const store = new TestStore()
    const cache = createCache({ store, l1: { maxBytes: 1_000 } })
    await cache.set('k', 'old')
    await cache.set('k', 'y'.repeat(5_000))
    expect(await cache.get('k')).toBe('y'.repeat(5_000))
  })

  it('is on by default (64 MiB): one huge value is not kept in process', async () => {
    const store = new TestStore()
    const cache = createCache({ store, maxValueBytes: 128 * MiB })
    const huge = 'h'.repeat(65 * MiB)
    await cache.set('huge', huge)
    await cache.set('small', 's')
    const before = store.calls.get
    expect(await cache.get('small')).toBe('s')
    expect(store.calls.get).toBe(before)
    expect((await cache.get<string>('huge'))?.length).toBe(huge.length)
    expect(store.calls.get).toBe(before + 1)
  })

  it('l1.maxBytes must be a positive integer', () => {
    for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1'])
      expect(() => createCache({ l1: { maxBytes: bad as number } })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      )
  })
})

describe('tag limits (the envelope stores counts and lengths as u16)', () => {
  it('a tag longer than maxKeyBytes is KEY_TOO_LONG (a 70 KB tag used to write a corrupt entry)', async () => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    const error = await rejection(cache.set('k', 'v', { tags: ['t'.repeat(70_000)] }))
    expect(error.code).toBe('KEY_TOO_LONG')
    expect(await store.get('k')).toBeUndefined()
    expect((await rejection(cache.invalidateTags('t'.repeat(70_000)))).code).toBe('KEY_TOO_LONG')
    // At the limit it round-trips through the store.
    const tag = 'é'.repeat(2048)
    await cache.set('k', 'v', { tags: [tag] })
    expect(await createCache({ store }).get('k')).toBe('v')
    await cache.invalidateTags(tag)
    expect(await createCache({ store }).get('k')).toBeUndefined()
  })

  it('more than 65535 tags is INVALID_OPTION', async () => {
    const cache = createCache({ store: new MemoryStore() })
    const tags = Array.from({ length: 65_536 }, (_, i) => `t${i}`)
    expect((await rejection(cache.set('k', 'v', { tags }))).code).toBe('INVALID_OPTION')
  })

  it('keys, tags and namespaces with a lone surrogate are refused (UTF-8 would merge them into U+FFFD)', async () => {
    const cache = createCache({ store: new MemoryStore() })
    expect((await rejection(cache.set('\ud800', 1))).code).toBe('INVALID_KEY')
    expect((await rejection(cache.get('a\udc00b'))).code).toBe('INVALID_KEY')
    expect((await rejection(cache.set('k', 1, { tags: ['\ud800'] }))).code).toBe('INVALID_OPTION')
    expect(() => cache.namespace('\udfff')).toThrow(expect.objectContaining({ code: 'INVALID_NAMESPACE' }))
    // A well-formed pair is fine.
    await cache.set('🔑', 1, { tags: ['🏷'] })
    expect(await cache.get('🔑')).toBe(1)
  })
})

it('TierCacheError is what every limit throws', async () => {
  const cache = createCache({ store: new MemoryStore(), maxValueBytes: 1 })
  await expect(cache.set('k', 'xx')).rejects.toBeInstanceOf(TierCacheError)
})
