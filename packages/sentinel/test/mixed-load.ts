import type { Cache } from '@tiercache/core'

/**
 * A bounded mixed load (getOrSet / get / set / delete) from several concurrent workers, with an oracle.
 *
 * The oracle models cache-aside over a database: every worker owns its keys (no other worker touches them)
 * and runs one call at a time, so for each key it knows the one correct value at any moment — `db[key]`:
 * - `set(k, v)`: the database is updated to v first (write-through), then the cache;
 * - `delete(k)`: the database is updated to a new version first, then the cache entry is invalidated;
 * - `getOrSet(k, loader)`: the loader reads `db[k]`; the result must equal `db[k]`;
 * - `get(k)`: must be `db[k]` or a miss (a miss is fail-open, never wrong).
 * A read that returns anything else is a wrong value: an old version means a lost write or a resurrected
 * invalidation. Every value is unique (`w<worker>:<key>:<version>`), so a wrong one tells where it came from.
 */
export interface LoadOptions {
  readonly workers?: number
  readonly keysPerWorker?: number
  /** Hard bounds: the load stops at whichever comes first (or at `stop()`). */
  readonly maxMs: number
  readonly maxCalls?: number
  /** Pause between two calls of one worker, so two cores shared with others are not saturated. */
  readonly thinkMs?: number
  readonly prefix?: string
}

export interface CallRecord {
  readonly op: 'getOrSet' | 'get' | 'set' | 'delete'
  readonly key: string
  readonly startedAt: number
  readonly ms: number
}

export interface LoadReport {
  readonly calls: number
  readonly errors: Array<{ op: string; key: string; error: unknown; at: number }>
  /** Wrong reads, each with the key's recent calls (oldest first) so a failure says how it came about. */
  readonly wrong: Array<{
    op: string
    key: string
    got: unknown
    expected: unknown
    at: number
    history: readonly string[]
  }>
  readonly latencies: CallRecord[]
  /** Per key, the value the database holds at the end (what the cache may hold). */
  readonly db: ReadonlyMap<string, string>
  /** Keys deleted (database bumped) and the time of the delete call, newest per key. */
  readonly deletes: ReadonlyMap<string, { at: number; value: string }>
  readonly maxMs: number
  readonly p99Ms: number
  readonly p50Ms: number
  /** Slowest calls, for the report. */
  slowest(n: number): CallRecord[]
}

export interface RunningLoad {
  stop(): void
  readonly done: Promise<LoadReport>
}

export function startMixedLoad(cache: Cache, options: LoadOptions): RunningLoad {
  const workers = options.workers ?? 4
  const keysPerWorker = options.keysPerWorker ?? 8
  const maxCalls = options.maxCalls ?? 50_000
  const think = options.thinkMs ?? 2
  const prefix = options.prefix ?? 'load'
  const deadline = Date.now() + options.maxMs
  let stopped = false
  let calls = 0
  const errors: LoadReport['errors'] = []
  const wrong: LoadReport['wrong'] = []
  const latencies: CallRecord[] = []
  const db = new Map<string, string>()
  const deletes = new Map<string, { at: number; value: string }>()
  const t0Load = Date.now()
  /** The last calls per key: `+ms op value → outcome (ms)`, relative to the start of the load. */
  const history = new Map<string, string[]>()
  const remember = (key: string, line: string) => {
    const lines = history.get(key) ?? []
    history.set(key, lines)
    lines.push(line)
    if (lines.length > 8) lines.shift()
  }

  const worker = async (w: number) => {
    const keys = Array.from({ length: keysPerWorker }, (_, i) => `${prefix}:w${w}:k${i}`)
    const versions = new Map<string, number>()
    const next = (key: string) => {
      const v = (versions.get(key) ?? 0) + 1
      versions.set(key, v)
      return `${key}:v${v}`
    }
    for (const key of keys) db.set(key, next(key))
    while (!stopped && Date.now() < deadline && calls < maxCalls) {
      calls++
      const key = keys[Math.floor(Math.random() * keys.length)]!
      const roll = Math.random()
      const op: CallRecord['op'] =
        roll < 0.4 ? 'getOrSet' : roll < 0.65 ? 'get' : roll < 0.85 ? 'set' : 'delete'
      const startedAt = Date.now()
      const t0 = performance.now()
      try {
        const at = () => `+${startedAt - t0Load} ms ${op}`
        const took = () => `(${Math.round(performance.now() - t0)} ms)`
        const isWrong = (got: unknown, expected: unknown) =>
          wrong.push({ op, key, got, expected, at: Date.now(), history: [...(history.get(key) ?? [])] })
        if (op === 'getOrSet') {
          const expected = db.get(key)
          let loaded = false
          const got = await cache.getOrSet(key, async () => {
            loaded = true
            return db.get(key)
          })
          remember(key, `${at()} → ${String(got)}${loaded ? ' (loaded)' : ''} ${took()}`)
          if (got !== expected) isWrong(got, expected)
        } else if (op === 'get') {
          const expected = db.get(key)
          const got = await cache.get(key)
          remember(key, `${at()} → ${String(got)} ${took()}`)
          if (got !== undefined && got !== expected) isWrong(got, expected)
        } else if (op === 'set') {
          const value = next(key)
          db.set(key, value)
          await cache.set(key, value)
          remember(key, `${at()} ${value} ${took()}`)
        } else {
          const value = next(key)
          db.set(key, value)
          deletes.set(key, { at: startedAt, value })
          const result = await cache.delete(key)
          remember(key, `${at()} (db ${value}) → ${result.status} ${took()}`)
        }
      } catch (error) {
        errors.push({ op, key, error, at: Date.now() })
      }
      latencies.push({ op, key, startedAt, ms: performance.now() - t0 })
      if (think > 0) await new Promise((resolve) => setTimeout(resolve, think))
    }
  }

  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w))).then((): LoadReport => {
    const sorted = latencies.map((c) => c.ms).sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
    return {
      calls,
      errors,
      wrong,
      latencies,
      db,
      deletes,
      maxMs: sorted.at(-1) ?? 0,
      p99Ms: at(0.99),
      p50Ms: at(0.5),
      slowest: (n) => [...latencies].sort((a, b) => b.ms - a.ms).slice(0, n),
    }
  })
  return {
    stop: () => {
      stopped = true
    },
    done,
  }
}

/** One line for the test log: what the chaos test measured. */
export function summarize(name: string, report: LoadReport): string {
  const round = (n: number) => Math.round(n)
  return (
    `[${name}] calls=${report.calls} errors=${report.errors.length} wrong=${report.wrong.length} ` +
    `p50=${report.p50Ms.toFixed(1)}ms p99=${round(report.p99Ms)}ms max=${round(report.maxMs)}ms ` +
    `slowest=${report
      .slowest(3)
      .map((c) => `${c.op}:${round(c.ms)}ms`)
      .join(',')}`
  )
}
