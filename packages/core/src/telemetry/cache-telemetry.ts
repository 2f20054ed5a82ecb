import {
  type Attributes,
  type AttributeValue,
  context,
  type Exception,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import type { NamespaceScope, TwoTierEngine } from '../engine/two-tier-engine.js'
import type { CacheEventName, CacheListener, Tier } from '../events.js'
import type { RemoteStore } from '../store/remote-store.js'
import { activeInstruments, activeTracer, onTelemetryOff } from './activity.js'
import { errorType } from './error-type.js'
import { type L1Source, registerL1Source } from './instruments.js'
import { type CacheOperation, TelemetryNames } from './names.js'

/** `createCache({ telemetry })`. Telemetry is on whenever an OpenTelemetry SDK is registered. */
export interface TelemetryOptions {
  /** `false` keeps this cache out of traces and metrics even when an SDK is registered (default true). */
  enabled?: boolean
  /**
   * Put keys and tags on spans (`tiercache.key`, `tiercache.keys`, `tiercache.tags`). Off by default:
   * keys often hold user ids or e-mail addresses, which many trace backends must not store.
   */
  includeKeys?: boolean
}

/** What one instrumented operation learned about itself, partly from the engine's events. */
export interface Operation {
  span: Span | undefined
  tier: Tier | undefined
  hit: boolean | undefined
  staleReason: string | undefined
}

const S = TelemetryNames.spanAttributes
const MA = TelemetryNames.metricAttributes
const EV = TelemetryNames.spanEvents
/** Keys listed on a batch span (with includeKeys); the count is always there. */
const MAX_LISTED_KEYS = 100
/** A store event without a key goes to at most this many in-flight spans when no span is active. */
const MAX_EVENT_FANOUT = 16
/** How long server.address/port are trusted before health() is asked again (failovers reset it). */
const DB_ATTRIBUTES_TTL_MS = 5000

/**
 * The OpenTelemetry side of one cache (shared by its namespaces). Used only while an SDK is registered:
 * the facade routes operations through `run` then, and the first such operation subscribes to the
 * engine's events (hits, misses, stale, errors, retries, failovers …) to feed the counters. Until then no
 * listener exists, so the engine's `events.has()` checks keep skipping payloads.
 */
export class CacheTelemetry implements L1Source {
  readonly enabled: boolean
  readonly namespace: string
  readonly #engine: TwoTierEngine
  readonly #includeKeys: boolean
  /** In-flight single-key operations by `namespace \0 key`, so events can tell them which tier answered. */
  readonly #ops = new Map<string, Set<Operation>>()
  readonly #spans = new Set<Span>()
  #detach: Array<() => void> | undefined
  #db: DbFacts | undefined
  #dbAt = 0

  constructor(engine: TwoTierEngine, namespace: string, options: TelemetryOptions | undefined) {
    this.#engine = engine
    this.namespace = namespace
    this.enabled = options?.enabled !== false
    this.#includeKeys = options?.includeKeys === true
  }

  l1Size(): number | undefined {
    return this.#engine.closed ? undefined : this.#engine.l1?.size
  }

  /** Runs one cache operation inside its span, and records its duration. */
  async run<T>(
    operation: CacheOperation,
    scope: NamespaceScope,
    subject: unknown,
    body: (op: Operation) => Promise<T>,
  ): Promise<T> {
    if (this.#detach === undefined) this.#attach()
    const tracer = activeTracer()
    const start = performance.now()
    const op: Operation = { span: undefined, tier: undefined, hit: undefined, staleReason: undefined }
    let ctx = context.active()
    if (tracer !== undefined) {
      op.span = tracer.startSpan(
        TelemetryNames.spans[operation],
        { kind: SpanKind.CLIENT, attributes: this.#spanAttributes(operation, scope, subject) },
        ctx,
      )
      ctx = trace.setSpan(ctx, op.span)
      this.#spans.add(op.span)
    }
    const ref =
      typeof subject === 'string' && operation !== 'invalidateTags' ? scope.path + '\0' + subject : undefined
    if (ref !== undefined) this.#track(ref, op)
    let failed = false
    let error: unknown
    let result: T | undefined
    try {
      result = await context.with(ctx, body, undefined, op)
      return result
    } catch (thrown) {
      failed = true
      error = thrown
      throw thrown
    } finally {
      if (ref !== undefined) this.#untrack(ref, op)
      this.#finish(operation, scope, op, start, failed, error, result)
    }
  }

  /** The loader of an instrumented getOrSet: a child span `tiercache.loader` and `tiercache.loader.duration`. */
  wrapLoader<T>(
    loader: () => T | Promise<T>,
    scope: NamespaceScope,
    key: string,
    op: Operation,
  ): () => T | Promise<T> {
    if (typeof loader !== 'function') return loader
    return () => {
      const tracer = activeTracer()
      const start = performance.now()
      let span: Span | undefined
      let ctx = context.active()
      if (tracer !== undefined) {
        const attributes: Attributes = {}
        if (scope.path !== '') attributes[S.namespace] = scope.path
        if (this.#includeKeys) attributes[S.key] = key
        const parent = op.span === undefined ? ctx : trace.setSpan(ctx, op.span)
        span = tracer.startSpan(TelemetryNames.spans.loader, { kind: SpanKind.INTERNAL, attributes }, parent)
        ctx = trace.setSpan(parent, span)
      }
      const ref = scope.path + '\0' + key
      let result: T | Promise<T>
      try {
        result = context.with(ctx, loader)
      } catch (error) {
        this.#loaderDone(ref, scope, span, start, true, error)
        throw error
      }
      if (!isPromiseLike(result)) {
        this.#loaderDone(ref, scope, span, start, false, undefined)
        return result
      }
      return Promise.resolve(result).then(
        (value) => {
          this.#loaderDone(ref, scope, span, start, false, undefined)
          return value
        },
        (error: unknown) => {
          this.#loaderDone(ref, scope, span, start, true, error)
          throw error
        },
      )
    }
  }

  /** Unsubscribes from the engine (the SDK went away, or the cache closed). `run` subscribes again. */
  detach(): void {
    const detach = this.#detach
    this.#detach = undefined
    if (detach !== undefined) for (const off of detach) off()
  }

  // ── Spans ────────────────────────────────────────────────────────────────────────────────────────────

  #finish(
    operation: CacheOperation,
    scope: NamespaceScope,
    op: Operation,
    start: number,
    failed: boolean,
    error: unknown,
    result: unknown,
  ): void {
    const span = op.span
    const readsOne = operation === 'get' || operation === 'getOrSet'
    // A getOrSet that joined another caller's loader sees no event of its own: the loader answered it.
    if (operation === 'getOrSet' && op.tier === undefined) op.tier = 'loader'
    if (readsOne) op.hit = !failed && op.tier !== undefined && op.tier !== 'loader'
    if (span !== undefined) {
      this.#spans.delete(span)
      if (readsOne) {
        span.setAttribute(S.hit, op.hit === true)
        if (op.tier !== undefined) span.setAttribute(S.tier, op.tier)
        if (op.staleReason !== undefined) span.setAttribute(S.staleReason, op.staleReason)
      } else if (!failed && operation === 'getMany' && Array.isArray(result)) {
        let hits = 0
        for (const value of result) if (value !== undefined) hits++
        span.setAttribute(S.hitCount, hits)
      } else if (!failed && isInvalidationResult(result)) {
        span.setAttribute(S.invalidation, result.status)
      }
      if (failed) recordError(span, error)
      span.end()
    }
    const instruments = activeInstruments()
    if (instruments !== undefined) {
      const attributes: Attributes = { [MA.operation]: operation, [MA.namespace]: scope.path }
      if (readsOne && op.tier !== undefined) attributes[MA.tier] = op.tier
      if (failed) attributes[MA.errorType] = errorType(error)
      instruments.operationDuration.record((performance.now() - start) / 1000, attributes)
    }
  }

  #spanAttributes(operation: CacheOperation, scope: NamespaceScope, subject: unknown): Attributes {
    const db = this.#dbAttributes()
    // Literal keys, no spread: this runs once per operation while tracing.
    const attributes: Attributes = { 'db.system.name': db.system, 'db.operation.name': operation }
    if (db.address !== undefined) attributes[S.serverAddress] = db.address
    if (db.port !== undefined) attributes[S.serverPort] = db.port
    if (scope.path !== '') attributes[S.namespace] = scope.path
    const tags = operation === 'invalidateTags'
    if (typeof subject === 'string') {
      if (tags) attributes[S.tagCount] = 1
      if (this.#includeKeys) attributes[tags ? S.tags : S.key] = tags ? [subject] : subject
    } else if (Array.isArray(subject)) {
      attributes[tags ? S.tagCount : S.keyCount] = subject.length
      if (this.#includeKeys) {
        const listed: string[] = []
        for (let i = 0; i < subject.length && i < MAX_LISTED_KEYS; i++) {
          const item: unknown = subject[i]
          const key = typeof item === 'string' ? item : (item as { key?: unknown } | null)?.key
          if (typeof key === 'string') listed.push(key)
        }
        attributes[tags ? S.tags : S.keys] = listed
      }
    }
    return attributes
  }

  /** db.system.name and server.address/port, from `store.kind` and the store's health detail. */
  #dbAttributes(): DbFacts {
    const now = performance.now()
    if (this.#db === undefined || now - this.#dbAt > DB_ATTRIBUTES_TTL_MS) {
      this.#db = dbFacts(this.#engine.store)
      this.#dbAt = now
    }
    return this.#db
  }

  #loaderDone(
    ref: string,
    scope: NamespaceScope,
    span: Span | undefined,
    start: number,
    failed: boolean,
    error: unknown,
  ): void {
    if (!failed) {
      // Every caller waiting on this key (single-flight joiners too) was answered by the loader.
      const ops = this.#ops.get(ref)
      if (ops !== undefined) {
        for (const op of ops) if (op.tier === undefined) op.tier = 'loader'
      }
    }
    if (span !== undefined) {
      if (failed) recordError(span, error)
      span.end()
    }
    const instruments = activeInstruments()
    if (instruments !== undefined) {
      const attributes: Attributes = { [MA.namespace]: scope.path }
      if (failed) attributes[MA.errorType] = errorType(error)
      instruments.loaderDuration.record((performance.now() - start) / 1000, attributes)
    }
  }

  #track(ref: string, op: Operation): void {
    let ops = this.#ops.get(ref)
    if (ops === undefined) {
      ops = new Set()
      this.#ops.set(ref, ops)
    }
    ops.add(op)
  }

  #untrack(ref: string, op: Operation): void {
    const ops = this.#ops.get(ref)
    if (ops === undefined) return
    ops.delete(op)
    if (ops.size === 0) this.#ops.delete(ref)
  }

  /** Tells the in-flight operations on `key` what the engine just did for it. */
  #mark(namespace: string, key: string, tier: Tier | undefined, staleReason?: string): void {
    const ops = this.#ops.get(namespace + '\0' + key)
    if (ops === undefined) return
    for (const op of ops) {
      if (tier !== undefined) op.tier = tier
      if (staleReason !== undefined) op.staleReason = staleReason
    }
  }

  /**
   * A store happening as a span event: on the operations of `key` when the event names one, else on the
   * active span when it is one of ours (a context manager is registered), else on the in-flight spans.
   */
  #spanEvent(name: string, attributes: Attributes, namespace?: string, key?: string): void {
    if (this.#spans.size === 0) return
    if (key !== undefined && namespace !== undefined) {
      const ops = this.#ops.get(namespace + '\0' + key)
      if (ops !== undefined) {
        for (const op of ops) op.span?.addEvent(name, attributes)
        return
      }
    }
    const active = trace.getActiveSpan()
    if (active !== undefined && this.#spans.has(active)) {
      active.addEvent(name, attributes)
      return
    }
    let count = 0
    for (const span of this.#spans) {
      span.addEvent(name, attributes)
      if (++count >= MAX_EVENT_FANOUT) break
    }
  }

  // ── Metrics from engine events ───────────────────────────────────────────────────────────────────────

  #attach(): void {
    const events = this.#engine.events
    const offs: Array<() => void> = []
    const on = <E extends CacheEventName>(name: E, listener: CacheListener<E>) => {
      events.on(name, listener)
      offs.push(() => events.off(name, listener))
    }
    const root = this.namespace
    on('hit', (e) => {
      activeInstruments()?.hits.add(1, { [MA.tier]: e.tier, [MA.namespace]: e.namespace })
      this.#mark(e.namespace, e.key, e.tier)
    })
    on('miss', (e) => {
      activeInstruments()?.misses.add(1, { [MA.namespace]: e.namespace })
    })
    on('stale', (e) => {
      activeInstruments()?.stale.add(1, { [MA.reason]: e.reason, [MA.namespace]: e.namespace })
      this.#mark(e.namespace, e.key, 'stale', e.reason)
    })
    on('loaderError', (e) => {
      activeInstruments()?.loaderErrors.add(1, {
        [MA.namespace]: e.namespace,
        [MA.errorType]: errorType(e.error),
      })
    })
    on('error', (e) => {
      const type = errorType(e.error)
      activeInstruments()?.storeErrors.add(1, {
        [MA.errorType]: type,
        [MA.operation]: e.operation,
        [MA.namespace]: e.namespace ?? root,
      })
      this.#spanEvent(EV.storeError, { [S.operation]: e.operation, [S.errorType]: type }, e.namespace, e.key)
    })
    on('retry', (e) => {
      const type = errorType(e.error)
      activeInstruments()?.retries.add(1, {
        [MA.operation]: e.operation,
        [MA.errorType]: type,
        [MA.namespace]: root,
      })
      this.#spanEvent(EV.retry, { [S.operation]: e.operation, [S.attempt]: e.attempt, [S.errorType]: type })
    })
    on('circuit', (e) => {
      activeInstruments()?.circuitChanges.add(1, { [MA.state]: e.state, [MA.namespace]: root })
      this.#spanEvent(EV.circuit, { [S.circuitState]: e.state })
    })
    on('failover', (e) => {
      this.#db = undefined // the master moved: server.address must be read again
      activeInstruments()?.failovers.add(1, { [MA.namespace]: root })
      this.#spanEvent(EV.failover, flatten(S.failoverDetail, e.detail))
    })
    on('invalidationQueued', (e) => {
      activeInstruments()?.invalidationsQueued.add(1, {
        [MA.operation]: e.operation,
        [MA.namespace]: e.namespace,
      })
    })
    on('invalidationReplayed', (e) => {
      activeInstruments()?.invalidationsReplayed.add(1, {
        [MA.operation]: e.operation,
        [MA.outcome]: e.outcome,
        [MA.namespace]: e.namespace,
      })
    })
    offs.push(
      registerL1Source(this),
      onTelemetryOff(() => this.detach()),
    )
    this.#detach = offs
  }
}

