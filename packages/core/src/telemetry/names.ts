/**
 * Every OpenTelemetry name tiercache emits, in one place (docs/observability.md has the same table).
 * Span and metric names are part of the public contract: dashboards and alerts depend on them.
 */
export const TelemetryNames = {
  /** Instrumentation scope of the tracer and the meter. */
  scope: 'tiercache',
  spans: {
    get: 'tiercache.get',
    getOrSet: 'tiercache.getOrSet',
    set: 'tiercache.set',
    getMany: 'tiercache.getMany',
    setMany: 'tiercache.setMany',
    delete: 'tiercache.delete',
    invalidateTags: 'tiercache.invalidateTags',
    clear: 'tiercache.clear',
    /** Child of a `tiercache.getOrSet` span: the user's loader. */
    loader: 'tiercache.loader',
  },
  spanEvents: {
    retry: 'tiercache.retry',
    circuit: 'tiercache.circuit',
    failover: 'tiercache.failover',
    /** The remote tier failed during the operation, which failed open. */
    storeError: 'tiercache.store_error',
  },
  spanAttributes: {
    hit: 'tiercache.hit',
    tier: 'tiercache.tier',
    namespace: 'tiercache.namespace',
    /** Only with `telemetry: { includeKeys: true }`. */
    key: 'tiercache.key',
    /** Only with `telemetry: { includeKeys: true }` (first 100). */
    keys: 'tiercache.keys',
    keyCount: 'tiercache.key_count',
    hitCount: 'tiercache.hit_count',
    /** Only with `telemetry: { includeKeys: true }`: tags can hold ids too. */
    tags: 'tiercache.tags',
    tagCount: 'tiercache.tag_count',
    staleReason: 'tiercache.stale_reason',
    /** `applied` | `queued` for delete / invalidateTags / clear. */
    invalidation: 'tiercache.invalidation',
    attempt: 'tiercache.attempt',
    operation: 'tiercache.operation',
    circuitState: 'tiercache.circuit.state',
    failoverDetail: 'tiercache.failover.detail',
    dbSystemName: 'db.system.name',
    dbOperationName: 'db.operation.name',
    serverAddress: 'server.address',
    serverPort: 'server.port',
    errorType: 'error.type',
  },
  metrics: {
    hits: 'tiercache.hits',
    misses: 'tiercache.misses',
    stale: 'tiercache.stale',
    loaderErrors: 'tiercache.loader.errors',
    storeErrors: 'tiercache.store.errors',
    retries: 'tiercache.retries',
    invalidationsQueued: 'tiercache.invalidations.queued',
    invalidationsReplayed: 'tiercache.invalidations.replayed',
    failovers: 'tiercache.failovers',
    circuitChanges: 'tiercache.circuit.changes',
    operationDuration: 'tiercache.operation.duration',
    loaderDuration: 'tiercache.loader.duration',
    l1Size: 'tiercache.l1.size',
  },
  metricAttributes: {
    tier: 'tier',
    namespace: 'namespace',
    reason: 'reason',
    operation: 'operation',
    outcome: 'outcome',
    state: 'state',
    errorType: 'error.type',
  },
} as const

/** The cache operations that get a span and an `operation` value on `tiercache.operation.duration`. */
export type CacheOperation = Exclude<keyof typeof TelemetryNames.spans, 'loader'>
