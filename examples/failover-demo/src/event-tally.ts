import type { Cache } from '@tiercache/core'

/** The cache events the demo shows, counted per window and in total. */
export interface EventCounts {
  failover: number
  /** Each failover the cache noticed, as `from → to` when the store said so. */
  switches: string[]
  /** Circuit breaker transitions, in order ('open', 'half-open', 'closed'). */
  circuit: string[]
  queued: number
  replayed: number
  /** Store failures the cache absorbed (fail-open): reported through the `error` event, never thrown. */
  storeErrors: number
  retries: number
}

const emptyCounts = (): EventCounts => ({
  failover: 0,
  switches: [],
  circuit: [],
  queued: 0,
  replayed: 0,
  storeErrors: 0,
  retries: 0,
})

export class EventTally {
  #window = emptyCounts()
  readonly total = emptyCounts()

  constructor(cache: Cache) {
    cache.on('failover', ({ detail }) => {
      const { from, to } = detail
      const change = typeof from === 'string' && typeof to === 'string' ? `${from} → ${to}` : undefined
      this.#bump((c) => {
        c.failover++
        if (change !== undefined) c.switches.push(change)
      })
    })
    cache.on('circuit', ({ state }) => this.#bump((c) => c.circuit.push(state)))
    cache.on('invalidationQueued', () => this.#bump((c) => c.queued++))
    cache.on('invalidationReplayed', () => this.#bump((c) => c.replayed++))
    cache.on('error', () => this.#bump((c) => c.storeErrors++))
    cache.on('retry', () => this.#bump((c) => c.retries++))
  }

  takeWindow(): EventCounts {
    const window = this.#window
    this.#window = emptyCounts()
    return window
  }

  #bump(change: (counts: EventCounts) => void): void {
    change(this.#window)
    change(this.total)
  }
}

/**
 * One line's worth: `failover 127.0.0.1:7000 → 127.0.0.1:7004, circuit open→half-open, 3 invalidations
 * queued, …` (`live`), or with the circuit transitions counted instead of listed (`summary`).
 */
export function describeEvents(counts: EventCounts, mode: 'live' | 'summary' = 'live'): string {
  const parts: string[] = []
  if (counts.failover > 0) {
    const switches = counts.switches.length > 0 ? ` ${counts.switches.join(', ')}` : ''
    parts.push(
      mode === 'live'
        ? `failover${switches || ` ×${counts.failover}`}`
        : `failover ×${counts.failover}${switches && ` (${switches.trim()})`}`,
    )
  }
  if (counts.circuit.length > 0)
    parts.push(`circuit ${mode === 'live' ? counts.circuit.join('→') : tally(counts.circuit)}`)
  if (counts.queued > 0) parts.push(`${plural(counts.queued, 'invalidation')} queued`)
  if (counts.replayed > 0) parts.push(`${counts.replayed} replayed`)
  if (counts.storeErrors > 0) parts.push(`${plural(counts.storeErrors, 'store error')} absorbed`)
  if (counts.retries > 0) parts.push(plural(counts.retries, 'retry', 'retries'))
  return parts.join(', ')
}

/** ['open', 'half-open', 'open'] → `open ×2, half-open ×1` */
function tally(states: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const state of states) counts.set(state, (counts.get(state) ?? 0) + 1)
  return [...counts].map(([state, n]) => `${state} ×${n}`).join(', ')
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`
