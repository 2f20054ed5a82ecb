import { type Attributes, metrics, SpanStatusCode, trace } from '@opentelemetry/api'
import { type DataPoint, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { type Cache, createCache, TelemetryNames, type TierCacheLogger } from '@tiercache/core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { refreshTelemetry, telemetryActive } from '../src/telemetry/activity.js'
import { queuedResult, sleep, TestStore, uniqueName } from './support/test-store.js'

const SPAN = TelemetryNames.spans
const ATTR = TelemetryNames.spanAttributes
const METRIC = TelemetryNames.metrics

/** A reader the test collects from by hand (no export interval to wait for). */
class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

const exporter = new InMemorySpanExporter()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const reader = new TestReader()
const meterProvider = new MeterProvider({ readers: [reader] })
const caches: Cache[] = []

/** A cache in a namespace of its own, so metric series of one test never mix with another's. */
function cache(options: Parameters<typeof createCache>[0] = {}): Cache {
  const created = createCache({
    namespace: uniqueName('tel'),
    store: `memory://${uniqueName('tel')}`,
    ...options,
  })
  caches.push(created)
  return created
}

async function points(name: string, attributes: Attributes = {}): Promise<DataPoint<unknown>[]> {
  const { resourceMetrics } = await reader.collect()
  return resourceMetrics.scopeMetrics
    .filter((scope) => scope.scope.name === TelemetryNames.scope)
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === name)
    .flatMap((metric) => metric.dataPoints as DataPoint<unknown>[])
    .filter((point) => Object.entries(attributes).every(([k, v]) => point.attributes[k] === v))
}

/** Sum of a counter over the points matching `attributes`. */
async function count(name: string, attributes: Attributes = {}): Promise<number> {
  return (await points(name, attributes)).reduce((sum, point) => sum + (point.value as number), 0)
}

/** Number of recordings of a histogram over the points matching `attributes`. */
async function recorded(name: string, attributes: Attributes = {}): Promise<number> {
  return (await points(name, attributes)).reduce(
    (sum, point) => sum + (point.value as { count: number }).count,
    0,
  )
}

function spans(name: string, namespace?: string): ReadableSpan[] {
  return exporter
    .getFinishedSpans()
    .filter(
      (span) =>
        span.name === name && (namespace === undefined || span.attributes[ATTR.namespace] === namespace),
    )
}

function only(name: string, namespace: string): ReadableSpan {
  const found = spans(name, namespace)
  expect(found, `${name} spans in ${namespace}`).toHaveLength(1)
  return found[0]!
}

// Created before any SDK exists: the tracer and meter must be looked up lazily.
const early = createCache({ namespace: 'early', store: `memory://${uniqueName('early')}` })
caches.push(early)

beforeAll(async () => {
  expect(telemetryActive()).toBe(false)
  expect(await early.getOrSet('before', () => 'v')).toBe('v')
  trace.setGlobalTracerProvider(tracerProvider)
  metrics.setGlobalMeterProvider(meterProvider)
})

beforeEach(() => exporter.reset())

afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
  await tracerProvider.shutdown()
  await meterProvider.shutdown()
  trace.disable()
  metrics.disable()
})

