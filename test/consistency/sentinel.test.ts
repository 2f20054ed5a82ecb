import { createCache, parseStoreUrl } from '@tiercache/core'
import { createStore } from '@tiercache/sentinel'
import { redisBinary, type SentinelTopology, startSentinel } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeStaleSetRace, raceAcrossFailover } from './stale-set-race.js'

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
    const replicated = `${topo.url}${topo.url.includes('?') ? '&' : '?'}consistency=replicated`
    await raceAcrossFailover({
      cache: (namespace, store) => createCache({ store: store ?? topo.url, namespace }),
      // consistency=replicated: the delete is on the replicas before it resolves.
      invalidatorStore: () => createStore({ url: replicated, parsed: parseStoreUrl(replicated) }),
      failover: async (_fullKey, a) => {
        const old = await topo.master()
        await topo.kill(old)
        const promoted = await topo.waitForFailover({ from: old, timeoutMs: 30_000 })
        expect(promoted.port).not.toBe(old.port)
        // A's connection follows the sentinels to the new master before its loader finishes.
        await a.ready()
      },
    })
  }, 90_000)
})
