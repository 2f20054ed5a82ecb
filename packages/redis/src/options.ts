import type { ConnectionOptions } from 'node:tls'
import { assertKnownParams, type StoreConfig, TierCacheError } from '@tiercache/core'
import type { RedisOptions } from 'ioredis'
import { BREAKER_DEFAULTS } from './resilience/breaker.js'
import { REPLAY_QUEUE_DEFAULTS } from './resilience/replay-queue.js'
import { RETRY_DEFAULTS } from './resilience/retry.js'

/**
 * Options form of the standalone store (`store: { url?, host, port, … }`). Every field may also be given
 * as a URL query parameter (`redis://h:6379/0?commandTimeoutMs=500`); explicit options win over the URL.
 * All durations are milliseconds.
 */
export interface RedisStoreOptions {
  host?: string
  port?: number
  username?: string
  password?: string
  db?: number
  /** Node TLS options (`ca`, `cert`, `key`, `servername`, …) or true; `rediss://`/`valkeys://` imply true. */
  tls?: boolean | ConnectionOptions
  /** Bound of every command; a read never waits longer. Default 1000. */
  commandTimeoutMs?: number
  /** Bound of one connection attempt, and of `ready()`. Default 5000. */
  connectTimeoutMs?: number
  /** Retry budget of `set`/`setMany` before the failure is only reported. Default 250. */
  writeDeadlineMs?: number
  /** Retry budget of `delete`/`bumpGenerations`/`clearPrefix` before they are queued. Default 5000. */
  invalidationDeadlineMs?: number
  /** First backoff cap of a retry (doubles per attempt, full jitter). Default 20. */
  retryBaseDelayMs?: number
  /** Largest backoff of a retry. Default 500. */
  retryMaxDelayMs?: number
  /** Consecutive failures that open the circuit breaker. Default 5. */
  breakerThreshold?: number
  /** Cool-down before the breaker lets one probe through. Default 1000. */
  breakerHalfOpenAfterMs?: number
  /** Queued invalidations before the queue collapses into namespace clears. Default 10000. */
  maxQueuedInvalidations?: number
  /** How often queued invalidations are retried besides on reconnect. Default 1000. */
  replayIntervalMs?: number
  /** Largest pause between reconnect attempts (it reconnects forever). Default 2000. */
  reconnectMaxDelayMs?: number
  /** Keys per MGET / UNLINK and SCAN COUNT. Default 500. */
  batchSize?: number
  /** Extra ioredis options, applied last (escape hatch; the defaults above are deliberate). */
  ioredis?: RedisOptions
}

/** The resolved resilience tuning, shared with the Sentinel/Cluster stores. */
export interface RedisTuning {
  readonly commandTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly writeDeadlineMs: number
  readonly invalidationDeadlineMs: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
  readonly breakerThreshold: number
  readonly breakerHalfOpenAfterMs: number
  readonly maxQueuedInvalidations: number
  readonly replayIntervalMs: number
  readonly reconnectMaxDelayMs: number
  readonly batchSize: number
}

export const TUNING_DEFAULTS: RedisTuning = Object.freeze({
  commandTimeoutMs: 1000,
  connectTimeoutMs: 5000,
  writeDeadlineMs: 250,
  invalidationDeadlineMs: 5000,
  retryBaseDelayMs: RETRY_DEFAULTS.baseDelayMs,
  retryMaxDelayMs: RETRY_DEFAULTS.maxDelayMs,
  breakerThreshold: BREAKER_DEFAULTS.failureThreshold,
  breakerHalfOpenAfterMs: BREAKER_DEFAULTS.halfOpenAfterMs,
  maxQueuedInvalidations: REPLAY_QUEUE_DEFAULTS.maxSize,
  replayIntervalMs: 1000,
  reconnectMaxDelayMs: 2000,
  batchSize: 500,
})

const TUNING_KEYS = Object.keys(TUNING_DEFAULTS) as Array<keyof RedisTuning>

/** Reads the tuning fields from options (numbers) and URL params (strings); bad values throw INVALID_OPTION. */
export function resolveTuning(config: StoreConfig): RedisTuning {
  const params = config.parsed?.params ?? {}
  const tuning: Record<string, number> = { ...TUNING_DEFAULTS }
  for (const key of TUNING_KEYS) {
    const raw = config[key] ?? params[key]
    if (raw === undefined) continue
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new TierCacheError(
        'INVALID_OPTION',
        `store option '${key}' must be a positive number of milliseconds/count, got ${String(raw)}`,
      )
    }
    tuning[key] = value
  }
  return tuning as unknown as RedisTuning
}

/**
 * The ioredis options every tiercache connection uses. Why each setting:
 * - `lazyConnect` — `createCache` is synchronous and connects on first use.
 * - `enableOfflineQueue: false` — while disconnected, commands fail at once instead of piling up and
 *   hanging: the engine fails open immediately (the store itself waits for the FIRST connect).
 * - `maxRetriesPerRequest: 1` — a command in flight when the socket drops is retried once after reconnect,
 *   then fails; our own retry/deadline policy decides the rest.
 * - `retryStrategy` — reconnect forever, 50 ms doubling to `reconnectMaxDelayMs`, with jitter.
 * - `commandTimeout` — the bound of every command (reads: ~1 s).
 * - `enableAutoPipelining` — concurrent commands share round trips.
 */
