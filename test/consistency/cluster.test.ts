import { createStore } from '@tiercache/cluster'
import { createCache, parseStoreUrl } from '@tiercache/core'
import { type ClusterTopology, redisBinary, startCluster } from '@tiercache/testkit'
import { afterAll, beforeAll, describe } from 'vitest'
import { describeStaleSetRace } from './stale-set-race.js'

const bin = redisBinary()

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
})
