import type { Cache } from '@tiercache/core'

/** The cache events the demo shows, counted per window and in total. */
export interface EventCounts {
  failover: number
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
  circuit: [],
  queued: 0,
  replayed: 0,
  storeErrors: 0,
  retries: 0,
})

export class EventTally {
  #window = emptyCounts()
  readonly total = emptyCounts()
  /** The last failover's detail, as the store reported it (from/to addresses). */
  lastFailover: Readonly<Record<string, unknown>> | undefined

  constructor(cache: Cache) {
    cache.on('failover', ({ detail }) => {
      this.lastFailover = detail
      this.#bump((c) => c.failover++)
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

/** `failover ×1, circuit open→half-open, 3 invalidations queued, 2 replayed, 40 store errors absorbed, 12 retries` */
export function describeEvents(counts: EventCounts, circuit: 'sequence' | 'tally' = 'sequence'): string {
  const parts: string[] = []
  if (counts.failover > 0) parts.push(`failover ×${counts.failover}`)
  if (counts.circuit.length > 0)
    parts.push(`circuit ${circuit === 'sequence' ? counts.circuit.join('→') : tally(counts.circuit)}`)
  if (counts.queued > 0) parts.push(plural(counts.queued, 'invalidation') + ' queued')
  if (counts.replayed > 0) parts.push(`${counts.replayed} replayed`)
  if (counts.storeErrors > 0) parts.push(plural(counts.storeErrors, 'store error') + ' absorbed')
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
