import { TierCacheError } from '@tiercache/core'

/**
 * How the resilience kit treats a failed Redis command:
 * - `retryable` — the server is (temporarily) unreachable or not serving: connection loss, timeouts,
 *   READONLY / LOADING / MASTERDOWN / TRYAGAIN / CLUSTERDOWN / MOVED / ASK, an open circuit. A retry,
 *   a reconnect or a failover can fix it; these count as breaker failures and make the engine fail open.
 * - `fatal` — misconfiguration (NOAUTH, WRONGPASS, an AUTH rejected by ACL): retrying cannot fix it and
 *   failing open would hide it. `toFatalError` turns it into `TierCacheError` AUTH_FAILED.
 * - `permanent` — the command itself is wrong (WRONGTYPE, NOPERM, syntax, OOM, an unknown error): not
 *   retried, not a breaker failure, reported as is.
 */
export type RedisErrorCategory = 'retryable' | 'fatal' | 'permanent'

/** Reply-error prefixes (the first word of a Redis error reply) that a retry or failover can fix. */
export const RETRYABLE_REPLY_CODES: ReadonlySet<string> = new Set([
  'READONLY',
  'LOADING',
  'MASTERDOWN',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MOVED',
  'ASK',
  'BUSY',
])

/** Reply-error prefixes that mean the credentials are wrong. */
export const FATAL_REPLY_CODES: ReadonlySet<string> = new Set(['NOAUTH', 'WRONGPASS'])

/** Node socket error codes that mean the connection is gone or never came up. */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
])

/** TierCacheError codes the kit itself raises for an unavailable tier. */
const RETRYABLE_TIERCACHE_CODES: ReadonlySet<string> = new Set([
  'STORE_UNAVAILABLE',
  'CIRCUIT_OPEN',
  'COMMAND_TIMEOUT',
  'CLUSTER_NOT_READY',
])

/** Messages ioredis (and Node) use for a lost or unusable connection / a timed-out command. */
const CONNECTION_MESSAGES =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|connect ETIMEDOUT|socket hang up|Socket closed unexpectedly|write after end|ClusterAllFailedError|Failed to refresh slots cache|None of the sentinels are available|All sentinels are unreachable|Too many Cluster redirections/i

/** The first word of a Redis error reply ('READONLY', 'WRONGTYPE', …), or undefined for other errors. */
export function replyCode(error: unknown): string | undefined {
  const message = (error as { message?: unknown } | null)?.message
  if (typeof message !== 'string') return undefined
  const match = /^([A-Z][A-Z_-]+)(?:\s|$)/.exec(message)
  return match?.[1]
}

const SLOT_MAP_CHANGED = /same slots allocation group|should belong to the same slot/

/** Classifies a failed Redis command or connection error. Never throws. */
export function classifyRedisError(error: unknown): RedisErrorCategory {
  if (error instanceof TierCacheError) {
    if (error.fatal) return 'fatal'
    return RETRYABLE_TIERCACHE_CODES.has(error.code) ? 'retryable' : 'permanent'
  }
  if (typeof error !== 'object' || error === null) return 'permanent'
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown }
  const text = typeof message === 'string' ? message : ''
  const reply = replyCode(error)
  if (reply !== undefined) {
    if (FATAL_REPLY_CODES.has(reply)) return 'fatal'
    if (RETRYABLE_REPLY_CODES.has(reply)) return 'retryable'
    // "ERR AUTH <password> called without any password configured" and ACL auth failures.
    if (reply === 'ERR' && /invalid password|invalid username-password|AUTH .*failed/i.test(text))
      return 'fatal'
    if (reply !== 'ERR' || !CONNECTION_MESSAGES.test(text)) return 'permanent'
  }
  if (name === 'MaxRetriesPerRequestError' || name === 'AbortError') return 'retryable'
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return 'retryable'
  if (CONNECTION_MESSAGES.test(text)) return 'retryable'
  // ioredis Cluster refuses its own (auto-)pipeline when the slot map changed between grouping and exec
  // (resharding, failover). Nothing was sent; a retry after the map refresh goes through.
  if (SLOT_MAP_CHANGED.test(text)) return 'retryable'
  if (/\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH)\b/.test(text)) return 'retryable'
  return 'permanent'
}

/** True for an error that a retry can fix (shorthand for `classifyRedisError(e) === 'retryable'`). */
export function isRetryableRedisError(error: unknown): boolean {
  return classifyRedisError(error) === 'retryable'
}

/** Replies that say "the slot map is changing", answered by a healthy node: retryable, but not sickness. */
const ROUTING_REPLY_CODES: ReadonlySet<string> = new Set(['MOVED', 'ASK', 'TRYAGAIN', 'CLUSTERDOWN'])

/**
 * True for a failure that says the node is sick (connection loss, timeouts, READONLY, LOADING …): what a
 * circuit breaker should count. Routing answers during resharding or failover (MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN, a refused pipeline) are retryable but come from healthy nodes; counting them would open the
 * circuit during every live reshard and turn redirects into fail-open misses.
 */
export function isNodeFailure(error: unknown): boolean {
  if (!isRetryableRedisError(error)) return false
  const reply = replyCode(error)
  if (reply !== undefined && ROUTING_REPLY_CODES.has(reply)) return false
  const text = String((error as { message?: unknown } | null)?.message ?? '')
  return !SLOT_MAP_CHANGED.test(text) && !/Too many Cluster redirections/.test(text)
}

/**
 * True when the error says "the master moved or went away": READONLY (we talk to a demoted replica),
 * MASTERDOWN, or a lost connection. Sentinel/Cluster stores react by re-resolving the master / topology.
 */
export function isFailoverSignal(error: unknown): boolean {
  const reply = replyCode(error)
  if (reply === 'READONLY' || reply === 'MASTERDOWN') return true
  if (reply !== undefined && reply !== 'ERR') return false
  if (error instanceof TierCacheError) return false
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true
  const text = typeof message === 'string' ? message : ''
  return /Connection is closed|Stream isn't writeable|socket hang up|ECONNREFUSED|ECONNRESET|EPIPE/i.test(
    text,
  )
}

/**
 * The error to hand to the caller for a fatal Redis error: a `TierCacheError` AUTH_FAILED (which the engine
 * passes through instead of failing open). Returns `undefined` when the error is not fatal.
 */
export function toFatalError(error: unknown, where = 'the remote tier'): TierCacheError | undefined {
  if (error instanceof TierCacheError) return error.fatal ? error : undefined
  if (classifyRedisError(error) !== 'fatal') return undefined
  const message = (error as Error)?.message ?? String(error)
  return new TierCacheError('AUTH_FAILED', `${where} rejected the credentials: ${message}`, { cause: error })
}
