import { inspect } from 'node:util'
import { type Cache, type CacheOptions, type ErrorCode, parseTtl, TierCacheError } from '@tiercache/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/**
 * Hostile-input properties shared by the memory:// test (packages/core/test/hostile-input.test.ts) and the
 * real-Redis one (packages/redis/test/hostile-input.test.ts). Every case either round-trips exactly — read
 * back through a FRESH cache instance, so through the remote tier and not only L1 — or fails with a
 * TierCacheError carrying one of the expected codes, leaving the remote tier as it was (absent, or the
 * previous value). Nothing may crash, hang or reject unhandled (vitest fails a file on an unhandled
 * rejection).
 */
export interface HostileHarness {
  /** A new cache over the shared remote tier, with its own L1: what another process would read. */
  open(options?: CacheOptions): Cache
  /** How many keys the remote tier holds (to see that a rejected write wrote nothing). */
  remoteCount(): Promise<number>
  /** Property runs per check: small on a real server, so each file finishes in seconds. */
  readonly runs: number
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** Settles a call within `ms`: a hang fails the property instead of the whole file timing out. */
export async function settle<T>(call: () => Promise<T>, ms = 5_000): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms)
  })
  try {
    const promise = (async () => call())()
    const value = await Promise.race([promise, hang])
    return { ok: true, value }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('hung for')) throw error
    return { ok: false, error }
  } finally {
    clearTimeout(timer)
  }
}

function expectCode(error: unknown, codes: readonly ErrorCode[]): void {
  if (!(error instanceof TierCacheError)) throw new Error(`not a TierCacheError: ${String(error)}`)
  expect(codes, error.message).toContain(error.code)
}

/** Opens caches for one property run and closes them after it (each may hold a connection). */
async function withCaches<T>(harness: HostileHarness, body: (open: HostileHarness['open']) => Promise<T>) {
  const opened: Cache[] = []
  try {
    return await body((options) => {
      const cache = harness.open(options)
      opened.push(cache)
      return cache
    })
  } finally {
    await Promise.all(opened.map((cache) => cache.close()))
    // No hostile key or value may reach Object.prototype.
    expect(Object.keys(Object.prototype)).toEqual([])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  }
}

// ── Keys ─────────────────────────────────────────────────────────────────────────────────────────────

const specialKeys = [
  ':',
  '::',
  'a:b:c',
  '{',
  '}',
  '{}',
  '{a}:b',
  '{user:1}:profile',
  ' ',
  ' a b ',
  '\t\n\r',
  '\0',
  '*',
  '?',
  '[a-z]',
  '\\',
  '__tc',
  '__tc:x',
  '__tc:tag:a',
  '🔑',
  '\ud83d\udd11',
  '\ud800',
  'a\udc00',
  '\udfff\ud800',
  'é',
  'e\u0301',
  '\ufeff',
  '\ufffd',
]

export const keyArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom(...specialKeys),
  fc.integer({ min: 4090, max: 4100 }).map((n) => 'k'.repeat(n)),
  // 3 UTF-8 bytes per '€': over the 4096-byte limit at 1366, while its UTF-16 length stays far below.
  fc.integer({ min: 1360, max: 1370 }).map((n) => '€'.repeat(n)),
  fc.constantFrom('', null, undefined, 1, 0, {}, [], ['a'], Symbol('k'), 1n, () => 'k'),
)

const KEY_CODES: readonly ErrorCode[] = ['INVALID_KEY', 'KEY_TOO_LONG']