function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : (String(error) as Exception))
  span.setAttribute(S.errorType, errorType(error))
  span.setStatus({
    code: SpanStatusCode.ERROR,
    ...(error instanceof Error ? { message: error.message } : {}),
  })
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

function isInvalidationResult(value: unknown): value is { status: 'applied' | 'queued' } {
  const status = (value as { status?: unknown } | null)?.status
  return status === 'applied' || status === 'queued'
}

interface DbFacts {
  readonly system: string
  readonly address: string | undefined
  readonly port: number | undefined
}

/** `db.system.name` from `store.kind` (sentinel and cluster are Redis), server.* from `health().detail`. */
function dbFacts(store: RemoteStore): DbFacts {
  let detail: Readonly<Record<string, unknown>> | undefined
  try {
    detail = store.health().detail
  } catch {
    // A store whose health() throws still gets spans; they just lack server.*.
  }
  const server = serverOf(detail)
  return {
    system: typeof detail?.system === 'string' ? detail.system : dbSystem(store.kind),
    address: server?.host,
    port: server?.port,
  }
}

function dbSystem(kind: string): string {
  return kind === 'sentinel' || kind === 'cluster' ? 'redis' : kind
}

/**
 * Where the store says it is connected, from its health detail: `{ host, port }`, or `master` /
 * `address` as `'host:port'` or `{ host, port }` (a Sentinel store names its current master there).
 */
function serverOf(
  detail: Readonly<Record<string, unknown>> | undefined,
): { host: string; port: number | undefined } | undefined {
  if (detail === undefined) return undefined
  if (typeof detail.host === 'string')
    return { host: detail.host, port: typeof detail.port === 'number' ? detail.port : undefined }
  for (const candidate of [detail.master, detail.address]) {
    if (typeof candidate === 'string') {
      const at = candidate.lastIndexOf(':')
      if (at <= 0) return { host: candidate, port: undefined }
      const port = Number(candidate.slice(at + 1))
      return { host: candidate.slice(0, at), port: Number.isInteger(port) ? port : undefined }
    }
    if (typeof candidate === 'object' && candidate !== null) {
      const { host, port } = candidate as { host?: unknown; port?: unknown }
      if (typeof host === 'string') return { host, port: typeof port === 'number' ? port : undefined }
    }
  }
  return undefined
}

/** Primitive fields of a detail record as `prefix.field` attributes (failover detail: from, to, via, at). */
function flatten(prefix: string, detail: Readonly<Record<string, unknown>>): Attributes {
  const attributes: Attributes = {}
  for (const [name, value] of Object.entries(detail)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      attributes[`${prefix}.${name}`] = value as AttributeValue
  }
  return attributes
}