describe('OpenTelemetry', () => {
  it('picks up an SDK registered after createCache within a second, without any call to refresh', async () => {
    expect(spans(SPAN.getOrSet, 'early')).toHaveLength(0)
    await sleep(1_100)
    // Documented bound: the first operation a second later, or at most 64 operations after a burst.
    let calls = 0
    while (spans(SPAN.getOrSet, 'early').length === 0 && calls < 65)
      expect(await early.getOrSet(`after:${calls++}`, () => 'v')).toBe('v')
    expect(telemetryActive()).toBe(true)
    const found = spans(SPAN.getOrSet, 'early')
    expect(found).toHaveLength(1)
    expect(found[0]!.attributes[ATTR.tier]).toBe('loader')
    // Operations before the SDK left no counter behind.
    expect(await count(METRIC.misses, { namespace: 'early' })).toBe(1)
  })

  it('miss: getOrSet span with tier loader and a child loader span; misses and loader duration', async () => {
    refreshTelemetry()
    const c = cache()
    const ns = c.namespacePath
    expect(await c.getOrSet('user:1', async () => ({ id: 1 }))).toEqual({ id: 1 })
    const span = only(SPAN.getOrSet, ns)
    expect(span.attributes[ATTR.hit]).toBe(false)
    expect(span.attributes[ATTR.tier]).toBe('loader')
    expect(span.attributes[ATTR.dbSystemName]).toBe('memory')
    expect(span.attributes[ATTR.key]).toBeUndefined()
    const loader = only(SPAN.loader, ns)
    expect(loader.parentSpanContext?.spanId).toBe(span.spanContext().spanId)
    expect(loader.spanContext().traceId).toBe(span.spanContext().traceId)
    expect(await count(METRIC.misses, { namespace: ns })).toBe(1)
    expect(await count(METRIC.hits, { namespace: ns })).toBe(0)
    expect(await recorded(METRIC.loaderDuration, { namespace: ns })).toBe(1)
    expect(
      await recorded(METRIC.operationDuration, { namespace: ns, operation: 'getOrSet', tier: 'loader' }),
    ).toBe(1)
  })

  it('L1 hit: get and getOrSet spans with tier l1; hits{tier=l1}', async () => {
    const c = cache()
    const ns = c.namespacePath
    await c.set('k', 'v')
    expect(await c.get('k')).toBe('v')
    expect(await c.getOrSet('k', () => 'other')).toBe('v')
    for (const name of [SPAN.get, SPAN.getOrSet]) {
      const span = only(name, ns)
      expect(span.attributes[ATTR.hit]).toBe(true)
      expect(span.attributes[ATTR.tier]).toBe('l1')
    }
    expect(spans(SPAN.loader, ns)).toHaveLength(0)
    expect(only(SPAN.set, ns).status.code).toBe(SpanStatusCode.UNSET)
    expect(await count(METRIC.hits, { namespace: ns, tier: 'l1' })).toBe(2)
    expect(await count(METRIC.misses, { namespace: ns })).toBe(0)
  })

  it('remote hit: a second instance on the same store answers from the remote tier', async () => {
    const store = `memory://${uniqueName('remote')}`
    const namespace = uniqueName('tel')
    const writer = cache({ store, namespace })
    const reader2 = cache({ store, namespace })
    const noL1 = cache({ store, namespace, l1: false })
    await writer.set('k', 'v')
    exporter.reset()
    expect(await reader2.get('k')).toBe('v')
    expect(await noL1.getOrSet('k', () => 'loaded')).toBe('v')
    const get = only(SPAN.get, namespace)
    expect(get.attributes[ATTR.tier]).toBe('remote')
    expect(get.attributes[ATTR.hit]).toBe(true)
    expect(only(SPAN.getOrSet, namespace).attributes[ATTR.tier]).toBe('remote')
    expect(await count(METRIC.hits, { namespace, tier: 'remote' })).toBe(2)
  })

  it('stale served: a failing loader within grace serves the expired value', async () => {
    const c = cache()
    const ns = c.namespacePath
    await c.set('k', 'old', { ttl: 30, grace: '1h' })
    await sleep(60)
    exporter.reset()
    const value = await c.getOrSet('k', () => {
      throw new Error('database down')
    })
    expect(value).toBe('old')
    const span = only(SPAN.getOrSet, ns)
    expect(span.attributes[ATTR.tier]).toBe('stale')
    expect(span.attributes[ATTR.hit]).toBe(true)
    expect(span.attributes[ATTR.staleReason]).toBe('loader-error')
    expect(span.status.code).toBe(SpanStatusCode.UNSET)
    const loader = only(SPAN.loader, ns)
    expect(loader.status.code).toBe(SpanStatusCode.ERROR)
    expect(await count(METRIC.stale, { namespace: ns, reason: 'loader-error' })).toBe(1)
    expect(await count(METRIC.loaderErrors, { namespace: ns })).toBe(1)
  })

  it('loader error reaching the caller: ERROR status with the exception on both spans', async () => {
    const c = cache()
    const ns = c.namespacePath
    await expect(
      c.getOrSet('k', async () => {
        throw new TypeError('boom')
      }),
    ).rejects.toThrow('boom')
    for (const name of [SPAN.getOrSet, SPAN.loader]) {
      const span = only(name, ns)
      expect(span.status.code).toBe(SpanStatusCode.ERROR)
      expect(span.status.message).toBe('boom')
      expect(span.attributes[ATTR.errorType]).toBe('TypeError')
      expect(span.events.some((event) => event.name === 'exception')).toBe(true)
    }
    expect(only(SPAN.getOrSet, ns).attributes[ATTR.hit]).toBe(false)
    expect(await count(METRIC.loaderErrors, { namespace: ns, 'error.type': 'TypeError' })).toBe(1)
    expect(await recorded(METRIC.loaderDuration, { namespace: ns, 'error.type': 'TypeError' })).toBe(1)
    expect(await recorded(METRIC.operationDuration, { namespace: ns, 'error.type': 'TypeError' })).toBe(1)
  })

  it('single-flight joiners get their own span, answered by the one loader call', async () => {
    const c = cache()
    const ns = c.namespacePath
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(20)
      return 'v'
    }
    expect(
      await Promise.all([c.getOrSet('k', loader), c.getOrSet('k', loader), c.getOrSet('k', loader)]),
    ).toEqual(['v', 'v', 'v'])
    expect(calls).toBe(1)
    const found = spans(SPAN.getOrSet, ns)
    expect(found).toHaveLength(3)
    for (const span of found) expect(span.attributes[ATTR.tier]).toBe('loader')
    expect(spans(SPAN.loader, ns)).toHaveLength(1)
  })

  it('retry, failover and circuit events from the store: span events and counters; DB semconv', async () => {
    const store = new TestStore()
    // A Sentinel-like store that names its master in its health detail.
    Object.defineProperty(store, 'kind', { value: 'sentinel' })
    store.health = () => ({ state: 'ready', detail: { master: '10.0.0.5:6380' } })
    let release!: () => void
    store.gate.get = new Promise<void>((resolve) => {
      release = resolve
    })
    const c = cache({ store })
    const ns = c.namespacePath
    const pending = c.get('k')
    await sleep(5)
    store.emitStoreEvent({ type: 'retry', operation: 'get', attempt: 1, error: new Error('READONLY') })
    store.emitStoreEvent({ type: 'circuit', state: 'open' })
    store.emitStoreEvent({
      type: 'failover',
      detail: { from: '10.0.0.5:6380', to: '10.0.0.6:6380', via: 'switch-master' },
    })
    release()
    expect(await pending).toBeUndefined()
    const span = only(SPAN.get, ns)
    expect(span.attributes[ATTR.dbSystemName]).toBe('redis')
    expect(span.attributes[ATTR.serverAddress]).toBe('10.0.0.5')
    expect(span.attributes[ATTR.serverPort]).toBe(6380)
    expect(span.attributes[ATTR.hit]).toBe(false)
    const names = span.events.map((event) => event.name)
    expect(names).toEqual([
      TelemetryNames.spanEvents.retry,
      TelemetryNames.spanEvents.circuit,
      TelemetryNames.spanEvents.failover,
    ])
    expect(span.events[0]!.attributes?.[ATTR.attempt]).toBe(1)
    expect(span.events[2]!.attributes?.[`${ATTR.failoverDetail}.to`]).toBe('10.0.0.6:6380')
    expect(await count(METRIC.retries, { namespace: ns, operation: 'get' })).toBe(1)
    expect(await count(METRIC.failovers, { namespace: ns })).toBe(1)
    expect(await count(METRIC.circuitChanges, { namespace: ns, state: 'open' })).toBe(1)
  })

  it('a failing store fails open: store.errors by error.type and a store_error span event', async () => {
    const store = new TestStore()
    store.fail(['get'])
    const c = cache({ store })
    const ns = c.namespacePath
    expect(await c.get('k')).toBeUndefined()
    const span = only(SPAN.get, ns)
    expect(span.status.code).toBe(SpanStatusCode.UNSET)
    expect(span.events.map((event) => event.name)).toContain(TelemetryNames.spanEvents.storeError)
    expect(await count(METRIC.storeErrors, { namespace: ns, operation: 'get', 'error.type': 'Error' })).toBe(
      1,
    )
  })

  it('queued and replayed invalidations are counted; the span says queued', async () => {
    const store = new TestStore()
    const queued = queuedResult()
    store.invalidationResult = queued.result
    const c = cache({ store })
    const ns = c.namespacePath
    expect((await c.delete('k')).status).toBe('queued')
    expect(only(SPAN.delete, ns).attributes[ATTR.invalidation]).toBe('queued')
    queued.replay()
    await sleep(5)
    expect(await count(METRIC.invalidationsQueued, { namespace: ns, operation: 'delete' })).toBe(1)
    expect(await count(METRIC.invalidationsReplayed, { namespace: ns, outcome: 'applied' })).toBe(1)
  })

  it('batch and invalidation operations get spans with counts; keys only with includeKeys', async () => {
    const c = cache()
    const ns = c.namespacePath
    await c.setMany([
      { key: 'a', value: 1, tags: ['t'] },
      { key: 'b', value: 2 },
    ])
    expect(await c.getMany(['a', 'b', 'c'])).toEqual([1, 2, undefined])
    await c.invalidateTags(['t'])
    await c.delete(['a', 'b'])
    await c.clear()
    expect(only(SPAN.setMany, ns).attributes[ATTR.keyCount]).toBe(2)
    const getMany = only(SPAN.getMany, ns)
    expect(getMany.attributes[ATTR.keyCount]).toBe(3)
    expect(getMany.attributes[ATTR.hitCount]).toBe(2)
    expect(getMany.attributes[ATTR.keys]).toBeUndefined()
    expect(only(SPAN.invalidateTags, ns).attributes[ATTR.tagCount]).toBe(1)
    expect(only(SPAN.invalidateTags, ns).attributes[ATTR.tags]).toBeUndefined()
    expect(only(SPAN.delete, ns).attributes[ATTR.invalidation]).toBe('applied')
    expect(only(SPAN.clear, ns).attributes[ATTR.invalidation]).toBe('applied')
    expect(await count(METRIC.hits, { namespace: ns, tier: 'l1' })).toBe(2)
    expect(await count(METRIC.misses, { namespace: ns })).toBe(1)

    const withKeys = cache({ telemetry: { includeKeys: true } })
    await withKeys.getOrSet('user:42', () => 'v')
    await withKeys.getMany(['user:42', 'user:43'])
    await withKeys.invalidateTags('org:7')
    expect(only(SPAN.getOrSet, withKeys.namespacePath).attributes[ATTR.key]).toBe('user:42')
    expect(only(SPAN.loader, withKeys.namespacePath).attributes[ATTR.key]).toBe('user:42')
    expect(only(SPAN.getMany, withKeys.namespacePath).attributes[ATTR.keys]).toEqual(['user:42', 'user:43'])
    expect(only(SPAN.invalidateTags, withKeys.namespacePath).attributes[ATTR.tags]).toEqual(['org:7'])
  })

  it('observes the L1 size per namespace', async () => {
    const c = cache()
    await c.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
    ])
    const [point] = await points(METRIC.l1Size, { namespace: c.namespacePath })
    expect(point?.value).toBe(3)
  })

  it('telemetry: { enabled: false } keeps a cache out of traces and metrics', async () => {
    const c = cache({ telemetry: { enabled: false } })
    await c.getOrSet('k', () => 'v')
    await c.get('k')
    expect(spans(SPAN.getOrSet, c.namespacePath)).toHaveLength(0)
    expect(await count(METRIC.misses, { namespace: c.namespacePath })).toBe(0)
  })
})

