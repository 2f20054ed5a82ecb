import { createCache, isTierCacheError, type RemoteStore } from '@tiercache/core'
import { command, redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore, escapeGlob, type RedisStore } from '../src/index.js'
import { resolveStandaloneOptions } from '../src/options.js'

const bin = redisBinary()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const bytes = (text: string) => new TextEncoder().encode(text)
// A symbol (the SPI's UNAVAILABLE marker, which this store never returns) shows as itself, so it fails a check.
const text = (value: Uint8Array | undefined | symbol) =>
  value === undefined ? undefined : typeof value === 'symbol' ? String(value) : Buffer.from(value).toString()

describe('options', () => {
  it('reads URLs and the options form', () => {
    const { client, tuning } = resolveStandaloneOptions({
      url: 'rediss://u:p%40ss@example.com:6380/3?commandTimeoutMs=250',
      parsed: {
        scheme: 'rediss',
        tls: true,
        username: 'u',
        password: 'p@ss',
        hosts: [{ host: 'example.com', port: 6380 }],
        path: '3',
        params: { commandTimeoutMs: '250' },
      },
    })
    expect(client).toMatchObject({ host: 'example.com', port: 6380, db: 3, username: 'u', password: 'p@ss' })
    expect(client.tls).toEqual({})
    expect(client).toMatchObject({ lazyConnect: true, enableOfflineQueue: false, enableAutoPipelining: true })
    expect(client.commandTimeout).toBe(250)
    expect(tuning.commandTimeoutMs).toBe(250)
    expect(tuning.invalidationDeadlineMs).toBe(5000)
    const form = resolveStandaloneOptions({ type: 'redis', host: 'h', port: 1, tls: { servername: 'x' } })
    expect(form.client).toMatchObject({ host: 'h', port: 1, tls: { servername: 'x' } })
    expect(() => resolveStandaloneOptions({ type: 'redis', commandTimeoutMs: -1 })).toThrow(
      /commandTimeoutMs/,
    )
  })
  it('escapes glob characters', () => {
    expect(escapeGlob('a*b?[c]\\d')).toBe('a\\*b\\?\\[c\\]\\\\d')
  })
})

