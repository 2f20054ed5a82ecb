import {
  createCache,
  jsonSerializer,
  MemoryStore,
  msgpackSerializer,
  type Serializer,
  type SerializerOption,
  TierCacheError,
} from '@tiercache/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/** A cache with L1 off, so every read decodes the bytes the store holds. */
function remoteOnly(serializer?: SerializerOption) {
  const store = new MemoryStore()
  return { store, cache: createCache({ store, l1: false, ...(serializer ? { serializer } : {}) }) }
}

async function roundTrip(value: unknown, serializer?: SerializerOption) {
  const { cache } = remoteOnly(serializer)
  await cache.set('k', value)
  return cache.get('k')
}

describe('msgpack (default) round-trips exactly through the store', () => {
  it.each([
    ['Date', new Date('2024-02-29T12:34:56.789Z')],
    ['Map with string keys', new Map([['a', 1]])],
    [
      'Map with non-string keys',
      new Map<unknown, unknown>([
        [1, 'one'],
        [true, 't'],
        [null, 'n'],
        [{ x: 1 }, 'obj'],
        [[1, 2], 'arr'],
      ]),
    ],
    ['Set', new Set([1, 'a', null, { b: 2 }])],
    ['Uint8Array', new Uint8Array([0, 1, 255])],
    ['Float64Array', new Float64Array([1.5, -2.25, Number.MAX_VALUE])],
    ['Int32Array', new Int32Array([-1, 2 ** 31 - 1])],
    ['Uint16Array', new Uint16Array([65535])],
    ['BigInt64Array', new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])],
    ['small bigint', 1n],
    ['zero bigint', 0n],
    ['negative bigint', -42n],
    ['int64 edge bigint', 2n ** 63n - 1n],
    ['huge bigint', 2n ** 200n + 12345n],
    ['huge negative bigint', -(3n ** 150n)],
    ['nested', { a: [1, { b: new Map([['c', new Set([new Date(0)])]]) }], d: null, e: 'ü🔑', f: 1.5 }],
    ['array of mixed', [1, 'two', 3n, null, true, new Date(1), undefined]],
    ['empty containers', { o: {}, a: [], m: new Map(), s: new Set() }],
    ['string', 'just a string'],
    ['number', 42.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
  ])('%s', async (_name, value) => {
    const back = await roundTrip(value)
    expect(back).toStrictEqual(value)
  })

  it('keeps plain objects and Maps distinct, at every depth', async () => {
    const value = { plain: { a: 1 }, map: new Map([['a', 1]]), list: [{ a: 1 }, new Map([['a', 1]])] }
    const back = (await roundTrip(value)) as typeof value
    expect(back.plain).not.toBeInstanceOf(Map)
    expect(Object.getPrototypeOf(back.plain)).toBe(Object.prototype)
    expect(back.map).toBeInstanceOf(Map)
    expect(back.list[0]).not.toBeInstanceOf(Map)
    expect(back.list[1]).toBeInstanceOf(Map)
  })

  it('keeps bigint and number apart (1n is not 1)', async () => {
    expect(typeof (await roundTrip(1n))).toBe('bigint')
    expect(typeof (await roundTrip(1))).toBe('number')
    expect(await roundTrip({ n: 2n ** 64n })).toStrictEqual({ n: 2n ** 64n })
  })

  it('bytes written by one cache instance decode in another (no shared structure table)', async () => {
    const store = new MemoryStore()
    const writer = createCache({ store, l1: false })
    const shapes = Array.from({ length: 40 }, (_, i) => ({ [`field${i}`]: i, common: 'x' }))
    for (const [i, shape] of shapes.entries()) await writer.set(`k${i}`, shape)
    const reader = createCache({ store, l1: false })
    for (const [i, shape] of shapes.entries()) expect(await reader.get(`k${i}`)).toStrictEqual(shape)
  })

  it('never changes a value silently: an own __proto__ key round-trips or is rejected', async () => {
    const value = JSON.parse('{"__proto__": 1, "a": 2}')
    const { cache } = remoteOnly()
    const outcome = await cache.set('k', value).then(
      async () => ({ back: await cache.get('k') }),
      (error: unknown) => ({ error }),
    )
    if ('error' in outcome) expect(outcome.error).toMatchObject({ code: 'SERIALIZE_FAILED' })
    else expect(outcome.back).toStrictEqual(value)
  })
})

describe('json serializer', () => {
  it('round-trips JSON values', async () => {
    const value = { a: [1, 'two', null, true, { b: 1.5 }], s: 'ü🔑' }
    expect(await roundTrip(value, 'json')).toStrictEqual(value)
    expect(await roundTrip('x', 'json')).toBe('x')
    expect(await roundTrip(null, 'json')).toBe(null)
  })

  it('stores JSON text (so foreign clients can read it)', async () => {
    const { cache, store } = remoteOnly('json')
    await cache.set('k', { a: 1 })
    const bytes = (await store.get('k'))!
    expect(Buffer.from(bytes).toString('utf8')).toContain('{"a":1}')
  })

  it('values JSON cannot hold are SERIALIZE_FAILED at the call', async () => {
    const { cache, store } = remoteOnly('json')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const value of [() => 1, Symbol('s'), cycle, 10n, { n: 10n }]) {
      await expect(cache.set('k', value)).rejects.toMatchObject({ code: 'SERIALIZE_FAILED' })
      await expect(cache.getOrSet('k', () => value)).rejects.toMatchObject({ code: 'SERIALIZE_FAILED' })
    }
    expect(store.size).toBe(0)
  })
})

