import type { Cache } from '@tiercache/core'
import type { TrafficStats } from './traffic-stats.js'

/** A row of the simulated database. */
export interface Product {
  id: number
  name: string
  price: number
  /** Bumped by every write through the demo, so a reader could tell versions apart. */
  version: number
}

export interface TrafficOptions {
  cache: Cache
  stats: TrafficStats
  workers: number
  keys: number
  /** Stop conditions, whichever comes first: every loop is bounded in time and in count. */
  until: () => boolean
  deadlineMs: number
  maxRequests: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Between two calls of one worker: keeps the demo at a few hundred calls per second on shared cores. */
const PAUSE_MS = 5

/**
 * The callers: each worker loops over random keys doing what a service does — mostly `getOrSet` with a
 * loader that queries the "database" (2–6 ms), some plain `get`, some `set` after an update, and a few
 * `delete`s (invalidations, which get queued and replayed when they hit the failover). Any rejection that
 * reaches a caller is counted as an error: the cache is supposed to fail open, so there should be none.
 */
export async function runTraffic(options: TrafficOptions): Promise<{ loaderCalls: number }> {
  const { cache, stats } = options
  let loaderCalls = 0
  const versions = new Map<number, number>()
  const loadProduct = async (id: number): Promise<Product> => {
    loaderCalls++
    await sleep(2 + Math.random() * 4)
    return { id, name: `product ${id}`, price: 100 + (id % 50), version: versions.get(id) ?? 0 }
  }
  const started = Date.now()
  const running = () =>
    !options.until() &&
    Date.now() - started < options.deadlineMs &&
    stats.total.requests < options.maxRequests

  const worker = async () => {
    while (running()) {
      const id = Math.floor(Math.random() * options.keys)
      const key = `product:${id}`
      const dice = Math.random()
      const t0 = performance.now()
      try {
        if (dice < 0.7) await cache.getOrSet(key, () => loadProduct(id))
        else if (dice < 0.9) await cache.get<Product>(key)
        else if (dice < 0.98) {
          const version = (versions.get(id) ?? 0) + 1
          versions.set(id, version)
          await cache.set(key, { id, name: `product ${id}`, price: 100 + (id % 50), version })
        } else await cache.delete(key)
        stats.record(performance.now() - t0)
      } catch (error) {
        stats.record(performance.now() - t0, error)
      }
      await sleep(PAUSE_MS)
    }
  }
  await Promise.all(Array.from({ length: options.workers }, worker))
  return { loaderCalls }
}
