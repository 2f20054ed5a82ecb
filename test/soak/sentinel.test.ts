import { redisBinary, type SentinelTopology, startSentinel } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { expectHealthySoak, runSoak, SOAK_MS, SOAK_TEST_TIMEOUT_MS, summarize } from './support/soak.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`soak on Sentinel (${bin.reason ?? bin.binary})`, () => {
  let topology: SentinelTopology

  beforeAll(async () => {
    topology = await startSentinel({ replicas: 2, sentinels: 3 })
  })

  afterAll(async () => {
    await topology?.stop()
  })

  it(
    `${SOAK_MS / 1000} s, 64 callers, mixed operations, master SIGKILLed half-way: fail-open, no wrong values, bounded L1 and heap, exits after close()`,
    async () => {
      const result = await runSoak({
        name: 'sentinel',
        url: topology.url,
        failover: async () => {
          const victim = await topology.master()
          const t0 = Date.now()
          await topology.kill(victim)
          const promoted = await topology.waitForFailover({ from: victim, timeoutMs: 20_000 })
          return { victim: `:${victim.port}`, promoted: `:${promoted.port}`, at: t0, ms: Date.now() - t0 }
        },
      })
      console.log(summarize('sentinel', result))
      expectHealthySoak(result)
    },
    SOAK_TEST_TIMEOUT_MS,
  )
})
