import { createCache, isTierCacheError, TierCacheError } from '@tiercache/core'
import { type StandaloneTopology, startStandalone, tlsAvailable } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectEveryOperationRejects } from './support/fatal-operations.js'

const tls = tlsAvailable()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!tls.available)(`TLS, live (${tls.reason ?? 'redis-server with TLS'})`, () => {
  let topo: StandaloneTopology
  let plain: StandaloneTopology
  beforeAll(async () => {
    ;[topo, plain] = await Promise.all([startStandalone({ tls: true, password: 'pw' }), startStandalone()])
  })
  afterAll(async () => {
    await Promise.all([topo?.stop(), plain?.stop()])
  })

  it('rediss:// with the CA: set/get, remote hits and the invalidation bus over TLS', async () => {
    expect(topo.url).toMatch(/^rediss:\/\//)
    const store = { url: topo.url, tls: { ca: topo.ca! } }
    const a = createCache({ store, namespace: 'tls' })
    const b = createCache({ store, namespace: 'tls', l1: false })
    const errors: unknown[] = []
    for (const c of [a, b]) c.on('error', (e) => errors.push(e.error))
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('user:1', { name: 'Ada', at: new Date(0) })
      expect(await b.get('user:1')).toEqual({ name: 'Ada', at: new Date(0) }) // remote hit, L1 off
      expect(await b.getOrSet('user:2', () => 'loaded')).toBe('loaded')
      expect(await a.get('user:2')).toBe('loaded')
      // the subscriber connection is TLS too: b's delete drops a's L1 copy
      expect(await a.get('user:1')).toEqual({ name: 'Ada', at: new Date(0) })
      expect((await b.delete('user:1')).status).toBe('applied')
      const started = Date.now()
      while ((await a.get('user:1')) !== undefined && Date.now() - started < 1_000) await sleep(5)
      expect(await a.get('user:1')).toBeUndefined()
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('servername: the certificate name (localhost) works, another name is TLS_FAILED', async () => {
    const good = createCache({ store: { url: topo.url, tls: { ca: topo.ca!, servername: 'localhost' } } })
    try {
      await good.ready()
      await good.set('k', 1)
      expect(await good.get('k')).toBe(1)
    } finally {
      await good.close()
    }
    const bad = createCache({ store: { url: topo.url, tls: { ca: topo.ca!, servername: 'cache.example' } } })
    try {
      const error = await bad.ready().catch((e: unknown) => e)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      expect((error as TierCacheError).message).toMatch(/altnames.*tls\.servername/s)
    } finally {
      await bad.close()
    }
  })

  it('default verification without the CA (self-signed chain): ready() and every operation reject TLS_FAILED, fast (fatal, not failed open)', async () => {
    const cache = createCache({ store: topo.url, namespace: 'bad' })
    const events: unknown[] = []
    cache.on('error', (e) => events.push(e.error))
    try {
      const t0 = Date.now()
      const ready = await cache.ready().catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(2_000) // the handshake fails at once; no connect-timeout wait
      expect(ready).toBeInstanceOf(TierCacheError)
      expect((ready as TierCacheError).code).toBe('TLS_FAILED')
      expect((ready as TierCacheError).fatal).toBe(true)
      expect((ready as TierCacheError).message).toMatch(/self-signed.*tls\.ca/s)
      await expectEveryOperationRejects(cache, 'TLS_FAILED')
      expect(events.some((e) => isTierCacheError(e, 'TLS_FAILED'))).toBe(true)
    } finally {
      await cache.close()
    }
  })

  // Neither side gets a TLS error to classify: Redis reads a ClientHello as an inline command and waits for
  // its newline (the handshake hangs), and a TLS port drops plain text. Indistinguishable from a hung or
  // dead server, so: unavailable, fail open, ready() rejects after connectTimeoutMs.
  it.each([
    ['rediss:// against a plain-text port', () => `rediss://127.0.0.1:${plain.port}`],
    ['redis:// against a TLS port', () => `redis://:pw@127.0.0.1:${topo.port}`],
  ])('%s looks like an unreachable tier: STORE_UNAVAILABLE, reads fail open', async (_name, url) => {
    const cache = createCache({ store: { url: url(), connectTimeoutMs: 500 }, namespace: 'mismatch' })
    try {
      const t0 = Date.now()
      const ready = await cache.ready().catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(3_000)
      expect(isTierCacheError(ready, 'STORE_UNAVAILABLE')).toBe(true)
      expect(await cache.getOrSet('k', () => 'from loader')).toBe('from loader')
    } finally {
      await cache.close()
    }
  })

  it('tls: { rejectUnauthorized: false } is an explicit opt-out that connects without the CA', async () => {
    const cache = createCache({ store: { url: topo.url, tls: { rejectUnauthorized: false } } })
    try {
      await cache.ready()
      await cache.set('k', 'v')
      expect(await cache.get('k')).toBe('v')
    } finally {
      await cache.close()
    }
  })
})
