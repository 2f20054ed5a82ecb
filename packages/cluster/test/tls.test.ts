import { createCache, isTierCacheError } from '@tiercache/core'
import { type ClusterTopology, startCluster, tlsAvailable } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const tls = tlsAvailable()

/** `rediss+cluster://`: client-to-node connections, slot refreshes and redirects all over TLS. */
describe.skipIf(!tls.available)(`cluster over TLS, live (${tls.reason ?? 'redis-server with TLS'})`, () => {
  let topology: ClusterTopology

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 0, tls: true })
  }, 90_000)

  afterAll(async () => {
    await topology?.stop()
  })

  it('with the CA: set, getMany across every master, tags and the bus work', async () => {
    expect(topology.url).toMatch(/^rediss\+cluster:\/\//)
    const store = { url: topology.url, tls: { ca: topology.ca! } }
    const a = createCache({ store, namespace: 'tls' })
    const b = createCache({ store, namespace: 'tls', l1: false })
    const errors: unknown[] = []
    for (const cache of [a, b]) cache.on('error', ({ error }) => errors.push(error))
    try {
      await Promise.all([a.ready(), b.ready()])
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      await a.setMany(keys.map((key) => ({ key, value: key, tags: ['all'] })))
      expect(await b.getMany(keys)).toEqual(keys)
      expect((await b.invalidateTags('all')).status).toBe('applied')
      expect(await b.getMany(keys)).toEqual(keys.map(() => undefined))
      const started = Date.now()
      while ((await a.get('k0')) !== undefined && Date.now() - started < 1_000) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      expect(await a.get('k0')).toBeUndefined()
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 30_000)

  it('default verification without the CA: ready() and operations reject with TLS_FAILED', async () => {
    const cache = createCache({ store: topology.url })
    try {
      const error = await cache.ready().catch((e: unknown) => e)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      await expect(cache.get('k')).rejects.toMatchObject({ code: 'TLS_FAILED' })
    } finally {
      await cache.close()
    }
  }, 30_000)
})
