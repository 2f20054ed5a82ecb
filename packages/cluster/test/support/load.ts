import type { Cache } from '@tiercache/core'

/** A value that names its key and its write number, so a read can be checked exactly. */
export interface Versioned {
  readonly key: string
  readonly v: number
}

export interface LoadReport {
  operations: number
  /** Exceptions that reached the caller (must be 0: the cache fails open). */
  callerErrors: unknown[]
  /** Reads that returned another key's value, or a version the oracle rules out. */
  wrongValues: string[]
  /** Reads that returned nothing although the last write was acknowledged without a store error. */
  misses: number
  maxLatencyMs: number
  /** Latencies sorted ascending (for percentiles). */
  latencies: number[]
}

export interface LoadOptions {
  cache: Cache
  /** Keys; each worker owns a disjoint subset (one writer per key, so the oracle is exact). */
  keys: readonly string[]
  workers: number
  /** Stop conditions: whichever comes first (every loop is bounded in count and time). */
  maxOperations: number
  maxMs: number
  /** Pause between two operations of one worker (keeps CPU use bounded on shared cores). */
  pauseMs: number
  stop: () => boolean
}

/**
 * Runs workers that write, read, batch-read and delete their own keys and check every answer:
 * - a value must belong to the key it was read for (routing / getMany scatter bugs show up here);
 * - its version must be the last one written, or — when writes may have failed open (the caller passes
 *   `lenient`) — not newer than the last write and not older than the last write the store is known to
 *   hold; a deleted key must never come back with a value written before the delete.
 */
export async function runLoad(options: LoadOptions, lenient: () => boolean): Promise<LoadReport> {
  const report: LoadReport = {
    operations: 0,
    callerErrors: [],
    wrongValues: [],
    misses: 0,
    maxLatencyMs: 0,
    latencies: [],
  }
  const started = Date.now()
  const running = () =>
    !options.stop() && report.operations < options.maxOperations && Date.now() - started < options.maxMs
  const timed = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now()
    try {
      return await fn()
    } catch (error) {
      report.callerErrors.push(error)
      return undefined
    } finally {
      const ms = performance.now() - t0
      report.latencies.push(ms)
      if (ms > report.maxLatencyMs) report.maxLatencyMs = ms
      report.operations++
    }
  }
  await Promise.all(
    Array.from({ length: options.workers }, async (_, w) => {
      const mine = options.keys.filter((_, i) => i % options.workers === w)
      // last[k]: last version written (0 = deleted/never); floor[k]: versions below it are ruled out.
      const last = new Map<string, number>()
      const floor = new Map<string, number>()
      const check = (key: string, value: Versioned | undefined) => {
        const written = last.get(key) ?? 0
        if (value === undefined) {
          if (written > 0 && !lenient()) report.misses++
          return
        }
        if (value.key !== key) report.wrongValues.push(`${key} read ${value.key}#${value.v}`)
        else if (written === 0 && (floor.get(key) ?? 0) > value.v)
          report.wrongValues.push(`${key} read #${value.v} after its delete`)
        else if (value.v > written && written !== 0)
          report.wrongValues.push(`${key} read #${value.v} > written #${written}`)
        else if (!lenient() && written !== 0 && value.v !== written)
          report.wrongValues.push(`${key} read #${value.v}, expected #${written}`)
      }
      let version = 0
      for (let round = 0; running(); round++) {
        const key = mine[round % mine.length]!
        const step = round % 5
        if (step === 0 || step === 2) {
          version++
          await timed(() => options.cache.set(key, { key, v: version } satisfies Versioned))
          last.set(key, version)
        } else if (step === 1) {
          check(key, await timed(() => options.cache.get<Versioned>(key)))
        } else if (step === 3) {
          const batch = [key, ...mine.slice(0, 7).filter((k) => k !== key)]
          const values = await timed(() => options.cache.getMany<Versioned>(batch))
          if (values !== undefined)
            batch.forEach((k, i) => {
              check(k, values[i])
            })
        } else if (round % 15 === 4) {
          await timed(() => options.cache.delete(key))
          floor.set(key, version + 1)
          last.set(key, 0)
        }
        if (options.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, options.pauseMs))
      }
    }),
  )
  report.latencies.sort((a, b) => a - b)
  return report
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export function summary(name: string, report: LoadReport): string {
  return (
    `${name}: ${report.operations} ops, ${report.callerErrors.length} caller errors, ` +
    `${report.wrongValues.length} wrong values, ${report.misses} misses, p50 ${percentile(report.latencies, 50).toFixed(1)} ms, ` +
    `p99 ${percentile(report.latencies, 99).toFixed(1)} ms, max ${report.maxLatencyMs.toFixed(0)} ms`
  )
}
