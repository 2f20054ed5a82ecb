import { TierCacheError } from '../errors.js'
import type { CacheEmitter, CacheEventName, CacheListener } from '../events.js'
import { errorType } from './error-type.js'

/** A log function with pino's argument order: a fields object first, then the message. */
export type LogFn = (fields: object, message?: string) => void

/**
 * The logger `createCache({ logger })` takes: pino, or anything with pino's `(fields, message)` calls
 * (bunyan, a pino-compatible wrapper around winston or console). `info` and `debug` are optional.
 */
export interface TierCacheLogger {
  error: LogFn
  warn: LogFn
  info?: LogFn
  debug?: LogFn
}

/** The same error (event, operation, error type) is logged at most once per this many ms. */
const REPEAT_MS = 1000
/** Distinct error signatures remembered for rate limiting; beyond it the table starts over. */
const MAX_SIGNATURES = 256

export function assertLogger(logger: unknown): TierCacheLogger {
  const candidate = logger as Partial<Record<keyof TierCacheLogger, unknown>> | null
  const fn = (name: keyof TierCacheLogger, optional: boolean) => {
    const value = candidate?.[name]
    return typeof value === 'function' || (optional && value === undefined)
  }
  if (
    typeof logger !== 'object' ||
    logger === null ||
    !fn('error', false) ||
    !fn('warn', false) ||
    !fn('info', true) ||
    !fn('debug', true)
  ) {
    throw new TierCacheError(
      'INVALID_OPTION',
      'logger must be pino-compatible: { error(fields, msg), warn(fields, msg), info?, debug? }',
    )
  }
  return logger as TierCacheLogger
}

/**
 * Logs what an operator needs to know: remote-tier errors (failed open) and undecodable bytes at error,
 * failovers, an opening circuit, queued invalidations and bus resyncs at warn, recoveries at info, loader
 * errors (they reach the caller, who logs them) and topology refreshes at debug. Repeats of one error are
 * rate limited, so a dead Redis does not flood the log. Returns the unsubscribe.
 */
export function attachLogger(events: CacheEmitter, logger: TierCacheLogger, namespace: string): () => void {
  const offs: Array<() => void> = []
  const on = <E extends CacheEventName>(name: E, listener: CacheListener<E>) => {
    // The emitter already isolates listeners: a logger that throws cannot break the operation.
    events.on(name, listener)
    offs.push(() => events.off(name, listener))
  }
  const info = (fields: object, message: string) => (logger.info ?? logger.warn).call(logger, fields, message)
  const base = namespace === '' ? {} : { namespace }
  const lastLogged = new Map<string, { at: number; suppressed: number }>()
  /** Undefined when this signature was logged less than REPEAT_MS ago (counted as suppressed), else how many were suppressed. */
  const admit = (signature: string): number | undefined => {
    const now = Date.now()
    const seen = lastLogged.get(signature)
    if (seen !== undefined && now - seen.at < REPEAT_MS) {
      seen.suppressed++
      return undefined
    }
    if (seen === undefined && lastLogged.size >= MAX_SIGNATURES) lastLogged.clear()
    lastLogged.set(signature, { at: now, suppressed: 0 })
    return seen?.suppressed ?? 0
  }

  on('error', (e) => {
    const type = errorType(e.error)
    const suppressed = admit(`error:${e.operation}:${type}`)
    if (suppressed === undefined) return
    const fields = {
      ...base,
      ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
      operation: e.operation,
      errorType: type,
      ...(suppressed > 0 ? { suppressed } : {}),
      err: e.error,
    }
    logger.error.call(
      logger,
      fields,
      e.operation === 'decode'
        ? 'tiercache: stored bytes could not be decoded; served as a miss'
        : `tiercache: remote tier failed during ${e.operation}; the call failed open`,
    )
  })
  if (logger.debug !== undefined) {
    const debug = logger.debug
    on('loaderError', (e) =>
      debug.call(logger, { ...base, namespace: e.namespace, err: e.error }, 'tiercache: loader failed'),
    )
    on('store', (e) => {
      if (e.type === 'topology')
        debug.call(logger, { ...base, detail: e.detail }, 'tiercache: store topology refreshed')
    })
  }
  on('store', (e) => {
    if (e.type === 'invalidation-overflow') {
      logger.error.call(
        logger,
        { ...base, dropped: e.dropped },
        'tiercache: invalidation replay queue overflowed; the store over-invalidated instead',
      )
    }
  })
  on('failover', (e) =>
    logger.warn.call(logger, { ...base, detail: e.detail }, 'tiercache: remote tier failed over'),
  )
  on('circuit', (e) => {
    if (e.state === 'open')
      logger.warn.call(
        logger,
        { ...base, state: e.state },
        'tiercache: circuit opened; skipping the remote tier',
      )
    else info({ ...base, state: e.state }, `tiercache: circuit ${e.state}`)
  })
  on('invalidationQueued', (e) =>
    logger.warn.call(
      logger,
      { ...base, namespace: e.namespace, operation: e.operation },
      'tiercache: invalidation queued; it will be replayed when the remote tier is back',
    ),
  )
  on('invalidationReplayed', (e) => {
    const fields = { ...base, namespace: e.namespace, operation: e.operation, outcome: e.outcome }
    if (e.outcome === 'applied') info(fields, 'tiercache: queued invalidation replayed')
    else logger.warn.call(logger, fields, 'tiercache: queued invalidation dropped (store closed first)')
  })
  on('resync', (e) =>
    logger.warn.call(
      logger,
      { ...base, reason: e.reason },
      'tiercache: invalidation bus resynced; local tier dropped',
    ),
  )
  return () => {
    for (const off of offs) off()
  }
}