/** A key is valid or every operation refuses it with the same code and nothing is written. */
export async function checkKey(harness: HostileHarness, key: unknown): Promise<void> {
  await withCaches(harness, async (open) => {
    const writer = open()
    const before = await harness.remoteCount()
    const written = await settle(() => writer.set(key as string, 'v1'))
    if (!written.ok) {
      expectCode(written.error, KEY_CODES)
      const code = (written.error as TierCacheError).code
      for (const call of [
        () => writer.get(key as string),
        () => writer.getMany([key as string]),
        () => writer.getOrSet(key as string, () => 'loaded'),
        () => writer.setMany([{ key: key as string, value: 'v' }]),
        // delete also takes an array of keys: only a non-array key must be refused by it.
        ...(Array.isArray(key) ? [] : [() => writer.delete(key as string)]),
      ]) {
        const outcome = await settle(call)
        expect(outcome.ok, `${String(key)}: an operation accepted a key set() refused`).toBe(false)
        if (!outcome.ok) expect((outcome.error as TierCacheError).code).toBe(code)
      }
      expect(await harness.remoteCount()).toBe(before)
      return
    }
    const reader = open()
    const k = key as string
    expect(await reader.get(k)).toBe('v1')
    expect(await reader.getMany([k, k])).toEqual(['v1', 'v1'])
    expect(await open().getOrSet(k, () => 'loaded')).toBe('v1')
    await reader.delete(k)
    expect(await open().get(k)).toBeUndefined()
  })
}

/** Two different valid keys never share an entry (U+FFFD substitution once merged lone surrogates). */
export async function checkDistinctKeys(harness: HostileHarness, a: string, b: string): Promise<void> {
  if (a === b) return
  await withCaches(harness, async (open) => {
    const writer = open()
    const first = await settle(() => writer.set(a, 'A'))
    const second = await settle(() => writer.set(b, 'B'))
    const reader = open()
    if (first.ok) expect(await reader.get(a)).toBe('A')
    if (second.ok) expect(await reader.get(b)).toBe('B')
    if (first.ok) await writer.delete(a)
    if (second.ok) await writer.delete(b)
  })
}

// ── Values ───────────────────────────────────────────────────────────────────────────────────────────

class Account {
  constructor(readonly id: number) {}
  get label() {
    return `account ${this.id}`
  }
}

function nested(depth: number): unknown {
  let value: unknown = 'leaf'
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value }
  return value
}

function cyclic(): unknown {
  const a: Record<string, unknown> = { name: 'a' }
  a.self = a
  return a
}

function withSymbolKey(): unknown {
  return { visible: 1, [Symbol('hidden')]: 2 }
}

/** Values that every serializer must either store exactly or refuse (built fresh for every run). */
const hostileValues: Array<() => unknown> = [
  () => -0,
  () => ({ nested: [-0, 0] }),
  () => Number.NaN,
  () => [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, Number.MAX_VALUE],
  () => 2n ** 256n,
  () => -(2n ** 64n),
  () => nested(200),
  () => nested(999),
  () => nested(1001),
  () => nested(5000),
  cyclic,
  () => [1, cyclic()],
  () => new Map<unknown, unknown>([[cyclic(), 1]]),
  () => {
    const sparse = [1]
    sparse[2] = 3
    return sparse
  },
  () => new Array(5),
  () => new Uint8Array([0, 255]),
  () => new Float32Array([1.5, Number.NaN]),
  () => new BigUint64Array([2n ** 64n - 1n]),
  () => new DataView(new Uint8Array([1, 2, 3]).buffer),
  () => new Uint8Array([1, 2, 3]).buffer,
  () => Buffer.from('buf'),
  () => new Date(0),
  () => new Date(Number.NaN),
  () => new Date(8.64e15),
  () => new Map([['__proto__', { polluted: true }]]),
  () => new Set([new Set([1]), new Map()]),
  () => JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'),
  () => ({ constructor: { prototype: { polluted: true } }, prototype: 1, toString: 'x', hasOwnProperty: 2 }),
  () => Object.assign(Object.create(null), { a: 1 }),
  () => new Account(7),
  () => Object.assign(new String('boxed'), {}),
  () => Promise.resolve(1),
  () => new WeakMap(),
  () => Symbol('s'),
  () => ({ s: Symbol('s') }),
  withSymbolKey,
  () => () => 1,
  () => ({ f() {} }),
  () => 'lone \ud800 surrogate',
  () => ({ 'key \udc00': 1 }),
  () => '\ud83d\udd11 paired',
  () => '',
  () => 'x'.repeat(300_000),
  () => /a+b/gi,
  () => ({ __proto_: 'renamed by msgpackr, not by us' }),
  () => ({ undef: undefined, nul: null }),
  () => [undefined, null],
]

