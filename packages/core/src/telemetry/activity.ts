import {
  createNoopMeter,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import { createInstruments, type Instruments } from './instruments.js'
import { TelemetryNames } from './names.js'

/**
 * Is an OpenTelemetry SDK registered? Answered lazily (an SDK registered after `createCache` is picked up)
 * and cheaply: the hot path of an L1 hit pays one decrement and one comparison. The providers are probed
 * at most once a second; the clock (Date.now costs more than the rest of the check) is read at most once
 * per `MAX_BUDGET` calls in a busy process, and on every call in a quiet one, where it costs nothing that
 * matters. No timer: nothing keeps the process alive or fights with fake timers in tests.
 */
export function telemetryActive(): boolean {
  if (countdown > 0) {
    countdown--
    return active
  }
  return clockCheck()
}

/** The tracer of the registered SDK, or undefined (no SDK, or only metrics). Valid after `telemetryActive()`. */
export function activeTracer(): Tracer | undefined {
  return tracer
}

/** The metric instruments of the registered SDK, or undefined. Valid after `telemetryActive()`. */
export function activeInstruments(): Instruments | undefined {
  return instruments
}

/**
 * Probes the global providers now instead of within the next second. For tests and for applications that
 * register their SDK after traffic started and want it used from the next call on.
 */
export function refreshTelemetry(): boolean {
  countdown = 0
  probe(Date.now())
  return active
}

/** Called when telemetry goes from active to inactive (the SDK was disabled): listeners detach. */
export function onTelemetryOff(callback: () => void): () => void {
  offCallbacks.add(callback)
  return () => offCallbacks.delete(callback)
}

const PROBE_INTERVAL_MS = 1000
const MAX_BUDGET = 64
const BUSY_MS = 10

// The provider that `trace` falls back to: a ProxyTracerProvider without delegate hands out this one.
const NOOP_TRACER_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate()
// `metrics.getMeterProvider()` without SDK is a NoopMeterProvider whose meters are NoopMeters.
const NoopMeter = createNoopMeter().constructor

let active = false
let countdown = 0
let budget = 1
let lastClock = 0
let probedAt = Number.NEGATIVE_INFINITY
let seenTracerProvider: TracerProvider | undefined
let seenMeterProvider: MeterProvider | undefined
let tracer: Tracer | undefined
let instruments: Instruments | undefined
const offCallbacks = new Set<() => void>()

function clockCheck(): boolean {
  const now = Date.now()
  // Calls closer together than BUSY_MS: read the clock less often (up to once per MAX_BUDGET calls).
  budget = now - lastClock < BUSY_MS ? Math.min(budget * 2, MAX_BUDGET) : 1
  countdown = budget - 1
  lastClock = now
  if (now - probedAt >= PROBE_INTERVAL_MS) probe(now)
  return active
}

function probe(now: number): void {
  probedAt = now
  const tracerProvider = realTracerProvider()
  if (tracerProvider !== seenTracerProvider) {
    seenTracerProvider = tracerProvider
    tracer = tracerProvider?.getTracer(TelemetryNames.scope)
  }
  const meterProvider = metrics.getMeterProvider()
  if (meterProvider !== seenMeterProvider) {
    seenMeterProvider = meterProvider
    const meter = meterProvider.getMeter(TelemetryNames.scope)
    instruments = meter instanceof NoopMeter ? undefined : createInstruments(meter)
  }
  const was = active
  active = tracer !== undefined || instruments !== undefined
  if (was && !active) for (const callback of offCallbacks) callback()
}

/** The registered TracerProvider behind the global proxy, or undefined when only the no-op one is there. */
function realTracerProvider(): TracerProvider | undefined {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider }
  const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider
  return delegate === NOOP_TRACER_PROVIDER ? undefined : delegate
}