describe.skipIf(!bin.available)(`RedisStore SPI against redis-server (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  let store: RemoteStore
  beforeAll(async () => {
    topo = await startStandalone()
    store = createStore({
      url: topo.url,
      parsed: {
        scheme: 'redis',
        tls: false,
        hosts: [{ host: topo.host, port: topo.port }],
        path: '',
        params: {},
      },
    })
    await store.ready()
  })
  afterAll(async () => {
    await store?.close()
    await topo?.stop()
  })

  it('get / set / getMany / setMany / delete with PX ttls', async () => {
    expect(await store.get('spi:none')).toBeUndefined()
    await store.set('spi:a', bytes('A'), 60_000)
    await store.setMany([
      { key: 'spi:b', value: bytes('B'), ttlMs: 60_000 },
      { key: 'spi:short', value: bytes('S'), ttlMs: 80 },
    ])
    expect(text(await store.get('spi:a'))).toBe('A')
    expect((await store.getMany(['spi:a', 'spi:none', 'spi:b'])).map(text)).toEqual(['A', undefined, 'B'])
    expect(await store.getMany([])).toEqual([])
    const pttl = Number(await command(topo.host, topo.port, ['PTTL', 'spi:a']))
    expect(pttl).toBeGreaterThan(59_000)
    await sleep(150)
    expect(await store.get('spi:short')).toBeUndefined()
    expect(await store.delete(['spi:a', 'spi:b'])).toEqual({ status: 'applied' })
    expect((await store.getMany(['spi:a', 'spi:b'])).map(text)).toEqual([undefined, undefined])
  })

  it('getMany of more keys than one MGET batch keeps key order', async () => {
    const keys = Array.from({ length: 1200 }, (_, i) => `spi:many:${i}`)
    await store.setMany(keys.map((key, i) => ({ key, value: bytes(String(i)), ttlMs: 60_000 })))
    const values = await store.getMany(keys)
    expect(values.map(text)).toEqual(keys.map((_, i) => String(i)))
  })

  it('generations: 0 when never bumped, INCR in one pipeline', async () => {
    expect(await store.getGenerations(['g:__tc:tag:a', 'g:__tc:tag:b'])).toEqual([0, 0])
    const bumped = await store.bumpGenerations(['g:__tc:tag:a', 'g:__tc:tag:a2'])
    expect(bumped).toMatchObject({ status: 'applied', generations: [1, 1] })
    expect((await store.bumpGenerations(['g:__tc:tag:a'])).generations).toEqual([2])
    expect(await store.getGenerations(['g:__tc:tag:a', 'g:__tc:tag:b'])).toEqual([2, 0])
  })

  it('clearPrefix removes the namespace, keeps __tc: keys, treats glob chars literally', async () => {
    const ns = 'we*ird?[ns]\\'
    await store.setMany([
      { key: `${ns}:k1`, value: bytes('1'), ttlMs: 60_000 },
      { key: `${ns}:sub:k2`, value: bytes('2'), ttlMs: 60_000 },
      { key: 'weXirdY[ns]\\:k3', value: bytes('3'), ttlMs: 60_000 },
      { key: 'other:k4', value: bytes('4'), ttlMs: 60_000 },
    ])
    await store.bumpGenerations([`${ns}:__tc:tag:t`])
    const many = Array.from({ length: 1500 }, (_, i) => ({
      key: `${ns}:bulk:${i}`,
      value: bytes('x'),
      ttlMs: 60_000,
    }))
    await store.setMany(many)
    expect(await store.clearPrefix(`${ns}:`, `${ns}:__tc:`)).toEqual({ status: 'applied' })
    expect(await store.get(`${ns}:k1`)).toBeUndefined()
    expect(await store.get(`${ns}:sub:k2`)).toBeUndefined()
    expect(await store.get(`${ns}:bulk:1499`)).toBeUndefined()
    expect(text(await store.get('weXirdY[ns]\\:k3'))).toBe('3')
    expect(text(await store.get('other:k4'))).toBe('4')
    expect(await store.getGenerations([`${ns}:__tc:tag:t`])).toEqual([1])
  })

  it('health reports ready and a closed circuit', () => {
    expect(store.health()).toMatchObject({ state: 'ready', circuit: 'closed', queuedInvalidations: 0 })
    expect((store as RedisStore).kind).toBe('redis')
  })
})

describe.skipIf(!bin.available)('createCache over redis:// end to end', () => {
  let topo: StandaloneTopology
  beforeAll(async () => {
    topo = await startStandalone()
  })
  afterAll(async () => {
    await topo?.stop()
  })

  it("two services share the remote tier and drop each other's L1 through the bus", async () => {
    const a = createCache({ store: topo.url, namespace: 'svc' })
    const b = createCache({ store: topo.url, namespace: 'svc' })
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('user:1', { name: 'v1' })
      await sleep(50) // let a's own bus message pass, so b's first read is remembered
      const hits: string[] = []
      b.on('hit', (e) => hits.push(e.tier))
      expect(await b.get('user:1')).toEqual({ name: 'v1' })
      expect(await b.get('user:1')).toEqual({ name: 'v1' })
      expect(hits).toEqual(['remote', 'l1'])

      const seenBy = async (check: () => Promise<boolean>) => {
        const started = Date.now()
        while (Date.now() - started < 500) {
          if (await check()) return Date.now() - started
          await sleep(5)
        }
        throw new Error('not propagated within 500 ms')
      }
      // set
      await a.set('user:1', { name: 'v2' })
      await seenBy(async () => (await b.get<{ name: string }>('user:1'))?.name === 'v2')
      // delete
      await a.delete('user:1')
      await seenBy(async () => (await b.get('user:1')) === undefined)
      // invalidateTags
      await a.set('user:2', 'x', { tags: ['org:7'] })
      expect(await b.get('user:2')).toBe('x')
      await a.invalidateTags('org:7')
      await seenBy(async () => (await b.get('user:2')) === undefined)
      // clear
      await a.set('user:3', 'y')
      expect(await b.get('user:3')).toBe('y')
      expect(await a.clear()).toEqual({ status: 'applied' })
      await seenBy(async () => (await b.get('user:3')) === undefined)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('stampede: 1000 concurrent getOrSet over 2 instances call the loader at most twice', async () => {
    const a = createCache({ store: topo.url, namespace: 'stampede' })
    const b = createCache({ store: topo.url, namespace: 'stampede' })
    try {
      let calls = 0
      const loader = async () => {
        calls++
        await sleep(50)
        return { v: 42 }
      }
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? a : b).getOrSet('cold', loader)),
      )
      expect(results.every((r) => r.v === 42)).toBe(true)
      expect(calls).toBeGreaterThanOrEqual(1)
      expect(calls).toBeLessThanOrEqual(2)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('corrupt or foreign bytes are a miss plus a DESERIALIZE_FAILED error event, never a throw', async () => {
    const cache = createCache({ store: topo.url, namespace: 'corrupt' })
    try {
      await command(topo.host, topo.port, ['SET', 'corrupt:k', 'hello from another client'])
      await command(topo.host, topo.port, ['SET', 'corrupt:k2', '\u0000\u00ff\u0013garbage'])
      const errors: unknown[] = []
      cache.on('error', (e) => errors.push(e.error))
      expect(await cache.get('k')).toBeUndefined()
      expect(await cache.getMany(['k2', 'k'])).toEqual([undefined, undefined])
      expect(await cache.getOrSet('k', () => 'loaded')).toBe('loaded')
      expect(errors.length).toBeGreaterThanOrEqual(3)
      expect(errors.every((e) => isTierCacheError(e, 'DESERIALIZE_FAILED'))).toBe(true)
    } finally {
      await cache.close()
    }
  })
})