export const valueArbitrary: fc.Arbitrary<() => unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...hostileValues) },
  {
    weight: 2,
    arbitrary: fc
      .anything({
        maxDepth: 3,
        maxKeys: 4,
        withBigInt: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withTypedArray: true,
        withSparseArray: true,
        withNullPrototype: true,
        withBoxedValues: true,
        withObjectString: true,
        key: fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '__defineGetter__', ''),
        ),
      })
      .map((value) => () => value),
  },
)

/** The value as a correct round trip gives it back: msgpack reads -0 as 0 (documented), nothing else. */
export function expectedBack(value: unknown): unknown {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(expectedBack)
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [expectedBack(k), expectedBack(v)]))
  if (value instanceof Set) return new Set([...value].map(expectedBack))
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) out[key] = expectedBack((value as Record<string, unknown>)[key])
    return out
  }
  return value
}

/**
 * Exact structural equality: Object.is on primitives, same prototype, same own keys (symbols too), same
 * array holes, Map/Set order, typed-array type and bytes. (toStrictEqual reads `.constructor` to compare
 * types, so an own `constructor` key — one of the hostile cases — fools it.)
 */
export function same(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (seen.get(a) === b) return true
  seen.set(a, b)
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime())
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags
  if (a instanceof Error) return a.name === (b as Error).name && a.message === (b as Error).message
  if (a instanceof ArrayBuffer || ArrayBuffer.isView(a)) {
    const bytes = (x: ArrayBuffer | ArrayBufferView) =>
      x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength)
    return Buffer.compare(bytes(a), bytes(b as ArrayBuffer)) === 0
  }
  if (a instanceof Map || a instanceof Set) {
    const left = [...a]
    const right = [...(b as Map<unknown, unknown>)]
    return left.length === right.length && left.every((item, i) => same(item, right[i], seen))
  }
  const keys = Reflect.ownKeys(a)
  const other = Reflect.ownKeys(b)
  if (keys.length !== other.length) return false
  return keys.every(
    (key) =>
      other.includes(key) &&
      same((a as Record<PropertyKey, unknown>)[key], (b as Record<PropertyKey, unknown>)[key], seen),
  )
}

function expectSame(actual: unknown, expected: unknown): void {
  if (!same(actual, expected))
    expect.fail(`not the same value:\n  got      ${inspect(actual)}\n  expected ${inspect(expected)}`)
}

const WRITE_CODES: readonly ErrorCode[] = ['SERIALIZE_FAILED', 'VALUE_TOO_LARGE']

/**
 * One value through set, getOrSet and setMany: stored exactly (read back by a fresh instance) or refused
 * with SERIALIZE_FAILED / VALUE_TOO_LARGE, the previous value (or nothing) left in both tiers.
 */
