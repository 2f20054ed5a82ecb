import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  type Cache,
  Cached,
  createCache,
  defaultKey,
  encodeArgs,
  HASH_ENCODINGS_OVER_BYTES,
  Invalidate,
  isTierCacheError,
  TierCacheError,
} from '@tiercache/core'
import fc from 'fast-check'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The test runner's transformer (oxc) cannot lower standard decorators, so the decorated classes live in
// decorators.fixture.ts and are compiled here by TypeScript itself, with the project's settings
// (tsconfig.base.json: standard decorators), then imported. The compile also type-checks
// decorators.types.ts, whose @ts-expect-error lines must all be errors.
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..')
const outDir = join(here, '.tmp', `tc39-${process.pid}`)

type Fixture = typeof import('./decorators.fixture.js')
let fixture: Fixture

function compileFixture(): string[] {
  const configPath = join(root, 'tsconfig.base.json')
  const { config } = ts.readConfigFile(configPath, ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root)
  const options: ts.CompilerOptions = {
    ...parsed.options,
    composite: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    noEmit: false,
    rootDir: root,
    outDir,
    // Type-check against core's sources, not a possibly stale dist/.
    paths: { '@tiercache/core': [join(root, 'packages/core/src/index.ts')] },
  }
  const files = [join(here, 'decorators.fixture.ts'), join(here, 'decorators.types.ts')]
  const program = ts.createProgram(files, options)
  const diagnostics = files.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)))
  const emitted = program.emit(program.getSourceFile(files[0]!))
  return [...diagnostics, ...emitted.diagnostics].map(
    (d) =>
      `${d.file?.fileName ?? ''}:${d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : ''} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
  )
}

let compileErrors: string[] = []
beforeAll(async () => {
  mkdirSync(outDir, { recursive: true })
  compileErrors = compileFixture()
  fixture = (await import(
    pathToFileURL(join(outDir, 'packages/core/test/decorators.fixture.js')).href
  )) as Fixture
}, 60_000)

afterAll(() => rmSync(outDir, { recursive: true, force: true }))

let counter = 0
/** A fresh root cache on a store of its own, so tests never see each other's entries. */
function freshCache(options: Parameters<typeof createCache>[0] = {}): Cache {
  return createCache({ store: `memory://decorators-${process.pid}-${++counter}`, ...options })
}

