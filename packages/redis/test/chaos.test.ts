import { type Cache, createCache, type InvalidationResult } from '@tiercache/core'
import { command, redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const bin = redisBinary()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(10)
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

describe.skipIf(!bin.available)(`redis killed and restarted (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  beforeAll(async () => {
    topo = await startStandalone()
  })
  afterAll(async () => {
    await topo?.stop()
  })

  // Short deadlines so the outage fits a test; the defaults are documented in the README.
  const storeOptions = () => ({
    url: topo.url,
    invalidationDeadlineMs: 300,
    breakerHalfOpenAfterMs: 300,
    reconnectMaxDelayMs: 100,
    replayIntervalMs: 100,
  })

  it('fails open under load, fails fast with the breaker open, queues and replays a delete', async () => {
    // Durable (AOF, fsync always): the key written before the kill is still there after the restart,
    // so only the replayed DEL can remove it.
    const durable = await startStandalone({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    const options = { ...storeOptions(), url: durable.url }
    const a = createCache({ store: options, namespace: 'chaos', ttl: '1m' })
    const b = createCache({ store: options, namespace: 'chaos', ttl: '1m' })
    const caches: Cache[] = [a, b]
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('victim', 'old')
      expect(await b.get('victim')).toBe('old')

      let circuitOpenAt = 0
      a.on('circuit', (e) => {
        if (e.state === 'open' && circuitOpenAt === 0) circuitOpenAt = performance.now()
      })
      let restartedAt = Number.POSITIVE_INFINITY
      const rejections: unknown[] = []
      const outageDurations: number[] = []
      const remoteDurations: number[] = []
      let calls = 0
      const loadUntil = Date.now() + 3000
      const worker = async (w: number) => {
        for (let i = 0; i < 200_000 && Date.now() < loadUntil; i++) {
          const cache = caches[(w + i) % 2]!
          const key = `k:${i % 50}`
          const started = performance.now()
          try {
            const op = i % 3
            if (op === 0) await cache.getOrSet(key, async () => `v${i}`)
            else if (op === 1)
              await cache.get(`cold:${w}:${i}`) // never cached: always asks the remote tier
            else await cache.set(key, `s${i}`)
          } catch (error) {
            rejections.push(error)
          }
          const ended = performance.now()
          calls++
          if (circuitOpenAt > 0 && started > circuitOpenAt && ended < restartedAt) {
            outageDurations.push(ended - started)
            if (i % 3 === 1) remoteDurations.push(ended - started)
          }
          // Yield to the event loop so bounded load leaves room for timers and sockets.
          if (i % 10 === 0) await sleep(1)
        }
      }
      const load = Promise.all([0, 1, 2, 3].map(worker))

      await sleep(300)
      expect(await command(durable.host, durable.port, ['EXISTS', 'chaos:victim'])).toBe(1)
      await durable.kill(durable.node)
      await until(() => circuitOpenAt > 0, 2000)

      // An invalidation during the outage cannot be applied: retried for its deadline, then queued.
      const deleted: InvalidationResult = await a.delete('victim')
      expect(deleted.status).toBe('queued')
      expect(a.health().queuedInvalidations).toBeGreaterThanOrEqual(1)

      await sleep(1200)
      restartedAt = performance.now()
      await durable.restart(durable.node)
      await load

      if (deleted.status !== 'queued') throw new Error('unreachable')
      const outcome = await Promise.race([deleted.replayed, sleep(5000).then(() => 'timeout')])
      expect(outcome).toBe('applied')
      expect(await command(durable.host, durable.port, ['EXISTS', 'chaos:victim'])).toBe(0)

      expect(rejections).toEqual([])
      expect(calls).toBeGreaterThan(100)
      expect(outageDurations.length).toBeGreaterThan(50)
      const p99 = percentile(outageDurations, 99)
      const max = Math.max(...outageDurations)
      console.info(
        `[chaos] calls=${calls} outage-calls=${outageDurations.length} p50=${percentile(outageDurations, 50).toFixed(3)}ms p99=${p99.toFixed(3)}ms max=${max.toFixed(1)}ms`,
      )
      expect(p99).toBeLessThan(50)
      const remoteP99 = percentile(remoteDurations, 99)
      console.info(
        `[chaos] remote-path calls=${remoteDurations.length} p50=${percentile(remoteDurations, 50).toFixed(3)}ms p99=${remoteP99.toFixed(3)}ms`,
      )
      expect(remoteDurations.length).toBeGreaterThan(20)
      expect(remoteP99).toBeLessThan(50)

      // Back to normal: the remote tier answers again.
      await until(async () => {
        await a.set('after', 1)
        return (await command(durable.host, durable.port, ['EXISTS', 'chaos:after'])) === 1
      }, 5000)
    } finally {
      await Promise.all([a.close(), b.close()])
      await durable.stop()
    }
  }, 30_000)

  it('bus resync: after the subscriber reconnects, the other instance drops its L1', async () => {
    const a = createCache({ store: storeOptions(), namespace: 'resync' })
    const b = createCache({ store: storeOptions(), namespace: 'resync' })
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('r', 'cached')
      await sleep(30)
      expect(await b.get('r')).toBe('cached')
      const resyncs: string[] = []
      b.on('resync', (e) => resyncs.push(e.reason))
      await topo.kill(topo.node)
      await sleep(200)
      await topo.restart(topo.node)
      await until(() => resyncs.length > 0, 5000)
      // The restarted server is empty; only a flushed L1 says so.
      await until(async () => (await b.get('r')) === undefined, 2000)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 20_000)
})
