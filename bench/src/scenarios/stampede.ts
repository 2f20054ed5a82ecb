import { type Cache, createCache } from '@tiercache/core'
import { startStandalone } from '@tiercache/testkit'
import { type User, user } from '../fixtures.js'
import { type Section, table } from '../harness/report.js'
import { formatMs, quantile, sleep } from '../harness/stats.js'

const CALLERS = 10_000
const LOADER_MS = 50

/**
 * Stampede: 10,000 concurrent getOrSet on one cold key, split over two cache instances (L1 + the same
 * Redis), as two processes of a service would see it. The loader takes 50 ms. Counts loader calls (single
 * flight is per instance, so 2 is the floor without a distributed lock) and the latency of every caller.
 * Repeated on `rounds` fresh keys.
 */
export async function stampede(rounds: number): Promise<Section> {
  const server = await startStandalone()
  const caches: Cache[] = []
  try {
    for (let i = 0; i < 2; i++) caches.push(createCache({ store: server.url, namespace: 'st', ttl: '1h' }))
    await Promise.all(caches.map((c) => c.ready()))
    const rows: string[][] = []
    const data: Array<Record<string, number>> = []
    for (let round = 0; round < rounds; round++) {
      const key = `cold:${round}:${Date.now()}`
      let loads = 0
      const loader = async (): Promise<User> => {
        loads++
        await sleep(LOADER_MS)
        return user(round)
      }
      const latencies = new Array<number>(CALLERS)
      let errors = 0
      const started = performance.now()
      const calls: Promise<void>[] = []
      for (let i = 0; i < CALLERS; i++) {
        const t0 = performance.now()
        calls.push(
          caches[i % 2]!.getOrSet(key, loader).then(
            (value) => {
              latencies[i] = performance.now() - t0
              if (value.id !== round) errors++
            },
            () => {
              latencies[i] = performance.now() - t0
              errors++
            },
          ),
        )
      }
      // Bounded: a stuck stampede fails the run instead of hanging it.
      await Promise.race([
        Promise.all(calls),
        sleep(30_000).then(() => {
          throw new Error('stampede did not settle within 30 s')
        }),
      ])
      const wall = performance.now() - started
      const p50 = quantile(latencies, 0.5)
      const p99 = quantile(latencies, 0.99)
      const max = Math.max(...latencies)
      rows.push([
        String(round + 1),
        String(loads),
        String(errors),
        formatMs(p50),
        formatMs(p99),
        formatMs(max),
        formatMs(wall),
      ])
      data.push({ loads, errors, p50, p99, max, wall })
    }
    return {
      id: 'stampede',
      title: `Stampede: ${CALLERS.toLocaleString('en-US')} concurrent getOrSet on a cold key, 2 instances, L1 + Redis, ${LOADER_MS} ms loader`,
      markdown: table(['round', 'loader calls', 'errors', 'p50', 'p99', 'max', 'all settled after'], rows),
      bars: [
        {
          name: 'stampede: ≤ 1 loader call per instance',
          actual: Math.max(...data.map((d) => d.loads)),
          target: 2,
          op: '<=',
          unit: 'count',
        },
      ],
      data: { rounds: data },
    }
  } finally {
    await Promise.all(caches.map((c) => c.close()))
    await server.stop()
  }
}
