import { createCache, parseStoreUrl } from '@tiercache/core'
import { createStore } from '@tiercache/redis'
import { redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe } from 'vitest'
import { describeStaleSetRace } from './stale-set-race.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`standalone Redis (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  beforeAll(async () => {
    topo = await startStandalone()
  })
  afterAll(async () => {
    await topo?.stop()
  })
  describeStaleSetRace('standalone Redis', () => ({
    cache: (options) => createCache({ store: topo.url, ...options }),
    store: () => createStore({ url: topo.url, parsed: parseStoreUrl(topo.url) }),
  }))
})
