import { createStore } from '@tiercache/cluster'
import { createCache, parseStoreUrl, type StoreEvent } from '@tiercache/core'
import { type ClusterTopology, keySlot, type RedisNode, redisBinary, startCluster } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterStore } from '../src/store.js'
import { runLoad, summary } from './support/load.js'

const bin = redisBinary()

/** Keys of namespace `ns` owned by `master`, plus keys elsewhere. */
async function keysAround(topology: ClusterTopology, ns: string, master: RedisNode) {
  const own: string[] = []
  const other: string[] = []
  for (let i = 0; own.length < 60 || other.length < 60; i++) {
    const key = `k${i}`
    const owner = await topology.masterForSlot(keySlot(`${ns}:${key}`))
    if (owner.port === master.port) {
      if (own.length < 60) own.push(key)
    } else if (other.length < 60) other.push(key)
  }
  return { own, other }
}

/** Writes a probe key in `master`'s slots until a write succeeds; resolves with the time it took. */
async function writesResume(store: ClusterStore, key: string, since: number, maxMs: number): Promise<number> {
  while (Date.now() - since < maxMs) {
    try {
      await store.set(key, new Uint8Array([1]), 60_000)
      return Date.now() - since
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return Number.POSITIVE_INFINITY
}

describe.skipIf(!bin.available)(`cluster master failure under load (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology
  let probe: ClusterStore

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
    probe = createStore({ url: topology.url, parsed: parseStoreUrl(topology.url) }) as ClusterStore
    await probe.ready()
  })

  afterAll(async () => {
    await probe?.close()
    await topology?.stop()
  })

  for (const fault of ['kill', 'pause'] as const) {
    it(`${fault === 'kill' ? 'SIGKILLed master' : 'master paused past node-timeout'}: zero caller errors, bounded calls, writes resume`, async () => {
      const ns = `fo-${fault}`
      const victim = (await topology.masters())[fault === 'kill' ? 0 : 1]!
      const { own, other } = await keysAround(topology, ns, victim)
      const cache = createCache({ store: topology.url, namespace: ns, l1: false, ttl: '5m' })
      const storeErrors: unknown[] = []
      cache.on('error', ({ error }) => storeErrors.push(error))
      const failovers: StoreEvent[] = []
      const offProbe = probe.observe((event) => {
        if (event.type === 'failover') failovers.push(event)
      })
      try {
        await cache.ready()
        for (const key of [...own, ...other]) await cache.set(key, { key, v: 0 })
        let done = false
        let faulted = false
        const load = runLoad(
          {
            cache,
            keys: [...own, ...other],
            workers: 6,
            maxOperations: 60_000,
            maxMs: 30_000,
            pauseMs: 2,
            stop: () => done,
          },
          // Writes to the victim's slots fail open while it is down, so reads may see older versions.
          () => faulted,
        )
        await new Promise((resolve) => setTimeout(resolve, 300))
        const at = Date.now()
        faulted = true
        if (fault === 'kill') await topology.kill(victim)
        else topology.pause(victim)
        const promoted = await topology.waitForFailover({ from: victim, timeoutMs: 20_000 })
        const failoverMs = Date.now() - at
        const resumeMs = await writesResume(probe, `${ns}:${own[0]}`, at, 20_000)
        if (fault === 'pause') topology.resume(victim)
        await new Promise((resolve) => setTimeout(resolve, 1500))
        done = true
        const report = await load
        console.info(
          `${summary(`${fault} of master :${victim.port} (promoted :${promoted.port} after ${failoverMs} ms, writes resumed after ${resumeMs} ms)`, report)}; store errors reported ${storeErrors.length}; failover events ${failovers.length}`,
        )
        expect(report.callerErrors).toEqual([])
        expect(report.wrongValues).toEqual([])
        expect(report.maxLatencyMs).toBeLessThan(2500)
        expect(resumeMs).toBeLessThan(failoverMs + 5000)
        expect(failovers.length).toBeGreaterThan(0)
        // After the failover everything works again, on every master.
        const key = own[1]!
        await cache.set(key, { key, v: -1 })
        expect(await cache.get(key)).toEqual({ key, v: -1 })
      } finally {
        offProbe()
        await cache.close()
      }
    }, 90_000)
  }
})
