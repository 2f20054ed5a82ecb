import { createStore } from '@tiercache/cluster'
import { createCache, parseStoreUrl } from '@tiercache/core'
import {
  type ClusterTopology,
  command,
  keySlot,
  type RedisNode,
  redisBinary,
  startCluster,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeStaleSetRace, raceAcrossFailover } from './stale-set-race.js'

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
    await raceAcrossFailover({
      cache: (namespace, store) => createCache({ store: store ?? topo.url, namespace }),
      invalidatorStore: () => createStore({ url: topo.url, parsed: parseStoreUrl(topo.url) }),
      failover: async (fullKey) => {
        const master = await topo.masterForSlot(keySlot(fullKey))
        await replicated(master)
        await topo.kill(master)
        const promoted = await topo.waitForFailover({ from: master, timeoutMs: 30_000 })
        expect(promoted.port).not.toBe(master.port)
      },
    })
  }, 90_000)
})
