import { type ClusterTopology, redisBinary, startCluster } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { expectHealthySoak, runSoak, SOAK_MS, SOAK_TEST_TIMEOUT_MS, summarize } from './support/soak.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`soak on Cluster (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
  })

  afterAll(async () => {
    await topology?.stop()
  })

  it(
    `${SOAK_MS / 1000} s, 64 callers, mixed operations, a master SIGKILLed half-way: fail-open, no wrong values, bounded L1 and heap, exits after close()`,
    async () => {
      const result = await runSoak({
        name: 'cluster',
        url: topology.url,
        failover: async () => {
          const victim = (await topology.masters())[0]!
          const t0 = Date.now()
          await topology.kill(victim)
          const promoted = await topology.waitForFailover({ from: victim, timeoutMs: 20_000 })
          return { victim: `:${victim.port}`, promoted: `:${promoted.port}`, at: t0, ms: Date.now() - t0 }
        },
      })
      console.log(summarize('cluster', result))
      expectHealthySoak(result)
    },
    SOAK_TEST_TIMEOUT_MS,
  )
})