describe('custom serializer', () => {
  it('uses the given encode/decode for every write and remote read', async () => {
    const calls = { encode: 0, decode: 0 }
    const upper: Serializer = {
      name: 'upper',
      encode(value) {
        calls.encode++
        return new TextEncoder().encode(String(value).toUpperCase())
      },
      decode(bytes) {
        calls.decode++
        return new TextDecoder().decode(bytes)
      },
    }
    const { cache, store } = remoteOnly(upper)
    await cache.set('k', 'hello')
    expect(await cache.get('k')).toBe('HELLO')
    expect(await cache.getOrSet('l', () => 'world')).toBe('world')
    expect(await cache.get('l')).toBe('WORLD')
    expect(calls).toEqual({ encode: 2, decode: 2 })
    expect(Buffer.from((await store.get('k'))!).toString()).toContain('HELLO')
  })

  it('an encode that throws is SERIALIZE_FAILED with the cause kept', async () => {
    const boom = new Error('no')
    const { cache } = remoteOnly({
      encode: () => {
        throw boom
      },
      decode: () => 1,
    } as unknown as Serializer)
    const error = await cache.set('k', 1).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TierCacheError)
    expect(error).toMatchObject({ code: 'SERIALIZE_FAILED', cause: boom })
  })

  it('an encode that does not return bytes is SERIALIZE_FAILED, not silently stored garbage', async () => {
    const { cache, store } = remoteOnly({
      encode: (v: unknown) => JSON.stringify(v),
      decode: () => 1,
    } as never)
    await expect(cache.set('k', { a: 1 })).rejects.toMatchObject({ code: 'SERIALIZE_FAILED' })
    expect(store.size).toBe(0)
  })
})

describe('unencodable values (msgpack)', () => {
  const cycle: Record<string, unknown> = { a: 1 }
  cycle.self = cycle
  const deepCycle: Record<string, unknown> = { x: { y: { z: {} } } }
  ;((deepCycle.x as any).y.z as any).back = deepCycle
  const cases: Array<[string, unknown]> = [
    ['function', () => 1],
    ['symbol', Symbol('s')],
    ['function inside an object', { a: { b: () => 1 } }],
    ['symbol inside an array', [1, Symbol('s')]],
    ['function as a Map value', new Map([['k', () => 1]])],
    ['function in a Set', new Set([() => 1])],
    ['cycle', cycle],
    ['deep cycle', deepCycle],
    [
      'cycle through an array',
      (() => {
        const list: unknown[] = []
        list.push({ list })
        return list
      })(),
    ],
  ]

  it.each(cases)('%s → SERIALIZE_FAILED on set and getOrSet, nothing written', async (_name, value) => {
    const store = new MemoryStore()
    const cache = createCache({ store })
    await expect(cache.set('k', value)).rejects.toMatchObject({
      code: 'SERIALIZE_FAILED',
      name: 'TierCacheError',
    })
    await expect(cache.getOrSet('k', () => value)).rejects.toMatchObject({ code: 'SERIALIZE_FAILED' })
    await expect(cache.getOrSet('k', async () => value)).rejects.toMatchObject({ code: 'SERIALIZE_FAILED' })
    expect(store.size).toBe(0)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a shared (non-cyclic) reference is fine', async () => {
    const shared = { s: 1 }
    expect(await roundTrip({ a: shared, b: shared, c: [shared, shared] })).toStrictEqual({
      a: { s: 1 },
      b: { s: 1 },
      c: [{ s: 1 }, { s: 1 }],
    })
  })
})

describe('property: JSON-like values round-trip', () => {
  // Normalised through JSON text: fc.jsonValue may yield -0, which JSON (and msgpack's integer form) turn into
  // 0. Own '__proto__' keys are rejected by msgpack (tested above), so they are left out here.
  const hasProtoKey = (value: unknown): boolean =>
    typeof value === 'object' &&
    value !== null &&
    (Object.hasOwn(value, '__proto__') || Object.values(value).some(hasProtoKey))
  const values = fc
    .jsonValue()
    .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
    .filter((value) => !hasProtoKey(value))

  it('through msgpack', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(msgpackSerializer.decode(msgpackSerializer.encode(value))).toStrictEqual(value)
      }),
      { numRuns: 300 },
    )
  })

  it('through json', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(jsonSerializer.decode(jsonSerializer.encode(value))).toStrictEqual(value)
      }),
      { numRuns: 300 },
    )
  })

  it('through the cache with L1 off (envelope + store bytes), both serializers', async () => {
    const msgpack = remoteOnly().cache
    const json = remoteOnly('json').cache
    let i = 0
    await fc.assert(
      fc.asyncProperty(values, async (value) => {
        const key = `k${i++}`
        for (const cache of [msgpack, json]) {
          await cache.set(key, value)
          expect(await cache.get(key)).toStrictEqual(value)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('msgpack values with Maps, Sets, Dates and bigints round-trip through the cache', async () => {
    const { cache } = remoteOnly()
    const leaf = fc.oneof(
      fc.integer(),
      fc.bigInt(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.date({ noInvalidDate: true }),
    )
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(
          fc.string().filter((s) => s !== '__proto__'),
          tie('node'),
          { maxKeys: 4, noNullPrototype: true },
        ),
        fc.array(fc.tuple(leaf, tie('node')), { maxLength: 4 }).map((entries) => new Map(entries)),
        fc.array(leaf, { maxLength: 4 }).map((items) => new Set(items)),
      ),
    })).node
    let i = 0
    await fc.assert(
      fc.asyncProperty(tree, async (value) => {
        const key = `k${i++}`
        await cache.set(key, value)
        expect(await cache.get(key)).toStrictEqual(value)
      }),
      { numRuns: 200 },
    )
  })
})
