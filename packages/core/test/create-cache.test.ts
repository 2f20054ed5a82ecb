import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createCache, isFatalError, MemoryStore, parseStoreUrl, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { importAdapter } from '../src/store/resolve-store.js'
import { type StoreMethod, TestStore, uniqueName } from './support/test-store.js'

function thrown(run: () => unknown): TierCacheError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(TierCacheError)
    return error as TierCacheError
  }
  throw new Error('expected a throw')
}

describe('createCache', () => {
  it('is synchronous and returns a usable cache', async () => {
    const cache = createCache({ store: `memory://${uniqueName('cc')}` })
    expect(cache).not.toBeInstanceOf(Promise)
    expect(typeof (cache as unknown as { then?: unknown }).then).toBe('undefined')
    await cache.ready()
    expect(cache.health().state).toBe('ready')
  })

  it('defaults to the embedded memory:// store', async () => {
    const cache = createCache({ namespace: uniqueName('default') })
    await cache.set('k', 'v')
    expect(await cache.get('k')).toBe('v')
    await cache.close()
  })

  it('does not connect (or import an adapter) while constructing', () => {
    // A remote URL with nothing listening: construction must not fail or wait.
    const started = Date.now()
    const cache = createCache({ store: 'redis://127.0.0.1:1' })
    // Far below a connect timeout (≥ 1 s); a loaded CI machine may still stall for tens of ms.
    expect(Date.now() - started).toBeLessThan(500)
    expect(cache.health().state).toBe('connecting')
  })

  it.each([
    ['ftp://host:21', 'UNKNOWN_SCHEME'],
    ['mongodb://h:1', 'UNKNOWN_SCHEME'],
    ['http://localhost', 'UNKNOWN_SCHEME'],
    ['localhost:6379', 'INVALID_URL'],
    ['not a url', 'INVALID_URL'],
    ['', 'INVALID_URL'],
    ['redis://host:99999', 'INVALID_URL'],
    ['redis://host:0', 'INVALID_URL'],
    ['redis://host:abc', 'INVALID_URL'],
    ['redis://host:', 'INVALID_URL'],
    ['redis://', 'INVALID_URL'],
    ['redis://:6379', 'INVALID_URL'],
    ['redis://a:1,b:2', 'INVALID_URL'],
    ['redis://a:1,b:2/0', 'INVALID_URL'],
    ['redis://host:6379/notadb', 'INVALID_URL'],
    ['redis://[::1:6379', 'INVALID_URL'],
    ['redis://user:%zz@host:6379', 'INVALID_URL'],
    ['redis+sentinel://h:1', 'INVALID_URL'],
    ['redis+sentinel://h1:1,h2:2', 'INVALID_URL'],
    ['redis+cluster://a:1,,b:2', 'INVALID_URL'],
  ])('createCache({ store: %j }) throws %s', (store, code) => {
    const error = thrown(() => createCache({ store }))
    expect(error.code).toBe(code)
  })

  it.each([
    'redis://user:s3cret@host:99999',
    'redis://:s3cret@host:99999',
    'redis://user:s3/cret@host:99999',
    'redis://user:s3@cret@host:99999',
    'redis+sentinel://user:s3cret@h1,h2',
    'redis://user:s3cret@host:1,host:2',
  ])('never shows the password of a malformed URL (%s)', (url) => {
    const error = thrown(() => createCache({ store: url }))
    expect(error.message).not.toMatch(/s3|cret/)
    expect(error.message).toContain('***@')
  })

  it('parses a password holding / or @ the same way it redacts it', () => {
    expect(parseStoreUrl('redis://user:s3/c@ret@host:6379/2')).toMatchObject({
      username: 'user',
      password: 's3/c@ret',
      hosts: [{ host: 'host', port: 6379 }],
      path: '2',
    })
  })

  it('also validates the options form of the store', () => {
    expect(thrown(() => createCache({ store: { url: 'redis://a:1,b:2' } })).code).toBe('INVALID_URL')
    expect(thrown(() => createCache({ store: { url: 'nope://x' } })).code).toBe('UNKNOWN_SCHEME')
    expect(thrown(() => createCache({ store: { tls: true } })).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store: { type: 'mongo' as never } })).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store: 42 as never })).code).toBe('INVALID_OPTION')
  })

  it('rejects wrong option types with INVALID_OPTION', () => {
    const store = `memory://${uniqueName('opt')}`
    expect(thrown(() => createCache(null as never)).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store, serializer: 'xml' as never })).code).toBe('INVALID_OPTION')
    expect(
      thrown(() => createCache({ store, serializer: { encode: () => new Uint8Array() } as never })).code,
    ).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store, l1: true as never })).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store, l1: { max: 0 } })).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store, l1: { max: 1.5 } })).code).toBe('INVALID_OPTION')
    expect(thrown(() => createCache({ store, l1: { maxBytes: -1 } })).code).toBe('INVALID_OPTION')
  })

  it('accepts the URL forms of DESIGN.md', () => {
    for (const url of [
      'memory://',
      'memory://named',
      'redis://localhost:6379',
      'redis://user:pass@localhost:6379/2',
      'rediss://h:6380',
      'valkey://h',
      'valkeys://h:1',
      'redis://[::1]:6379',
      'redis+sentinel://h1:26379,h2:26379,h3:26379/mymaster?role=master&sentinelPassword=x',
      'redis+cluster://u:p@h1:7000,h2:7001,h3:7002',
    ]) {
      expect(() => createCache({ store: url }), url).not.toThrow()
    }
    expect(parseStoreUrl('redis+sentinel://:pw@h1:26379,h2/mymaster?role=master')).toMatchObject({
      scheme: 'redis+sentinel',
      password: 'pw',
      hosts: [
        { host: 'h1', port: 26379 },
        { host: 'h2', port: 26379 },
      ],
      path: 'mymaster',
      params: { role: 'master' },
    })
    expect(parseStoreUrl('rediss://h').tls).toBe(true)
    expect(parseStoreUrl('redis://[::1]:7000').hosts).toEqual([{ host: '::1', port: 7000 }])
  })

  it('memory://<name> is one store per name, shared by every cache of that name', async () => {
    const name = uniqueName('shared')
    const a = createCache({ store: `memory://${name}`, l1: false })
    const b = createCache({ store: `memory://${name}`, l1: false })
    const other = createCache({ store: `memory://${uniqueName('other')}`, l1: false })
    await a.set('k', 1)
    expect(await b.get('k')).toBe(1)
    expect(await other.get('k')).toBeUndefined()
    expect(MemoryStore.shared(name).size).toBe(1)
  })
})

