import { type Attributes, metrics, trace } from '@opentelemetry/api'
import { type DataPoint, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { type Cache, createCache, refreshTelemetry, TelemetryNames } from '@tiercache/core'
import { redisBinary, type SentinelTopology, startSentinel } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const METRIC = TelemetryNames.metrics

/** Collected by hand, so the test never waits for an export interval. */
class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * Telemetry on a real topology: a Sentinel master is SIGKILLed under load and the OTel SDK's in-memory
 * exporters must show the failover and the retries it caused — the signals an operator's dashboard and
 * alerts are built on (docs/observability.md).
 */
describe.skipIf(!redisBinary().available)('telemetry through a real Sentinel failover', () => {
  const exporter = new InMemorySpanExporter()
  const reader = new TestReader()
  let topology: SentinelTopology
  let cache: Cache

  beforeAll(async () => {
    topology = await startSentinel({ replicas: 1, sentinels: 3 })
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    )
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    refreshTelemetry()
    cache = createCache({ store: topology.url, namespace: 'otel-failover', l1: false, ttl: '1m' })
    await cache.ready()
  }, 60_000)

  afterAll(async () => {
    await cache?.close()
    await topology?.stop()
    trace.disable()
    metrics.disable()
  })

  async function counter(name: string, attributes: Attributes = {}): Promise<number> {
    const { resourceMetrics } = await reader.collect()
    return resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .filter((metric) => metric.descriptor.name === name)
      .flatMap((metric) => metric.dataPoints as DataPoint<number>[])
      .filter((point) => Object.entries(attributes).every(([k, v]) => point.attributes[k] === v))
      .reduce((sum, point) => sum + point.value, 0)
  }

  it('counts the failover and the retries, and every operation has its span, with zero caller errors', async () => {
    let failoverSeen = false
    cache.on('failover', () => {
      failoverSeen = true
    })
    const oldMaster = await topology.master()
    let errors = 0
    let operations = 0
    let stop = false
    // Bounded load: 3 workers, until the failover is seen and a little after, at most 20 s.
    const deadline = Date.now() + 20_000
    const worker = async (id: number) => {
      for (let i = 0; !stop && Date.now() < deadline && i < 50_000; i++) {
        const key = `k${id}:${i % 20}`
        try {
          await cache.set(key, i)
          await cache.getOrSet(`g${id}:${i % 20}`, () => i)
          operations += 2
        } catch {
          errors++
        }
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const workers = [0, 1, 2].map(worker)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await topology.kill(oldMaster)
    const promoted = await topology.waitForFailover({ from: oldMaster, timeoutMs: 15_000 })
    const until = Date.now() + 15_000
    while (!failoverSeen && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100))
    await new Promise((resolve) => setTimeout(resolve, 500))
    stop = true
    await Promise.all(workers)

    expect(promoted.port).not.toBe(oldMaster.port)
    expect(errors).toBe(0)
    expect(failoverSeen).toBe(true)
    expect(await counter(METRIC.failovers, { namespace: 'otel-failover' })).toBeGreaterThanOrEqual(1)
    expect(await counter(METRIC.retries, { namespace: 'otel-failover' })).toBeGreaterThanOrEqual(1)
    const spans = exporter.getFinishedSpans()
    expect(spans.filter((span) => span.name === 'tiercache.set').length).toBeGreaterThanOrEqual(
      operations / 2 - 5,
    )
    // Operation spans carry the DB semantic conventions (the loader's child span is internal work).
    const operationSpans = spans.filter((span) => span.name !== 'tiercache.loader')
    expect(new Set(operationSpans.map((span) => span.attributes['db.system.name']))).toEqual(
      new Set(['redis']),
    )
  }, 60_000)
})
