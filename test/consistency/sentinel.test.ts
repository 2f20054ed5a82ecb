import { type Cache, createCache, parseStoreUrl } from '@tiercache/core'
import { createStore } from '@tiercache/sentinel'
import { redisBinary, type SentinelTopology, startSentinel } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeStaleSetRace, freshKey, latch, withoutBus } from './stale-set-race.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`Redis Sentinel (${bin.reason ?? bin.binary})`, () => {
  let topo: SentinelTopology
  beforeAll(async () => {
    topo = await startSentinel()
  }, 60_000)
  afterAll(async () => {
    await topo?.stop()
  })

  describeStaleSetRace('Redis Sentinel', () => ({
    cache: (options) => createCache({ store: topo.url, ...options }),
    store: () => createStore({ url: topo.url, parsed: parseStoreUrl(topo.url) }),
  }))

  // Last in the file: it moves the master. The invalidating instance uses consistency=replicated (WAIT), so
  // its delete is on the replicas before it resolves — the documented way to close the async-replication
  // window (without it, a failover can lose the fence bump with the delete; see docs/consistency.md).
  it('a failover in the middle of the race: the loader that read its fence on the old master cannot write on the new one', async () => {
    const namespace = `failover-race-${process.pid}`
    const a = createCache({ store: topo.url, namespace })
    const replicated = `${topo.url}${topo.url.includes('?') ? '&' : '?'}consistency=replicated`
    // B's own store (createCache does not close a store it was handed): closed below.
    const bStore = createStore({ url: replicated, parsed: parseStoreUrl(replicated) })
    const b = createCache({ store: withoutBus(bStore), namespace })
    const caches: Cache[] = [a, b]
    try {
      const key = freshKey('failover')
      const db = { value: 'old' }
      const entered = latch()
      const release = latch()
      const loading = a.getOrSet(
        key,
        async () => {
          const read = db.value
          entered.open()
          await release.wait
          return read
        },
        { ttl: '5m' },
      )
      await entered.wait
      db.value = 'new'
      expect(await b.delete(key)).toEqual({ status: 'applied' })

      const old = await topo.master()
      await topo.kill(old)
      const promoted = await topo.waitForFailover({ from: old, timeoutMs: 30_000 })
      expect(promoted.port).not.toBe(old.port)
      // A's connection follows the sentinels to the new master before its loader finishes.
      await a.ready()
      release.open()
      expect(await loading).toBe('old')

      const fresh = createCache({ store: topo.url, namespace })
      caches.push(fresh)
      expect(await fresh.get(key)).toBeUndefined()
      expect(await b.get(key)).toBeUndefined()
      expect(await a.get(key)).toBeUndefined()
      expect(await fresh.getOrSet(key, () => db.value)).toBe('new')
    } finally {
      await Promise.all(caches.map((cache) => cache.close()))
      await bStore.close()
    }
  }, 90_000)
})
