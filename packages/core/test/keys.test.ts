import { createCache, MemoryStore, RESERVED_PREFIX } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { rejection, setupMemoryCache } from './support/memory-cache.js'
import { uniqueName } from './support/test-store.js'

const setup = setupMemoryCache

describe('keys', () => {
  it('rejects an empty key with INVALID_KEY on every operation', async () => {
    const { cache, store } = setup()
    for (const call of [
      () => cache.get(''),
      () => cache.set('', 1),
      () => cache.getOrSet('', () => 1),
      () => cache.delete(''),
      () => cache.delete(['ok', '']),
      () => cache.getMany(['ok', '']),
      () => cache.setMany([{ key: '', value: 1 }]),
    ]) {
      expect((await rejection(call())).code).toBe('INVALID_KEY')
    }
    expect(store.size).toBe(0)
  })

  it('rejects non-string keys with INVALID_KEY', async () => {
    const { cache } = setup()
    for (const key of [undefined, null, 1, {}, ['a'], Symbol('k'), 1n]) {
      expect((await rejection(cache.get(key as never))).code).toBe('INVALID_KEY')
      expect((await rejection(cache.set(key as never, 1))).code).toBe('INVALID_KEY')
      expect((await rejection(cache.getOrSet(key as never, () => 1))).code).toBe('INVALID_KEY')
    }
    expect((await rejection(cache.getMany('a' as never))).code).toBe('INVALID_KEY')
    expect((await rejection(cache.delete(5 as never))).code).toBe('INVALID_KEY')
  })

  it('accepts exactly 4096 UTF-8 bytes and rejects 4097 with KEY_TOO_LONG', async () => {
    const { cache, store } = setup()
    await cache.set('a'.repeat(4096), 1)
    expect(await cache.get('a'.repeat(4096))).toBe(1)
    const error = await rejection(cache.set('a'.repeat(4097), 1))
    expect(error.code).toBe('KEY_TOO_LONG')
    expect(error.message).toMatch(/4097.*4096/)
    expect(store.size).toBe(1)
  })

  it('counts UTF-8 bytes, not characters: multibyte keys hit the limit earlier', async () => {
    const { cache } = setup()
    // 'é' is 2 bytes, '€' is 3, '😀' is 4 (two UTF-16 units).
    expect(Buffer.byteLength('é'.repeat(2048))).toBe(4096)
    await cache.set('é'.repeat(2048), 1)
    expect((await rejection(cache.set(`${'é'.repeat(2048)}x`, 1))).code).toBe('KEY_TOO_LONG')
    expect((await rejection(cache.set('€'.repeat(1366), 1))).code).toBe('KEY_TOO_LONG') // 4098 bytes
    await cache.set('€'.repeat(1365), 1) // 4095 bytes
    expect((await rejection(cache.get('😀'.repeat(1025)))).code).toBe('KEY_TOO_LONG') // 4100 bytes
    expect(await cache.get('😀'.repeat(1024))).toBeUndefined() // 4096 bytes
  })

  it('maxKeyBytes is configurable, and validated', async () => {
    const { cache } = setup({ maxKeyBytes: 8 })
    await cache.set('12345678', 1)
    expect((await rejection(cache.set('123456789', 1))).code).toBe('KEY_TOO_LONG')
    expect((await rejection(cache.set('ééééé', 1))).code).toBe('KEY_TOO_LONG') // 5 chars, 10 bytes
    const big = setup({ maxKeyBytes: 10_000 }).cache
    await big.set('k'.repeat(9_000), 1)
    expect(await big.get('k'.repeat(9_000))).toBe(1)
    for (const maxKeyBytes of [0, -1, 1.5, Number.NaN, '10']) {
      expect(() => createCache({ store: new MemoryStore(), maxKeyBytes: maxKeyBytes as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      )
    }
  })

  it('accepts any Unicode, including :, {, }, spaces, and keeps keys distinct', async () => {
    const { cache, store } = setup()
    const keys = ['user:1', '{tag}:x', 'a b', ' ', 'ключ', '鍵:🔑', 'a}{b', 'tab\there', 'nul\u0000byte']
    for (const [i, key] of keys.entries()) await cache.set(key, i)
    for (const [i, key] of keys.entries()) expect(await cache.get(key)).toBe(i)
    expect(store.size).toBe(keys.length)
    expect(await store.get('{tag}:x')).toBeDefined()
  })

  it(`reserves the ${RESERVED_PREFIX} prefix`, async () => {
    const { cache } = setup({ namespace: 'app' })
    expect((await rejection(cache.set('__tc:tag:x', 1))).code).toBe('INVALID_KEY')
    expect((await rejection(cache.get('__tc:bus'))).code).toBe('INVALID_KEY')
    expect((await rejection(cache.getOrSet('__tc:', () => 1))).code).toBe('INVALID_KEY')
    // Only the prefix is reserved: look-alikes are ordinary keys.
    await cache.set('__tc', 1)
    await cache.set('x:__tc:y', 2)
    await cache.set('__TC:z', 3)
    expect(await cache.getMany(['__tc', 'x:__tc:y', '__TC:z'])).toEqual([1, 2, 3])
  })
})

describe('namespaces', () => {
  it('rejects empty, ::-broken and reserved namespaces with INVALID_NAMESPACE', () => {
    const store = `memory://${uniqueName('ns')}`
    for (const namespace of ['', ':', 'a:', ':a', 'a::b', '__tc', 'a:__tc', 5 as never]) {
      expect(() => createCache({ store, namespace })).toThrow(
        expect.objectContaining({ code: 'INVALID_NAMESPACE' }),
      )
    }
    const cache = createCache({ store })
    for (const name of ['', 'a:', '__tc']) {
      expect(() => cache.namespace(name)).toThrow(expect.objectContaining({ code: 'INVALID_NAMESPACE' }))
    }
  })
})
