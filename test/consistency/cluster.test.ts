import { createStore } from '@tiercache/cluster'
import { type Cache, createCache, parseStoreUrl } from '@tiercache/core'
import {
  type ClusterTopology,
  command,
  keySlot,
  type RedisNode,
  redisBinary,
  startCluster,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeStaleSetRace, freshKey, latch, withoutBus } from './stale-set-race.js'

const bin = redisBinary()

/** Polls until every replica of `master` has acknowledged the master's replication offset (ROLE). */
async function replicated(master: RedisNode, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const role = (await command(master.host, master.port, ['ROLE'], { timeoutMs: 1_000 })) as unknown[]
    const offset = Number(role[1])
    const replicas = role[2] as unknown[][]
    if (replicas.length > 0 && replicas.every((replica) => Number(replica[2]) >= offset)) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`the replicas of ${master.port} did not catch up within ${timeoutMs} ms`)
}

describe.skipIf(!bin.available)(`Redis Cluster (${bin.reason ?? bin.binary})`, () => {
  let topo: ClusterTopology
  beforeAll(async () => {
    topo = await startCluster()
  }, 60_000)
  afterAll(async () => {
    await topo?.stop()
  })
  describeStaleSetRace('Redis Cluster', () => ({
    cache: (options) => createCache({ store: topo.url, ...options }),
    store: () => createStore({ url: topo.url, parsed: parseStoreUrl(topo.url) }),
  }))

  // Last in the file: it kills a master. Cluster replicates asynchronously and has no WAIT option yet, so the
  // test lets the replicas catch up after the delete (what `consistency: 'replicated'` does on Sentinel);
  // then the key's master dies before the loader's write, which lands on the promoted replica.
  it("a failover in the middle of the race: the loader that read its fences on the key's old master cannot write on the promoted replica", async () => {
    const namespace = `failover-race-${process.pid}`
    const a = createCache({ store: topo.url, namespace })
    // The invalidator's bus is held back, so only the promoted replica's fences can refuse A's write.
    const bStore = createStore({ url: topo.url, parsed: parseStoreUrl(topo.url) })
    const b = createCache({ store: withoutBus(bStore), namespace })
    const caches: Cache[] = [a, b]
    try {
      const key = freshKey('failover')
      const master = await topo.masterForSlot(keySlot(`${namespace}:${key}`))
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
      await replicated(master)

      await topo.kill(master)
      const promoted = await topo.waitForFailover({ from: master, timeoutMs: 30_000 })
      expect(promoted.port).not.toBe(master.port)
      release.open()
      expect(await loading).toBe('old')

      const fresh = createCache({ store: topo.url, namespace })
      caches.push(fresh)
      expect(await fresh.get(key)).toBeUndefined()
      expect(await a.get(key)).toBeUndefined()
      expect(await fresh.getOrSet(key, () => db.value)).toBe('new')
    } finally {
      await Promise.all(caches.map((cache) => cache.close()))
      await bStore.close()
    }
  }, 90_000)
})
