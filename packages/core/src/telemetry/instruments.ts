import type { Attributes, Counter, Histogram, Meter, ObservableResult } from '@opentelemetry/api'
import { TelemetryNames } from './names.js'

const M = TelemetryNames.metrics

/** The metric instruments of one meter (one set per registered MeterProvider, shared by every cache). */
export interface Instruments {
  readonly hits: Counter
  readonly misses: Counter
  readonly stale: Counter
  readonly loaderErrors: Counter
  readonly storeErrors: Counter
  readonly retries: Counter
  readonly invalidationsQueued: Counter
  readonly invalidationsReplayed: Counter
  readonly failovers: Counter
  readonly circuitChanges: Counter
  readonly operationDuration: Histogram
  readonly loaderDuration: Histogram
}

/** Seconds; the SDK's default buckets (0, 5, 10, 25 …) are meant for milliseconds and would put every cache call in one bucket. */
const SECONDS_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
]

export function createInstruments(meter: Meter): Instruments {
  const counter = (name: string, unit: string, description: string) =>
    meter.createCounter(name, { unit, description })
  const instruments: Instruments = {
    hits: counter(M.hits, '{hit}', 'Reads answered from the cache, by tier (l1, remote)'),
    misses: counter(M.misses, '{miss}', 'Reads the cache could not answer'),
    stale: counter(M.stale, '{hit}', 'Expired values served within grace, by reason'),
    loaderErrors: counter(M.loaderErrors, '{error}', 'getOrSet loaders that threw or rejected'),
    storeErrors: counter(
      M.storeErrors,
      '{error}',
      'Remote-tier failures (failed open) and undecodable bytes',
    ),
    retries: counter(M.retries, '{retry}', 'Remote commands retried by the store'),
    invalidationsQueued: counter(M.invalidationsQueued, '{invalidation}', 'Invalidations queued for replay'),
    invalidationsReplayed: counter(
      M.invalidationsReplayed,
      '{invalidation}',
      'Queued invalidations replayed',
    ),
    failovers: counter(M.failovers, '{failover}', 'Master switches / failovers seen by the store'),
    circuitChanges: counter(M.circuitChanges, '{change}', 'Circuit breaker state changes, by new state'),
    operationDuration: meter.createHistogram(M.operationDuration, {
      unit: 's',
      description: 'Duration of cache operations',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    loaderDuration: meter.createHistogram(M.loaderDuration, {
      unit: 's',
      description: 'Duration of getOrSet loaders',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
  }
  meter
    .createObservableGauge(M.l1Size, { unit: '{entry}', description: 'Entries in the in-process tier' })
    .addCallback(observeL1)
  return instruments
}

/** What the L1-size gauge reads: one per cache whose telemetry is attached. */
export interface L1Source {
  readonly namespace: string
  l1Size(): number | undefined
}

// Weak: a cache dropped without close() must not be kept alive by the gauge.
const l1Sources = new Set<WeakRef<L1Source>>()

/** Adds a cache to the `tiercache.l1.size` gauge; returns the removal. */
export function registerL1Source(source: L1Source): () => void {
  const ref = new WeakRef(source)
  l1Sources.add(ref)
  return () => l1Sources.delete(ref)
}

function observeL1(result: ObservableResult<Attributes>): void {
  // Two caches with the same namespace are one series: their sizes add up.
  const sizes = new Map<string, number>()
  for (const ref of l1Sources) {
    const source = ref.deref()
    if (source === undefined) {
      l1Sources.delete(ref)
      continue
    }
    const size = source.l1Size()
    if (size !== undefined) sizes.set(source.namespace, (sizes.get(source.namespace) ?? 0) + size)
  }
  for (const [namespace, size] of sizes)
    result.observe(size, { [TelemetryNames.metricAttributes.namespace]: namespace })
}
