import { createCache, isTierCacheError } from '@tiercache/core'
import {
  type ClusterTopology,
  freePort,
  redisBinary,
  startCluster,
  startStandalone,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const bin = redisBinary()
const PASSWORD = 's3cret'

describe.skipIf(!bin.available)(`cluster start-up diagnostics (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1, password: PASSWORD })
  })

  afterAll(async () => {
    await topology?.stop()
  })

  const hosts = (ports: number[]) => ports.map((port) => `127.0.0.1:${port}`).join(',')

  it('starts when some seed nodes are down (the first answering seed gives the topology)', async () => {
    const dead = [await freePort(), await freePort()]
    const url = `redis+cluster://:${PASSWORD}@${hosts([...dead, topology.seeds[4]!.port])}`
    const cache = createCache({ store: url, namespace: 'seeds', l1: false })
    try {
      await cache.ready()
      await cache.set('k', 'v')
      expect(await cache.get('k')).toBe('v')
    } finally {
      await cache.close()
    }
  })

  it('no seed answers: ready() says "no seed node answered (tried …)"; operations fail open fast', async () => {
    const dead = [await freePort(), await freePort()]
    const cache = createCache({
      store: `redis+cluster://${hosts(dead)}?readyTimeoutMs=800`,
      namespace: 'none',
      l1: false,
    })
    const errors: unknown[] = []
    cache.on('error', ({ error }) => errors.push(error))
    try {
      const error = await cache.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isTierCacheError(error, 'STORE_UNAVAILABLE')).toBe(true)
      expect((error as Error).message).toContain(
        `no seed node answered (tried 127.0.0.1:${dead[0]} (ECONNREFUSED), 127.0.0.1:${dead[1]} (ECONNREFUSED))`,
      )
      // Known unreachable: every call is a fast miss (no wait per call), and the loader still serves.
      const started = Date.now()
      for (let i = 0; i < 20; i++) expect(await cache.get(`k${i}`)).toBeUndefined()
      expect(await cache.getOrSet('k', async () => 'loaded')).toBe('loaded')
      const elapsed = Date.now() - started
      console.info(`unreachable cluster: 20 gets + 1 getOrSet took ${elapsed} ms`)
      expect(elapsed).toBeLessThan(500)
    } finally {
      await cache.close()
    }
  })

  it('a wrong password is AUTH_FAILED (fatal: ready() and operations reject), not a slots-cache error', async () => {
    const url = topology.url.replace(`:${PASSWORD}@`, ':wrong@')
    const cache = createCache({ store: url, namespace: 'auth', l1: false })
    try {
      const error = await cache.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isTierCacheError(error, 'AUTH_FAILED')).toBe(true)
      expect((error as Error).message).not.toMatch(/slots cache/i)
      await expect(cache.get('k')).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    } finally {
      await cache.close()
    }
    const none = createCache({
      store: topology.url.replace(`:${PASSWORD}@`, ''),
      namespace: 'auth',
      l1: false,
    })
    try {
      await expect(none.ready()).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    } finally {
      await none.close()
    }
  })

  it('a cluster that answers but serves no slots is CLUSTER_NOT_READY; a standalone server is named as such', async () => {
    const lonely = await startStandalone({ args: ['--cluster-enabled', 'yes'] })
    const plain = await startStandalone()
    try {
      const cache = createCache({
        store: `redis+cluster://127.0.0.1:${lonely.port}?readyTimeoutMs=800`,
        namespace: 'nr',
        l1: false,
      })
      const error = await cache.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      await cache.close()
      expect(isTierCacheError(error, 'CLUSTER_NOT_READY')).toBe(true)
      expect((error as Error).message).toMatch(/cluster_state:fail, 0\/16384 slots assigned/)

      const standalone = createCache({
        store: `redis+cluster://127.0.0.1:${plain.port}?readyTimeoutMs=800`,
        namespace: 'nr',
        l1: false,
      })
      const second = await standalone.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      await standalone.close()
      expect(isTierCacheError(second, 'CLUSTER_NOT_READY')).toBe(true)
      expect((second as Error).message).toMatch(/not a cluster node.*use redis:\/\//)
    } finally {
      await lonely.stop()
      await plain.stop()
    }
  })
})