export async function checkValue(
  harness: HostileHarness,
  make: () => unknown,
  options: CacheOptions = {},
  expected: (value: unknown) => unknown = expectedBack,
): Promise<void> {
  await withCaches(harness, async (open) => {
    const value = make()
    // undefined is not a value to cache (`delete` removes): INVALID_OPTION.
    const codes = value === undefined ? (['INVALID_OPTION'] as const) : WRITE_CODES
    const writer = open(options)
    await writer.set('v', 'previous')
    const written = await settle(() => writer.set('v', value))
    if (written.ok) {
      expectSame(await open(options).get('v'), expected(value))
    } else {
      expectCode(written.error, codes)
      expect(await writer.get('v')).toBe('previous')
      expect(await open(options).get('v')).toBe('previous')
    }

    // getOrSet: the caller gets the loaded value itself (or SERIALIZE_FAILED); the store gets it or nothing.
    await writer.delete('g')
    // A loader's promise is awaited: what is cached is what it resolves to.
    const result = value instanceof Promise ? await value : value
    const loaded = await settle(() => open(options).getOrSet('g', () => value))
    const afterLoad = await open(options).get('g')
    if (loaded.ok) {
      expect(loaded.value).toBe(result)
      if (afterLoad !== undefined) expectSame(afterLoad, expected(result))
      if (written.ok) expectSame(afterLoad, expected(result))
    } else {
      expectCode(loaded.error, ['SERIALIZE_FAILED'])
      expect(afterLoad).toBeUndefined()
    }

    // setMany is all or nothing.
    await writer.delete(['m1', 'm2'])
    const many = await settle(() =>
      writer.setMany([
        { key: 'm1', value: 'fine' },
        { key: 'm2', value },
      ]),
    )
    const reader = open(options)
    if (many.ok) {
      expectSame(await reader.getMany(['m1', 'm2']), ['fine', expected(value)])
    } else {
      expectCode(many.error, codes)
      expect(await reader.getMany(['m1', 'm2'])).toEqual([undefined, undefined])
      expect(await writer.get('m1')).toBeUndefined()
    }
  })
}

// ── Options ──────────────────────────────────────────────────────────────────────────────────────────

const durationArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    0,
    -0,
    -1,
    1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 53,
    1e308,
    Number.MAX_VALUE,
    '',
    ' ',
    '5m',
    '-5m',
    '0s',
    '1.5s',
    '1e3s',
    '30d',
    '99999999999999999999d',
    '5 m',
    'abc',
    true,
    {},
    [],
    [1],
    Symbol('d'),
    10n,
  ),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 6 }),
)

const tagsArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    'org:7',
    [],
    [''],
    ['a', 1],
    [null],
    {},
    ['\ud800'],
    ['t'.repeat(5000)],
    [Symbol('t')],
  ),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
)

export const optionsArbitrary = fc.record(
  {
    ttl: durationArbitrary,
    grace: durationArbitrary,
    tags: tagsArbitrary,
    timeouts: fc.oneof(
      fc.constantFrom(undefined, null, 5, 'x'),
      fc.record({ soft: durationArbitrary, hard: durationArbitrary }, { requiredKeys: [] }),
    ),
  },
  { requiredKeys: [] },
)

const OPTION_CODES: readonly ErrorCode[] = [
  'INVALID_TTL',
  'INVALID_DURATION',
  'INVALID_OPTION',
  'KEY_TOO_LONG',
]

/** A ttl under which a value may have expired before it is read back. */
function shortTtl(ttl: unknown): boolean {
  try {
    return ttl !== undefined && parseTtl(ttl) < 10_000
  } catch {
    return true
  }
}

/** Per-call options of any type: accepted (value stored as asked) or refused at the call, nothing written. */
export async function checkCallOptions(harness: HostileHarness, options: Record<string, unknown>) {
  await withCaches(harness, async (open) => {
    const writer = open()
    await writer.set('o', 'previous')
    const before = await harness.remoteCount()
    const set = await settle(() => writer.set('o', 'new', options))
    const setMany = await settle(() => writer.setMany([{ key: 'o3', value: 'many', ...options }]))
    const loaded = await settle(() => writer.getOrSet('o2', () => 'loaded', options))
    for (const outcome of [set, setMany, loaded]) if (!outcome.ok) expectCode(outcome.error, OPTION_CODES)
    if (set.ok) {
      const back = await open().get('o')
      if (shortTtl(options.ttl)) expect([undefined, 'new']).toContain(back)
      else expect(back).toBe('new')
    } else {
      // Refused at the call: the previous value is still there, and nothing at all was written (set,
      // setMany and getOrSet validate the same options; getOrSet checks its timeouts as well).
      expect(setMany.ok).toBe(false)
      expect(loaded.ok).toBe(false)
      expect(await open().get('o')).toBe('previous')
      expect(await harness.remoteCount()).toBe(before)
    }
    if (loaded.ok) expect(loaded.value).toBe('loaded')
    await writer.delete(['o', 'o2', 'o3'])
  })
}