export function baseClientOptions(tuning: RedisTuning): RedisOptions {
  return {
    lazyConnect: true,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: tuning.commandTimeoutMs,
    connectTimeout: tuning.connectTimeoutMs,
    enableReadyCheck: true,
    autoResubscribe: false,
    retryStrategy: (times: number) => {
      const cap = Math.min(tuning.reconnectMaxDelayMs, 50 * 2 ** Math.min(times, 10))
      return Math.round(cap / 2 + Math.random() * (cap / 2))
    },
  }
}

/** URL (`config.parsed`) and options form → ioredis options for a standalone server. */
export function resolveStandaloneOptions(config: StoreConfig): { client: RedisOptions; tuning: RedisTuning } {
  const options = config as StoreConfig & RedisStoreOptions
  const parsed = config.parsed
  assertKnownParams(parsed, TUNING_KEYS, '@tiercache/redis')
  const tuning = resolveTuning(config)
  const host = options.host ?? parsed?.hosts[0]?.host ?? '127.0.0.1'
  const port = options.port ?? parsed?.hosts[0]?.port ?? 6379
  const dbText = parsed?.path || undefined
  const db = options.db ?? (dbText === undefined ? undefined : Number(dbText))
  if (db !== undefined && (!Number.isInteger(db) || db < 0))
    throw new TierCacheError('INVALID_OPTION', `store option 'db' must be a non-negative integer, got ${db}`)
  const username = options.username ?? parsed?.username
  const password = options.password ?? parsed?.password
  const tls = resolveTls(options.tls, parsed?.tls ?? false)
  const client: RedisOptions = {
    ...baseClientOptions(tuning),
    host,
    port,
    ...(db !== undefined ? { db } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...options.ioredis,
  }
  return { client, tuning }
}

/** `tls: true` or a TLS-scheme URL → verified TLS with Node defaults; an object → those Node TLS options. */
export function resolveTls(option: unknown, fromUrl: boolean): ConnectionOptions | undefined {
  if (option === false) return undefined
  if (option === true || (option === undefined && fromUrl)) return {}
  if (option === undefined) return undefined
  if (typeof option === 'object' && option !== null) return { ...(option as ConnectionOptions) }
  throw new TierCacheError('INVALID_OPTION', `store option 'tls' must be a boolean or Node TLS options`)
}

/**
 * How invalidations are acknowledged, for the stores with replicas (Sentinel, Cluster).
 * - `'async'` (default): acknowledged by the master alone. Redis replicates asynchronously, so an
 *   invalidation acknowledged in the last few milliseconds before the master dies may be missing on the
 *   replica that gets promoted (the old value comes back).
 * - `'replicated'`: after the write, `WAIT <replicas> <timeoutMs>`; the invalidation counts as applied only
 *   once that many replicas have it, otherwise it is retried (and queued past the deadline).
 */
export type Consistency = 'async' | 'replicated'

/** The consistency options after defaults and validation. */
export interface ConsistencyOptions {
  readonly consistency: Consistency
  /** `WAIT` for this many replicas under `'replicated'` (default 1; 0 turns the WAIT off). */
  readonly waitReplicas: number
  /** How long one `WAIT` may block on the server (default 500 ms). */
  readonly waitTimeoutMs: number
}

/** Their names, as options and as URL query parameters. */
export const CONSISTENCY_PARAMS = ['consistency', 'waitReplicas', 'waitTimeoutMs'] as const

/**
 * Reads `consistency`, `waitReplicas`, `waitTimeoutMs` from the options form (first) or the URL query.
 * `invalid` builds the adapter's error for a bad value (it names the adapter and the error code).
 */
export function resolveConsistency(
  options: Readonly<Record<string, unknown>>,
  params: Readonly<Record<string, string>>,
  invalid: (message: string) => TierCacheError,
): ConsistencyOptions {
  const consistency = options.consistency ?? params.consistency ?? 'async'
  if (consistency !== 'async' && consistency !== 'replicated')
    throw invalid(`consistency must be 'async' or 'replicated', got '${String(consistency)}'`)
  return {
    consistency,
    waitReplicas: integerOption(options.waitReplicas ?? params.waitReplicas, 1, 'waitReplicas', 0, invalid),
    waitTimeoutMs: integerOption(
      options.waitTimeoutMs ?? params.waitTimeoutMs,
      500,
      'waitTimeoutMs',
      1,
      invalid,
    ),
  }
}

/** An integer option (a number, or decimal digits from a URL) ≥ `min`; `fallback` when not given. */
export function integerOption(
  value: unknown,
  fallback: number,
  name: string,
  min: number,
  invalid: (message: string) => TierCacheError,
): number {
  if (value === undefined) return fallback
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min)
    throw invalid(`${name} must be an integer ≥ ${min}, got '${String(value)}'`)
  return n
}
