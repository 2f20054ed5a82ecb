/**
 * Every error tiercache raises itself is a `TierCacheError` with a stable `code`. The codes, what causes
 * them and what to do, live in this one table so docs and tests can enumerate them.
 */
export const ErrorCodes = {
  INVALID_KEY:
    'A key is not a non-empty string (or uses the reserved `__tc:` prefix). Pass a non-empty string key.',
  KEY_TOO_LONG:
    'A key is longer than `maxKeyBytes` (default 4096) in UTF-8. Hash long keys or raise the limit.',
  VALUE_TOO_LARGE:
    'An encoded value is larger than `maxValueBytes` (default 16 MiB). Stored bytes over the limit are never decoded (a miss, reported as `DESERIALIZE_FAILED`).',
  INVALID_TTL:
    'A ttl is not a positive duration. Use milliseconds (> 0) or a string like 500ms, 30s, 5m, 1h, 1d.',
  INVALID_DURATION: 'A duration option (grace, timeouts, l1.ttl, …) is malformed or negative.',
  INVALID_OPTION: 'An option has the wrong type or value; the message names it.',
  INVALID_NAMESPACE: 'A namespace is empty, contains `:`-only segments or uses the reserved `__tc` name.',
  SERIALIZE_FAILED: 'The serializer could not encode the value (a function, a symbol, a cycle with JSON, …).',
  DESERIALIZE_FAILED:
    'Bytes in the store could not be decoded (corrupt or written by a foreign client). Reported as an event; the read is a miss.',
  INVALID_URL: 'The store URL is malformed (bad host list, port, or missing sentinel master name).',
  UNKNOWN_SCHEME:
    'The store URL scheme is not one of memory, redis, rediss, valkey, valkeys, redis+sentinel, rediss+sentinel, valkey+sentinel, redis+cluster, rediss+cluster, valkey+cluster.',
  ADAPTER_MISSING: 'The store URL needs an adapter package that is not installed; the message names it.',
  ADAPTER_INVALID: 'The adapter package loaded but does not export `createStore`.',
  AUTH_FAILED: 'The remote tier rejected the credentials (NOAUTH / WRONGPASS / ACL). Fix username/password.',
  TLS_FAILED:
    'The TLS handshake with the remote tier (or the sentinels) failed on configuration: the server certificate is not trusted (self-signed, unknown CA, expired) or not for this host/servername, the server refused the client certificate, or it answered in plain text.',
  STORE_UNAVAILABLE:
    'The remote tier could not be reached within its deadline. Reads fail open; this code appears in events.',
  CIRCUIT_OPEN:
    'The circuit breaker is open after repeated remote failures; calls skip the remote tier until a probe succeeds.',
  COMMAND_TIMEOUT: 'A remote command took longer than its timeout.',
  CLUSTER_NOT_READY: 'The cluster answered but is not serving (cluster_state:fail, slots uncovered).',
  LOADER_TIMEOUT: 'The loader ran past its hard timeout (`timeouts.hard`) and no stale value was at hand.',
  CLOSED: 'The cache was used after `close()`.',
  DECORATOR_MISUSE: 'A decorator was applied to something it does not support, or its options are wrong.',
  KEY_ENCODING_FAILED:
    'A decorated method argument cannot be encoded into a default key (function, symbol, cycle).',
} as const

export type ErrorCode = keyof typeof ErrorCodes

/**
 * Codes that mean "misconfigured", not "sick": from a store, these reject operations instead of failing
 * open. Bad store options are only seen when the adapter loads (after `createCache` returned), so an
 * adapter's INVALID_OPTION / INVALID_URL must be as loud as a missing adapter.
 */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ADAPTER_MISSING',
  'ADAPTER_INVALID',
  'AUTH_FAILED',
  'TLS_FAILED',
  'INVALID_OPTION',
  'INVALID_URL',
  'UNKNOWN_SCHEME',
])

export class TierCacheError extends Error {
  override readonly name = 'TierCacheError'
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  /** True when the error means the configuration is wrong, so failing open would hide it. */
  get fatal(): boolean {
    return FATAL_CODES.has(this.code)
  }
}

export function isTierCacheError(error: unknown, code?: ErrorCode): error is TierCacheError {
  return error instanceof TierCacheError && (code === undefined || error.code === code)
}

/** A misconfiguration error (missing adapter, bad credentials, an untrusted certificate) that must reach the caller. */
export function isFatalError(error: unknown): boolean {
  return error instanceof TierCacheError && error.fatal
}