/** Cache options of any type: createCache returns a working cache or throws a TierCacheError, synchronously. */
export async function checkCacheOptions(harness: HostileHarness, options: Record<string, unknown>) {
  let cache: Cache
  try {
    cache = harness.open(options as CacheOptions)
  } catch (error) {
    expectCode(error, OPTION_CODES)
    return
  }
  try {
    const outcome = await settle(() => cache.getOrSet('c', () => 'loaded'))
    expect(outcome).toEqual({ ok: true, value: 'loaded' })
  } finally {
    await cache.close()
  }
}

export const cacheOptionsArbitrary = fc.record(
  {
    ttl: durationArbitrary,
    grace: durationArbitrary,
    timeouts: fc.oneof(
      fc.constantFrom(undefined, null, 'x'),
      fc.record({ soft: durationArbitrary, hard: durationArbitrary }, { requiredKeys: [] }),
    ),
    l1: fc.oneof(
      fc.constantFrom(undefined, false, true, null, 0, 'on'),
      fc.record(
        { max: durationArbitrary, maxBytes: durationArbitrary, ttl: durationArbitrary },
        { requiredKeys: [] },
      ),
    ),
    maxKeyBytes: durationArbitrary,
    maxValueBytes: durationArbitrary,
  },
  { requiredKeys: [] },
)

// ── Crafted stored bytes ─────────────────────────────────────────────────────────────────────────────

/** A tiercache envelope (docs/configuration.md#serializers: 0xC1, version 1, flags, expiresAt, staleUntil). */
export function envelope(payload: Uint8Array, expiresAt = Date.now() + 60_000): Uint8Array {
  const out = new Uint8Array(19 + payload.length)
  const view = new DataView(out.buffer)
  out[0] = 0xc1
  out[1] = 1
  out[2] = 0
  view.setFloat64(3, expiresAt)
  view.setFloat64(11, expiresAt)
  out.set(payload, 19)
  return out
}

const bytes = (...parts: Array<number[] | Uint8Array>) => new Uint8Array(parts.flatMap((part) => [...part]))
const str = (text: string) => {
  const utf8 = Buffer.from(text, 'utf8')
  return bytes([0xd9, utf8.length], utf8)
}
/** msgpack fixarray / fixmap headers. */
const arr = (n: number) => [0x90 + n]
const map = (n: number) => [0x80 + n]
/** An ext of `type` whose (fixext1) data is one 0 byte, followed by the value msgpackr reads for it. */
const extThenValue = (type: number, ...value: Array<number[] | Uint8Array>) =>
  bytes([0xd4, type, 0], ...value)
/** msgpackr record: definition extension 0x72 at id 0x40 with these field names, then the values. */
const record = (fields: string[], ...values: Array<number[] | Uint8Array>) =>
  bytes([0xd4, 0x72, 0x40], arr(fields.length), ...fields.map(str), ...values)

export interface CraftedPayload {
  readonly name: string
  readonly serializer: 'msgpack' | 'json'
  readonly payload: Uint8Array
  /** 'miss': refused (DESERIALIZE_FAILED); 'data': decodes to plain data, checked by `check`. */
  readonly outcome: 'miss' | 'data'
  readonly check?: (value: unknown) => void
}

const plainPrototype = (value: unknown) => {
  expect(typeof value).toBe('object')
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
}