describe('adapter resolution', () => {
  it('importAdapter names the missing package and how to install it (ADAPTER_MISSING, fatal)', async () => {
    const error = await importAdapter('@tiercache/does-not-exist', "'redis://h:1'").then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(TierCacheError)
    expect(error).toMatchObject({ code: 'ADAPTER_MISSING' })
    expect((error as Error).message).toContain('@tiercache/does-not-exist')
    expect((error as Error).message).toContain('npm install @tiercache/does-not-exist')
    expect((error as Error).message).toContain("'redis://h:1'")
    expect(isFatalError(error)).toBe(true)
  })

  it('importAdapter rejects a package without createStore as ADAPTER_INVALID', async () => {
    // lru-cache is installed but is no adapter.
    await expect(importAdapter('lru-cache', 'x')).rejects.toMatchObject({ code: 'ADAPTER_INVALID' })
  })
})

describe('a store whose adapter is missing', () => {
  const clusterSources = fileURLToPath(new URL('../../cluster/src/index.ts', import.meta.url))

  it.skipIf(existsSync(clusterSources))(
    'redis+cluster:// rejects operations and ready() with ADAPTER_MISSING naming @tiercache/cluster (skipped once the cluster package has sources here)',
    async () => {
      const cache = createCache({ store: 'redis+cluster://127.0.0.1:1' })
      await expect(cache.ready()).rejects.toMatchObject({
        code: 'ADAPTER_MISSING',
        message: expect.stringContaining('npm install @tiercache/cluster'),
      })
      await expect(cache.get('k')).rejects.toMatchObject({ code: 'ADAPTER_MISSING' })
      await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'ADAPTER_MISSING' })
    },
  )

  // The same failure, independent of which adapters this workspace has built: a store that rejects every
  // call with the error importAdapter produces (which is what the lazy store does).
  async function missingAdapterStore(): Promise<{ store: TestStore; error: unknown }> {
    const error = await importAdapter('@tiercache/not-installed', 'redis://h:1').catch((e: unknown) => e)
    const store = new TestStore()
    store.ready = () => Promise.reject(error)
    for (const method of Object.keys(store.calls) as StoreMethod[]) {
      ;(store as unknown as Record<string, () => Promise<never>>)[method] = () => Promise.reject(error)
    }
    return { store, error }
  }

  it('every operation and ready() reject with ADAPTER_MISSING instead of failing open', async () => {
    const { store, error } = await missingAdapterStore()
    const cache = createCache({ store })
    const errors: unknown[] = []
    cache.on('error', (event) => errors.push(event.error))
    await expect(cache.ready()).rejects.toBe(error)
    await expect(cache.get('k')).rejects.toBe(error)
    await expect(cache.getMany(['a', 'b'])).rejects.toBe(error)
    await expect(cache.getOrSet('k', () => 1)).rejects.toBe(error)
    await expect(cache.set('k', 1)).rejects.toBe(error)
    await expect(cache.set('k', 1, { tags: ['t'] })).rejects.toBe(error)
    await expect(cache.setMany([{ key: 'k', value: 1 }])).rejects.toBe(error)
    await expect(cache.delete('k')).rejects.toBe(error)
    await expect(cache.invalidateTags('t')).rejects.toBe(error)
    await expect(cache.clear()).rejects.toBe(error)
    expect(errors).toEqual([])
  })

  it('a set that was rejected for misconfiguration leaves nothing in L1 to answer later gets', async () => {
    const { store, error } = await missingAdapterStore()
    const cache = createCache({ store })
    await expect(cache.set('k', 1)).rejects.toBe(error)
    await expect(cache.setMany([{ key: 'm', value: 1 }])).rejects.toBe(error)
    await expect(cache.get('k')).rejects.toBe(error)
    await expect(cache.getMany(['m'])).rejects.toBe(error)
  })
})

describe('describing a cache', () => {
  it('String, JSON and inspect name the namespace and the store, with credentials masked', async () => {
    const { inspect } = await import('node:util')
    const cache = createCache({ store: 'redis://app:S3cr3t@127.0.0.1:1/0', namespace: 'billing' })
    try {
      expect(String(cache)).toBe("TierCache(namespace 'billing', redis://app:***@127.0.0.1:1/0)")
      expect(String(cache.namespace('eu'))).toContain("namespace 'billing:eu'")
      expect(JSON.stringify({ cache })).not.toContain('S3cr3t')
      expect(inspect(cache)).toBe(String(cache))
      expect(String(createCache())).toBe('TierCache(no namespace, memory store)')
    } finally {
      await cache.close()
    }
  })
})