describe('standard (TC39) decorators, compiled by tsc', () => {
  it('compiles with the project settings, and every @ts-expect-error in decorators.types.ts is an error', () => {
    expect(compileErrors).toEqual([])
  })

  it('caches through getOrSet: one load, then hits; tags and ttl apply', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    expect(await service.getUser('1')).toEqual({ id: '1', name: 'Ada', orgId: '7' })
    expect(await service.getUser('1')).toEqual({ id: '1', name: 'Ada', orgId: '7' })
    expect(service.loads).toBe(1)
    expect(await cache.get('user:1')).toEqual({ id: '1', name: 'Ada', orgId: '7' })
    await cache.invalidateTags('user:1')
    await service.getUser('1')
    expect(service.loads).toBe(2)
    await cache.close()
  })

  it('100 concurrent calls make one method call (single-flight)', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    const results = await Promise.all(Array.from({ length: 100 }, () => service.getUser('2')))
    expect(new Set(results.map((user) => user?.name))).toEqual(new Set(['Grace']))
    expect(service.loads).toBe(1)
    await cache.close()
  })

  it('method errors reach the caller unchanged and are not cached', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    const boom = new Error('db down')
    service.failNext = boom
    await expect(service.getUser('1')).rejects.toBe(boom)
    service.failNext = undefined
    expect((await service.getUser('1'))?.name).toBe('Ada')
    expect(service.loads).toBe(2)
    await cache.close()
  })

  it('@Invalidate runs the method, invalidates after it succeeds and returns its result unchanged', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    await service.getUser('1')
    const result = await service.renameUser('1', 'Lovelace')
    expect(result).toEqual({ renamed: '1' })
    // Invalidation finished before the call returned: the next read loads the new name.
    expect((await service.getUser('1'))?.name).toBe('Lovelace')
    expect(service.loads).toBe(2)
    await cache.close()
  })

  it('@Invalidate invalidates nothing when the method throws', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    await cache.set('user:9', { id: '9', name: 'cached', orgId: '1' }, { tags: ['user:9'] })
    await expect(service.renameUser('9', 'x')).rejects.toThrow('no user 9')
    expect(await cache.get('user:9')).toMatchObject({ name: 'cached' })
    await cache.close()
  })

  it('@Invalidate with keys, and with keys/tags computed from the result', async () => {
    const cache = freshCache()
    const service = new (fixture.userServiceClass(cache))()
    await service.getUser('2')
    expect(await service.deleteUser('2')).toBe(true)
    expect(await cache.get('user:2')).toBeUndefined()

    expect(await service.usersOf('7')).toEqual(['1'])
    await service.getUser('1')
    const moved = await service.moveUser('1', '8')
    expect(moved).toBe(service.db.get('1')) // the very object the method returned
    expect(await cache.get('user:1')).toBeUndefined()
    // tagsFromResult saw the user *after* the move, so it invalidated org:8, not org:7.
    expect(await service.usersOf('8')).toEqual(['1'])
    expect(await cache.get('org-users:7')).toEqual(['1'])
    await cache.close()
  })

  it('default keys: ClassName.method + encoded arguments, boundaries kept, objects structural', async () => {
    const cache = freshCache()
    const { Catalog, SpecialCatalog } = fixture.catalogClass(cache)
    const catalog = new Catalog()
    await catalog.find('a', 'bc')
    await catalog.find('ab', 'c')
    expect(catalog.calls).toHaveLength(2)
    expect(await cache.get('Catalog.find:"a","bc"')).toBe(1)
    expect(await cache.get('Catalog.find:"ab","c"')).toBe(2)

    await catalog.find({ b: 1, a: [1, { d: 2, c: 3 }] })
    await catalog.find({ a: [1, { c: 3, d: 2 }], b: 1 })
    expect(catalog.calls).toHaveLength(3)

    // A subclass shares the declaring class's entries.
    const special = new SpecialCatalog()
    expect(await special.find('a', 'bc')).toBe(1)
    expect(special.calls).toHaveLength(0)

    expect(await catalog.count('books')).toBe(5)
    expect(await cache.get('catalog-v2.count:"books"')).toBe(5)
    expect(await Catalog.version(2)).toBe('v2')
    expect(await cache.get('Catalog.version:2')).toBe('v2')
    expect(await catalog.secret(21)).toBe(42)
    expect(await cache.get('Catalog.#secret:21')).toBe(42)
    await cache.close()
  })

  it('an argument that cannot be encoded rejects the call with KEY_ENCODING_FAILED', async () => {
    const cache = freshCache()
    const { Catalog } = fixture.catalogClass(cache)
    const catalog = new Catalog()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const bad of [() => 1, Symbol('s'), cyclic, { nested: [() => 1] }]) {
      const error = await catalog.find('ok', bad).catch((e: unknown) => e)
      expect(isTierCacheError(error, 'KEY_ENCODING_FAILED')).toBe(true)
      expect((error as Error).message).toContain('Catalog.find')
    }
    expect(catalog.calls).toHaveLength(0)
    await cache.close()
  })

  it('cache as a function of the instance: one class, many caches', async () => {
    const cache = freshCache({ namespace: 'tenants' })
    const Repo = fixture.tenantRepoClass()
    const a = new Repo(cache.namespace('a'))
    const b = new Repo(cache.namespace('b'))
    expect(await a.item(1)).toBe('item 1 of tenants:a')
    expect(await b.item(1)).toBe('item 1 of tenants:b')
    await a.item(1)
    expect(a.loads + b.loads).toBe(2)
    await a.touch(1)
    await a.item(1)
    await b.item(1)
    expect(a.loads).toBe(2)
    expect(b.loads).toBe(1)
    // Detached from its instance, a method with a cache function says what went wrong.
    const detached = a.item
    await expect(detached(1)).rejects.toMatchObject({ code: 'DECORATOR_MISUSE' })
    await cache.close()
  })

  it('when: a rejected result is returned to every concurrent caller but not stored', async () => {
    const cache = freshCache()
    const lookup = new (fixture.conditionalClass(cache))()
    const misses = await Promise.all(Array.from({ length: 10 }, () => lookup.search('missing-1')))
    expect(misses).toEqual(Array(10).fill(null))
    expect(lookup.loads).toBe(1)
    expect(await cache.get('q:missing-1')).toBeUndefined()
    await lookup.search('missing-1')
    expect(lookup.loads).toBe(2)

    expect(await lookup.search('ada')).toBe('found ada')
    expect(await lookup.search('ada')).toBe('found ada')
    expect(lookup.loads).toBe(3)
    expect(await cache.get('q:ada')).toBe('found ada')
    await cache.close()
  })

  it('bypass: the method is called directly, the cache neither read nor written', async () => {
    const cache = freshCache()
    const lookup = new (fixture.conditionalClass(cache))()
    expect(await lookup.read('x')).toBe(1)
    expect(await lookup.read('x')).toBe(1)
    expect(await lookup.read('x', true)).toBe(2)
    expect(await lookup.read('x', true)).toBe(3)
    expect(await lookup.read('x')).toBe(1)
    await cache.close()
  })

  it('grace: when the method fails after expiry, the stale result is served', async () => {
    const cache = freshCache()
    const lookup = new (fixture.conditionalClass(cache))()
    expect(await lookup.rate()).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 80))
    lookup.fail = true
    expect(await lookup.rate()).toBe(1)
    expect(lookup.loads).toBe(2)
    await cache.close()
  })

  it('timeouts: a method past its hard timeout fails with LOADER_TIMEOUT', async () => {
    const cache = freshCache()
    const lookup = new (fixture.conditionalClass(cache))()
    lookup.delayMs = 300
    await expect(lookup.slow('a')).rejects.toMatchObject({ code: 'LOADER_TIMEOUT' })
    lookup.delayMs = 0
    expect(await lookup.slow('b')).toBe('b')
    await cache.close()
  })

  it('@Invalidate can drop an entry stored under a default key (defaultKey)', async () => {
    const cache = freshCache()
    const reports = new (fixture.reportClass(cache))()
    expect(await reports.report(2024, { region: 'eu' })).toBe('2024/eu#1')
    expect(await reports.report(2024, { region: 'eu', tags: undefined })).toBe('2024/eu#1')
    await reports.refresh(2024, { region: 'eu' })
    expect(await reports.report(2024, { region: 'eu' })).toBe('2024/eu#2')
    await cache.close()
  })

  it('misuse throws DECORATOR_MISUSE when the class is defined (field, getter, accessor, class, generator)', () => {
    const cache = freshCache()
    for (const define of [
      fixture.misuses.field,
      fixture.misuses.getter,
      fixture.misuses.accessor,
      fixture.misuses.classDecorator,
      fixture.misuses.generator,
    ]) {
      let error: unknown
      try {
        define(cache)
      } catch (e) {
        error = e
      }
      expect(isTierCacheError(error, 'DECORATOR_MISUSE'), String(error)).toBe(true)
    }
  })

  it('a sync method rejects with DECORATOR_MISUSE instead of silently becoming async', async () => {
    const cache = freshCache()
    const Bad = fixture.misuses.syncMethod(cache)
    const bad = new Bad() as unknown as { compute(): Promise<number>; reset(): Promise<number> }
    await expect(bad.compute()).rejects.toMatchObject({ code: 'DECORATOR_MISUSE' })
    expect(await cache.get('sync')).toBeUndefined()
    await cache.set('sync', 1)
    // @Invalidate already ran the method: it still invalidates, then reports the misuse.
    await expect(bad.reset()).rejects.toMatchObject({ code: 'DECORATOR_MISUSE' })
    expect(await cache.get('sync')).toBeUndefined()
    await cache.close()
  })

  it('wrapped methods keep their name and length', () => {
    const cache = freshCache()
    const Service = fixture.userServiceClass(cache)
    expect(Service.prototype.getUser.name).toBe('getUser')
    expect(Service.prototype.renameUser.length).toBe(2)
  })
})