/** Bytes someone with store access could write: none may pollute a prototype, execute, or hang a read. */
export const craftedPayloads: readonly CraftedPayload[] = [
  {
    name: 'record with a __proto__ field',
    serializer: 'msgpack',
    payload: record(['__proto__', 'a'], map(1), str('polluted'), [0xc3], [0x01]),
    outcome: 'data',
    check: (value) => {
      plainPrototype(value)
      expect(Object.hasOwn(value as object, '__proto__')).toBe(false)
      expect(value).toEqual({ __proto_: new Map([['polluted', true]]), a: 1 })
    },
  },
  {
    name: 'the same record repeated (msgpackr compiles a reader with new Function after a few)',
    serializer: 'msgpack',
    payload: bytes(
      [0xdc, 0, 6],
      record(['__proto__', 'a:1}),globalThis.polluted=1,({b'], [0xc3], [0x01]),
      ...Array.from({ length: 5 }, () => [0x40, 0xc3, 0x01]),
    ),
    outcome: 'data',
    check: (value) => {
      expect(value).toHaveLength(6)
      for (const item of value as object[]) plainPrototype(item)
      expect((globalThis as Record<string, unknown>).polluted).toBeUndefined()
    },
  },
  {
    name: 'record with constructor.prototype',
    serializer: 'msgpack',
    payload: record(['constructor'], record(['prototype'], record(['polluted'], [0xc3]))),
    outcome: 'data',
    check: (value) => {
      plainPrototype(value)
      expect(value).toEqual({ constructor: { prototype: { polluted: true } } })
    },
  },
  {
    name: 'map with a __proto__ key',
    serializer: 'msgpack',
    payload: bytes(map(1), str('__proto__'), map(1), str('polluted'), [0xc3]),
    outcome: 'data',
    check: (value) => expect(value).toBeInstanceOf(Map),
  },
  ...[
    'constructor',
    'valueOf',
    'toString',
    '__proto__',
    '__defineSetter__',
    'Function',
    'eval',
    'process',
  ].map(
    (name): CraftedPayload => ({
      name: `Error extension named ${name}`,
      serializer: 'msgpack',
      payload: extThenValue(0x65, arr(3), str(name), str('message'), [0xc0]),
      // msgpackr calls the Error constructor of its own table, or a generic Error named like this. A name
      // of an Object.prototype method reaches that method (msgpackr looks the name up in a plain object):
      // data comes back (a string, the table), nothing runs beyond it and nothing is polluted.
      outcome: name === '__proto__' || name === '__defineSetter__' ? 'miss' : 'data',
      check: (value) => expect(typeof value).not.toBe('function'),
    }),
  ),
  {
    name: 'structured-clone reference cycle (ids 0x69 / pointer 0x70)',
    serializer: 'msgpack',
    payload: bytes([0xd6, 0x69, 0, 0, 0, 1], map(1), str('self'), [0xd6, 0x70, 0, 0, 0, 1]),
    outcome: 'miss',
  },
  {
    name: 'pointer without an id',
    serializer: 'msgpack',
    payload: bytes([0xd6, 0x70, 0, 0, 0, 1]),
    outcome: 'miss',
  },
  {
    name: 'array32 of 4 G elements',
    serializer: 'msgpack',
    payload: bytes([0xdd, 0xff, 0xff, 0xff, 0xff, 1]),
    outcome: 'miss',
  },
  {
    name: 'map32 of 4 G entries',
    serializer: 'msgpack',
    payload: bytes([0xdf, 0xff, 0xff, 0xff, 0xff, 1]),
    outcome: 'miss',
  },
  {
    name: 'str32 of 4 GB',
    serializer: 'msgpack',
    payload: bytes([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]),
    outcome: 'miss',
  },
  {
    name: 'bin32 of 4 GB',
    serializer: 'msgpack',
    payload: bytes([0xc6, 0xff, 0xff, 0xff, 0xff, 0x61]),
    outcome: 'miss',
  },
  {
    name: 'ext32 of 4 GB',
    serializer: 'msgpack',
    payload: bytes([0xc9, 0xff, 0xff, 0xff, 0xff, 0x74, 1]),
    outcome: 'miss',
  },
  {
    name: 'nested arrays whose lengths sum past the input',
    serializer: 'msgpack',
    payload: bytes(...Array.from({ length: 20 }, () => [0xdc, 0x7f, 0xff])),
    outcome: 'miss',
  },
  {
    name: '200 000 levels of nesting (stack overflow while decoding)',
    serializer: 'msgpack',
    payload: new Uint8Array(200_000).fill(0x91),
    outcome: 'miss',
  },
  {
    name: 'bundled-strings extension with a bogus size',
    serializer: 'msgpack',
    payload: bytes([0xd6, 0x62, 0x7f, 0xff, 0xff, 0xff, 0x01]),
    outcome: 'miss',
  },
  {
    name: 'typed array of an unknown type',
    serializer: 'msgpack',
    payload: bytes([0xc7, 3, 0x74, 99, 1, 2]),
    outcome: 'miss',
  },
  {
    name: 'RegExp with a catastrophic pattern (built, never run)',
    serializer: 'msgpack',
    payload: extThenValue(0x78, arr(2), str('^(a+)+$'), str('')),
    outcome: 'data',
    check: (value) => expect(value).toBeInstanceOf(RegExp),
  },
  {
    name: 'invalid RegExp',
    serializer: 'msgpack',
    payload: extThenValue(0x78, arr(2), str('('), str('')),
    outcome: 'miss',
  },
  {
    // msgpackr hands back its own marker object for the never-used byte: odd data, nothing more.
    name: 'the never-used byte 0xc1',
    serializer: 'msgpack',
    payload: bytes([0xc1]),
    outcome: 'data',
    check: (value) => expect(typeof value).toBe('object'),
  },
  { name: 'trailing bytes', serializer: 'msgpack', payload: bytes([0x01, 0x02]), outcome: 'miss' },
  { name: 'empty payload', serializer: 'msgpack', payload: bytes(), outcome: 'miss' },
  {
    name: 'JSON with a __proto__ key',
    serializer: 'json',
    payload: Buffer.from('{"__proto__": {"polluted": true}, "a": 1}'),
    outcome: 'miss',
  },
  {
    name: 'JSON with an escaped __proto__ key',
    serializer: 'json',
    payload: Buffer.from('{"a": [{"\\u005f_proto__": {"polluted": true}}]}'),
    outcome: 'miss',
  },
  {
    name: 'JSON with constructor.prototype',
    serializer: 'json',
    payload: Buffer.from('{"constructor": {"prototype": {"polluted": true}}}'),
    outcome: 'data',
    check: (value) => {
      plainPrototype(value)
      expect(value).toEqual({ constructor: { prototype: { polluted: true } } })
    },
  },
  {
    name: 'JSON string that mentions __proto__ (data, not a key)',
    serializer: 'json',
    payload: Buffer.from('{"note": "__proto__ is just text here"}'),
    outcome: 'data',
    check: (value) => expect(value).toEqual({ note: '__proto__ is just text here' }),
  },
  { name: 'invalid UTF-8 in JSON', serializer: 'json', payload: bytes([0x22, 0xff, 0x22]), outcome: 'miss' },
  {
    name: 'JSON nested a million levels deep',
    serializer: 'json',
    payload: Buffer.from(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`),
    outcome: 'data',
  },
]

export interface RawHarness extends HostileHarness {
  /** Writes raw bytes at a remote key, as another client would. */
  writeRaw(key: string, value: Uint8Array): Promise<void>
  /** The namespace prefix of the caches `open` makes ('hostile:'). */
  readonly prefix: string
}

/** A crafted payload read through get, getMany and getOrSet: plain data, or a miss with DESERIALIZE_FAILED. */
export async function checkCrafted(harness: RawHarness, crafted: CraftedPayload): Promise<void> {
  await withCaches(harness, async (open) => {
    await harness.writeRaw(`${harness.prefix}crafted`, envelope(crafted.payload))
    const reader = open({ serializer: crafted.serializer, l1: false })
    const events: unknown[] = []
    reader.on('error', ({ operation, error }) =>
      events.push({ operation, code: (error as TierCacheError).code }),
    )
    const got = await settle(() => reader.get('crafted'))
    expect(got.ok).toBe(true)
    const many = await settle(() => reader.getMany(['crafted']))
    const loaded = await settle(() => reader.getOrSet('crafted', () => 'loaded'))
    if (crafted.outcome === 'miss') {
      expect(got).toEqual({ ok: true, value: undefined })
      expect(many).toEqual({ ok: true, value: [undefined] })
      // The loader ran and its value replaced the bytes.
      expect(loaded).toEqual({ ok: true, value: 'loaded' })
      expect(events).toContainEqual({ operation: 'decode', code: 'DESERIALIZE_FAILED' })
      expect(await open({ serializer: crafted.serializer }).get('crafted')).toBe('loaded')
    } else {
      if (got.ok) crafted.check?.(got.value)
      expect(events).toEqual([])
    }
  })
}

/** Random bytes after a valid header: a value or a miss, always settled. */
export async function checkRandomPayload(
  harness: RawHarness,
  payload: Uint8Array,
  serializer: 'msgpack' | 'json',
) {
  await withCaches(harness, async (open) => {
    await harness.writeRaw(`${harness.prefix}random`, envelope(payload))
    const outcome = await settle(() => open({ serializer, l1: false }).get('random'))
    expect(outcome.ok).toBe(true)
  })
}

/**
 * The hostile-input properties as tests, for one store: `harness()` is read when the tests run (a real
 * server's harness is built in a beforeAll). Store-specific extras stay in the calling file.
 */
export function describeHostileProperties(store: string, harness: () => RawHarness): void {
  it(`keys: any string (lone surrogates, separators, braces, over/under the limit) or a refusal; what is accepted reads back through ${store}`, async () => {
    const h = harness()
    await fc.assert(
      fc.asyncProperty(keyArbitrary, (key) => checkKey(h, key)),
      { numRuns: h.runs },
    )
  })

  it('two different keys never share an entry (UTF-8 would merge lone surrogates into U+FFFD)', async () => {
    const h = harness()
    const key = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.constantFrom('\ud800', '\udc00', '\ufffd', 'a\ud800', 'a\ufffd'),
    )
    await fc.assert(
      fc.asyncProperty(key, key, (a, b) => checkDistinctKeys(h, a, b)),
      { numRuns: h.runs },
    )
  })

  it('values (msgpack): stored exactly or SERIALIZE_FAILED / VALUE_TOO_LARGE, never half-written', async () => {
    const h = harness()
    await fc.assert(
      fc.asyncProperty(valueArbitrary, (make) => checkValue(h, make)),
      { numRuns: h.runs },
    )
  })

  it('values (json): stored as JSON would give them back, or refused', async () => {
    const h = harness()
    await fc.assert(
      fc.asyncProperty(valueArbitrary, (make) =>
        checkValue(h, make, { serializer: 'json' }, (value) => JSON.parse(JSON.stringify(value))),
      ),
      { numRuns: h.runs },
    )
  })

  it('a 10 MB string round-trips; a value over maxValueBytes is refused', async () => {
    const h = harness()
    await checkValue(h, () => 'ü'.repeat(5 * 1024 * 1024))
    await checkValue(h, () => 'x'.repeat(10 * 1024 * 1024), { maxValueBytes: 1024 * 1024 })
  })

  it('per-call options of any type: accepted (the store takes the expiry) or refused at the call', async () => {
    const h = harness()
    await fc.assert(
      fc.asyncProperty(optionsArbitrary, (options) => checkCallOptions(h, options)),
      { numRuns: h.runs },
    )
  })

  it('createCache options of any type: a working cache or a TierCacheError', async () => {
    const h = harness()
    await fc.assert(
      fc.asyncProperty(cacheOptionsArbitrary, (options) => checkCacheOptions(h, options)),
      { numRuns: h.runs },
    )
  })

  describe('crafted stored bytes (someone else wrote the key)', () => {
    it.each(craftedPayloads.map((crafted) => [crafted.name, crafted] as const))(
      '%s',
      async (_name, crafted) => {
        await checkCrafted(harness(), crafted)
      },
    )

    it('random bytes after a valid header: a value or a miss, never a crash or a hang', async () => {
      const h = harness()
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 64 }),
          fc.constantFrom('msgpack' as const, 'json' as const),
          (payload, serializer) => checkRandomPayload(h, payload, serializer),
        ),
        { numRuns: Math.max(h.runs, 50) },
      )
    })
  })
}