describe('logger', () => {
  type Call = { level: string; fields: Record<string, unknown>; message: string | undefined }
  function recordingLogger(withDebug = true): { logger: TierCacheLogger; calls: Call[] } {
    const calls: Call[] = []
    const at =
      (level: string) =>
      (fields: object, message?: string): void => {
        calls.push({ level, fields: fields as Record<string, unknown>, message })
      }
    const logger: TierCacheLogger = { error: at('error'), warn: at('warn'), info: at('info') }
    if (withDebug) logger.debug = at('debug')
    return { logger, calls }
  }

  it('logs store errors (rate limited), failovers, circuit changes, queued invalidations; loader errors at debug', async () => {
    const { logger, calls } = recordingLogger()
    const store = new TestStore()
    const queued = queuedResult()
    const c = cache({ store, logger })
    store.fail(['get'])
    await c.get('a')
    await c.get('b')
    store.heal()
    store.emitStoreEvent({ type: 'failover', detail: { to: '10.0.0.6:6380' } })
    store.emitStoreEvent({ type: 'circuit', state: 'open' })
    store.emitStoreEvent({ type: 'circuit', state: 'closed' })
    store.emitStoreEvent({ type: 'invalidation-overflow', dropped: 3 })
    store.invalidationResult = queued.result
    await c.delete('k')
    queued.replay()
    await sleep(5)
    await expect(
      c.getOrSet('x', () => {
        throw new Error('db')
      }),
    ).rejects.toThrow('db')

    const errors = calls.filter((call) => call.level === 'error')
    // Two identical store errors within a second: logged once.
    expect(errors.filter((call) => call.fields.operation === 'get')).toHaveLength(1)
    expect(errors[0]!.fields.err).toBeInstanceOf(Error)
    expect(errors.some((call) => call.fields.dropped === 3)).toBe(true)
    const warns = calls.filter((call) => call.level === 'warn').map((call) => call.message)
    expect(warns).toEqual([
      expect.stringContaining('failed over'),
      expect.stringContaining('circuit opened'),
      expect.stringContaining('invalidation queued'),
    ])
    const infos = calls.filter((call) => call.level === 'info').map((call) => call.message)
    expect(infos).toEqual([expect.stringContaining('circuit closed'), expect.stringContaining('replayed')])
    expect(calls.filter((call) => call.level === 'debug').map((call) => call.message)).toEqual([
      expect.stringContaining('loader failed'),
    ])
  })

  it('rejects a logger that is not pino-compatible', () => {
    expect(() => createCache({ logger: {} as TierCacheLogger })).toThrow(/pino-compatible/)
    caches.push(createCache({ logger: console as unknown as TierCacheLogger }))
  })
})
