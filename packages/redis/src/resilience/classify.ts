import { TierCacheError } from '@tiercache/core'
import type { Redis } from 'ioredis'
import { scrubSecrets } from './secrets.js'

/**
 * How the resilience kit treats a failed Redis command:
 * - `retryable` — the server is (temporarily) unreachable or not serving: connection loss, timeouts,
 *   READONLY / LOADING / MASTERDOWN / TRYAGAIN / CLUSTERDOWN / MOVED / ASK, an open circuit. A retry,
 *   a reconnect or a failover can fix it; these count as breaker failures and make the engine fail open.
 * - `fatal` — misconfiguration (NOAUTH, WRONGPASS, an AUTH rejected by ACL; a TLS handshake that fails on
 *   the certificate or the protocol): retrying cannot fix it and failing open would hide it — an untrusted
 *   certificate may also be an interception. `toFatalError` turns it into `TierCacheError` AUTH_FAILED or
 *   TLS_FAILED. The sentinels refusing the password or the certificate is as fatal as a data node doing so.
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

/**
 * Node / OpenSSL error codes of a TLS handshake that only configuration fixes: the server's certificate is
 * not trusted (self-signed, unknown CA, expired, wrong purpose) or not for this host, or the port does not
 * speak TLS. Alerts from the server that refuse our certificate are matched by `TLS_ALERT_CODE`.
 */
export const TLS_ERROR_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
])

const TLS_ALERT_CODE =
  /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|ACCESS_DENIED)$/

/** The same failures by message, for errors that kept only the text (ioredis' sentinel "Last error: …"). */
const TLS_MESSAGES =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get (?:local )?issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames|wrong version number|alert (?:bad certificate|unknown ca|certificate required|certificate unknown)/i

/** ioredis Sentinel: every sentinel failed; what the last one said follows "Last error:". */
const SENTINELS_LAST_ERROR = /All sentinels are unreachable[\s\S]*?Last error: ([\s\S]+)$/

/** True for a TLS handshake failure that configuration has to fix (see `TLS_ERROR_CODES`). */
export function isTlsFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || error instanceof TierCacheError) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && (TLS_ERROR_CODES.has(code) || TLS_ALERT_CODE.test(code))) return true
  return typeof message === 'string' && TLS_MESSAGES.test(message)
}

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
  if (isTlsFailure(error)) return 'fatal'
  // Sentinels that all refuse our credentials are not "unreachable": that is misconfiguration.
  const lastSentinelError = SENTINELS_LAST_ERROR.exec(text)?.[1]
  if (lastSentinelError !== undefined && classifyRedisError(new Error(lastSentinelError)) === 'fatal')
    return 'fatal'
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
 * The error to hand to the caller for a fatal Redis error: a `TierCacheError` TLS_FAILED (the handshake
 * failed on the certificate or protocol) or AUTH_FAILED (credentials), which the engine passes through
 * instead of failing open. Returns `undefined` when the error is not fatal.
 */
export function toFatalError(error: unknown, where = 'the remote tier'): TierCacheError | undefined {
  // Every store passes each connection and command error through here first: the place to mask the
  // password ioredis copies into a rejected handshake's error (see scrubSecrets).
  scrubSecrets(error)
  if (error instanceof TierCacheError) return error.fatal ? error : undefined
  if (classifyRedisError(error) !== 'fatal') return undefined
  const message = (error as Error)?.message ?? String(error)
  const viaSentinels = SENTINELS_LAST_ERROR.test(message)
  const who = viaSentinels ? 'the sentinels' : where
  if (isTlsFailure(error))
    return new TierCacheError('TLS_FAILED', `TLS to ${who} failed: ${message}; ${tlsHint(message)}`, {
      cause: error,
    })
  const hint = viaSentinels ? ' (sentinelUsername / sentinelPassword)' : ''
  return new TierCacheError('AUTH_FAILED', `${who} rejected the credentials${hint}: ${message}`, {
    cause: error,
  })
}

/** True when the server rejected the credentials (AUTH_FAILED), from a data node or the sentinels. */
export function isAuthFailure(error: unknown): boolean {
  return toFatalError(error)?.code === 'AUTH_FAILED'
}

/**
 * Stops `client` from reconnecting once the server rejected its credentials (WRONGPASS, NOAUTH, an ACL
 * refusal): a retry cannot fix a wrong password, and reconnecting forever would send it again every
 * couple of seconds, for as long as the process runs (ACL LOG noise, failed-login alerts). The owner still
 * gets the error and reports AUTH_FAILED; fixed credentials need a new `createCache`. TLS failures keep
 * reconnecting: a certificate renewed on the server heals them. Call it before the owner adds its own
 * 'error' listener.
 */
export function haltOnAuthFailure<T extends Redis>(client: T): T {
  client.on('error', (error: unknown) => {
    if (isAuthFailure(error)) client.disconnect()
  })
  return client
}

/** What to change, from the failure's message (codes do not survive ioredis' sentinel wrapper). */
function tlsHint(message: string): string {
  if (/altnames/i.test(message))
    return 'the certificate is not for this host: connect by a name it lists or set tls.servername'
  if (/wrong version number/i.test(message))
    return 'the port does not speak TLS: use its tls-port, or a redis:// URL without tls'
  if (/expired|not yet valid/i.test(message)) return 'the server certificate is outside its validity period'
  if (/alert/i.test(message))
    return 'the server refused the client certificate: set tls.cert and tls.key to one its CA signed'
  return 'pass the CA that signed the server certificate as tls.ca (PEM)'
}
