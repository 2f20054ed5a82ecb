import { createCache } from '@tiercache/core'
import { type ClusterTopology, keySlot, redisBinary, startCluster } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLoad, summary } from './support/load.js'

const bin = redisBinary()
const MOVING = 300

describe.skipIf(!bin.available)(`cluster live resharding (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
  })

  afterAll(async () => {
    await topology?.stop()
  })

  it(`moves ${MOVING} slots (keys included) under load: zero caller errors, zero wrong values`, async () => {
    const [from, to] = await topology.masters()
    // Keys in the slots that move (the lowest ones of `from`: 0…MOVING-1) and elsewhere.
    const moving: string[] = []
    const staying: string[] = []
    for (let i = 0; moving.length < 160 || staying.length < 40; i++) {
      const key = `k${i}`
      const slot = keySlot(`rs:${key}`)
      if (slot < MOVING && moving.length < 160) moving.push(key)
      else if (slot >= MOVING && staying.length < 40) staying.push(key)
    }
    const cache = createCache({ store: topology.url, namespace: 'rs', l1: false, ttl: '5m' })
    const errors: unknown[] = []
    cache.on('error', ({ error }) => errors.push(error))
    const events: string[] = []
    cache.on('store', (event) => {
      if (event.type === 'topology' || event.type === 'failover') events.push(event.type)
    })
    try {
      await cache.ready()
      for (const key of [...moving, ...staying]) await cache.set(key, { key, v: 0 })
      let done = false
      const startedAt = Date.now()
      const load = runLoad(
        {
          cache,
          keys: [...moving, ...staying],
          workers: 6,
          maxOperations: 60_000,
          maxMs: 60_000,
          pauseMs: 2,
          stop: () => done,
        },
        () => errors.length > 0,
      )
      await topology.reshard({ from: from!, to: to!, slots: MOVING })
      const reshardMs = Date.now() - startedAt
      // Keep the load on for a moment after the move: MOVED answers for every moved slot.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      done = true
      const report = await load
      console.info(
        `${summary(`reshard of ${MOVING} slots in ${reshardMs} ms`, report)}; store errors ${errors.length}`,
      )
      expect(report.callerErrors).toEqual([])
      expect(report.wrongValues).toEqual([])
      expect(errors).toEqual([])
      expect(report.misses).toBe(0)
      expect(report.operations).toBeGreaterThan(500)
      expect((await topology.masterForSlot(0)).port).toBe(to!.port)
      expect(events).toContain('topology')
      // Every key is still readable, with its last value, from its new owner.
      const values = await cache.getMany<{ key: string }>(moving)
      values.forEach((value, i) => {
        if (value !== undefined) expect(value.key).toBe(moving[i])
      })
    } finally {
      await cache.close()
    }
  }, 90_000)
})