describe('decorator options are validated when the decorator is created', () => {
  const cache = createCache({ store: 'memory://decorator-options' })
  const misuse = (fn: () => unknown) => {
    try {
      fn()
    } catch (error) {
      return (error as TierCacheError).code
    }
    return 'no error'
  }

  it('rejects a missing or wrong cache, unknown options and bad keys', () => {
    expect(misuse(() => Cached({} as never))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Cached({ cache: 'redis://x' as never }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Cached({ cache, tll: '5m' } as never))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Cached({ cache, key: '' }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Cached({ cache, tags: 'user' as never }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Cached({ cache, when: true as never }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Invalidate({ cache }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Invalidate({ cache, keys: [''] }))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => Invalidate({ cache, keysFromResult: 'k' as never }))).toBe('DECORATOR_MISUSE')
  })

  it('rejects bad durations with the duration codes', () => {
    expect(misuse(() => Cached({ cache, ttl: 0 }))).toBe('INVALID_TTL')
    expect(misuse(() => Cached({ cache, ttl: '5 minutes' as never }))).toBe('INVALID_TTL')
    expect(misuse(() => Cached({ cache, grace: -1 }))).toBe('INVALID_DURATION')
    expect(misuse(() => Cached({ cache, timeouts: { hard: 'soon' as never } }))).toBe('INVALID_DURATION')
  })

  it('rejects calls that are neither decorator mode', () => {
    expect(misuse(() => (Cached({ cache }) as any)())).toBe('DECORATOR_MISUSE')
    expect(misuse(() => (Cached({ cache }) as any)(() => 1, 'x'))).toBe('DECORATOR_MISUSE')
    expect(misuse(() => (Cached({ cache }) as any)({}, 'm', { value: 42 }))).toBe('DECORATOR_MISUSE')
  })
})

describe('default key encoding', () => {
  it('keeps argument boundaries and tells types apart', () => {
    expect(encodeArgs(['a', 'bc'])).not.toBe(encodeArgs(['ab', 'c']))
    expect(encodeArgs(['a,b'])).not.toBe(encodeArgs(['a', 'b']))
    expect(encodeArgs([['a', 'b']])).not.toBe(encodeArgs(['a', 'b']))
    const distinct = [1, '1', 1n, true, 'true', null, 'null', [], {}, new Set(), new Map(), [undefined], '']
    expect(new Set(distinct.map((v) => encodeArgs([v]))).size).toBe(distinct.length)
  })

  it('encodes objects structurally: key order does not matter, undefined properties are left out', () => {
    expect(encodeArgs([{ a: 1, b: { c: 2, d: [1, 2] } }])).toBe(
      encodeArgs([{ b: { d: [1, 2], c: 2 }, a: 1 }]),
    )
    expect(encodeArgs([{ a: 1, b: undefined }])).toBe(encodeArgs([{ a: 1 }]))
    expect(encodeArgs([{ a: 1 }])).not.toBe(encodeArgs([{ a: '1' }]))
    expect(encodeArgs([Object.assign(Object.create(null), { x: 1 })])).toBe(encodeArgs([{ x: 1 }]))
  })

  it('handles Date, Map, Set, bigint, undefined, null, nested arrays and typed arrays', () => {
    expect(encodeArgs([new Date('2024-05-01T00:00:00Z')])).toBe('Date(2024-05-01T00:00:00.000Z)')
    expect(encodeArgs([new Date(Number.NaN)])).toBe('Date(NaN)')
    expect(
      encodeArgs([
        new Map([
          ['b', 2],
          ['a', 1],
        ]),
      ]),
    ).toBe(
      encodeArgs([
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      ]),
    )
    expect(encodeArgs([new Set([3, 1, 2])])).toBe(encodeArgs([new Set([1, 2, 3])]))
    expect(encodeArgs([new Set([1])])).not.toBe(encodeArgs([[1]]))
    expect(encodeArgs([10n ** 30n])).toBe('1000000000000000000000000000000n')
    expect(encodeArgs([undefined, null])).toBe('undefined,null')
    expect(encodeArgs([1, undefined])).toBe(encodeArgs([1])) // trailing undefined = omitted argument
    expect(encodeArgs([[1, [2, [3, []]]]])).toBe('[1,[2,[3,[]]]]')
    expect(encodeArgs([Number.NaN, -Infinity])).toBe('NaN,-Infinity')
    expect(encodeArgs([new Uint8Array([1, 2, 3])])).toBe('Uint8Array(AQID)')
    expect(encodeArgs([/a+b/gi])).toBe('RegExp("a+b",gi)')
    expect(encodeArgs([new URL('https://example.com/a')])).toBe('URL("https://example.com/a")')
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(encodeArgs([new Point(1, 2)])).toBe('Point{"x":1,"y":2}')
    expect(encodeArgs([new Point(1, 2)])).not.toBe(encodeArgs([{ x: 1, y: 2 }]))
    const shared = { a: 1 }
    expect(encodeArgs([[shared, shared]])).toBe('[{"a":1},{"a":1}]') // shared, not cyclic
  })

  it('rejects functions, symbols, cycles, promises and weak collections with KEY_ENCODING_FAILED', () => {
    const cyclic: unknown[] = []
    cyclic.push(cyclic)
    const map = new Map<string, unknown>()
    map.set('self', map)
    for (const bad of [
      () => 1,
      Symbol('x'),
      cyclic,
      map,
      Promise.resolve(1),
      new WeakMap(),
      { f: () => 1 },
    ]) {
      expect(() => encodeArgs([bad]), String(bad)).toThrow(TierCacheError)
      try {
        encodeArgs(['ok', bad], 'Svc.m argument')
      } catch (error) {
        expect((error as TierCacheError).code).toBe('KEY_ENCODING_FAILED')
        expect((error as Error).message).toMatch(/^Svc\.m argument 2/)
      }
    }
  })

  it(`hashes encodings over ${HASH_ENCODINGS_OVER_BYTES} bytes (sha256, base64url)`, () => {
    const long = 'x'.repeat(HASH_ENCODINGS_OVER_BYTES)
    const key = encodeArgs([long])
    expect(key).toMatch(/^#sha256:[A-Za-z0-9_-]{43}$/)
    expect(encodeArgs([long])).toBe(key)
    expect(encodeArgs([`${long}y`])).not.toBe(key)
    expect(encodeArgs(['é'.repeat(300)])).toMatch(/^#sha256:/) // 302 characters but 602 UTF-8 bytes
    expect(encodeArgs(['x'.repeat(300)])).toBe(JSON.stringify('x'.repeat(300)))
    expect(defaultKey('Svc.m', [long]).length).toBeLessThan(60)
  })

  it('property: string argument lists encode equally exactly when they are equal', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { maxLength: 4 }),
        fc.array(fc.string(), { maxLength: 4 }),
        (a, b) => {
          const same = a.length === b.length && a.every((s, i) => s === b[i])
          return (encodeArgs(a) === encodeArgs(b)) === same
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: object key order never changes the encoding', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse())
        return encodeArgs([object]) === encodeArgs([reversed])
      }),
      { numRuns: 300 },
    )
  })
})
