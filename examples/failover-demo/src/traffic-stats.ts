/** Counters of one window (one printed line) or of the whole run. */
export interface WindowStats {
  requests: number
  errors: number
  hits: number
  misses: number
  stale: number
  /** Latencies of the calls that completed in the window, in ms. */
  latencies: number[]
}

export const emptyWindow = (): WindowStats => ({
  requests: 0,
  errors: 0,
  hits: 0,
  misses: 0,
  stale: 0,
  latencies: [],
})

/** The p-th percentile (0–100) of unsorted samples; 0 for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Hits (L1 or remote) over all reads that had an answer to give; stale serves count as misses here. */
export function hitRate(window: WindowStats): number {
  const reads = window.hits + window.misses + window.stale
  return reads === 0 ? 0 : window.hits / reads
}

/** Per-second windows plus run totals (the run is bounded in time and count, so keeping every latency is cheap). */
export class TrafficStats {
  #window = emptyWindow()
  readonly total = emptyWindow()
  maxLatencyMs = 0
  readonly callerErrors: string[] = []

  record(latencyMs: number, error?: unknown): void {
    for (const stats of [this.#window, this.total]) {
      stats.requests++
      stats.latencies.push(latencyMs)
      if (error !== undefined) stats.errors++
    }
    if (latencyMs > this.maxLatencyMs) this.maxLatencyMs = latencyMs
    if (error !== undefined && this.callerErrors.length < 20) this.callerErrors.push(describeError(error))
  }

  read(outcome: 'hits' | 'misses' | 'stale'): void {
    this.#window[outcome]++
    this.total[outcome]++
  }

  /** The window since the last call, and a new one started. */
  takeWindow(): WindowStats {
    const window = this.#window
    this.#window = emptyWindow()
    return window
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return `${error.name}${code === undefined ? '' : ` [${String(code)}]`}: ${error.message}`
  }
  return String(error)
}
