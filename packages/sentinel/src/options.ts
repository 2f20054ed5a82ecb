import type { ConnectionOptions } from 'node:tls'
import type { ParsedStoreUrl, StoreConfig } from '@tiercache/core'
import { redactUrl, TierCacheError } from '@tiercache/core'
import {
  CONSISTENCY_PARAMS,
  type Consistency,
  integerOption,
  resolveConsistency,
  TUNING_DEFAULTS,
} from '@tiercache/redis'
import type { RedisOptions } from 'ioredis'

/** A sentinel address. */
export interface SentinelAddress {
  readonly host: string
  readonly port: number
}

/** See `Consistency` in `@tiercache/redis` (shared with the Cluster store). */
export type { Consistency }

/** The options form: `createCache({ store: { type: 'sentinel', sentinels, name, … } })`. */
export interface SentinelStoreOptions {
  readonly type?: 'sentinel'
  /** Sentinels to ask for the master; one reachable sentinel is enough. */
  readonly sentinels: readonly SentinelAddress[]
  /** The master group name (`sentinel monitor <name> …`). */
  readonly name: string
  /** `'master'` (default) or `'replica'`: serve reads from a replica, with the master as fallback. */
  readonly role?: 'master' | 'replica'
  /** ACL user / password of the data nodes. */
  readonly username?: string
  readonly password?: string
  /** ACL user / password of the sentinels themselves (`requirepass` on the sentinels). */
  readonly sentinelUsername?: string
  readonly sentinelPassword?: string
  /** TLS to the data nodes: Node TLS options, or true for default verification. */
  readonly tls?: boolean | ConnectionOptions
  /** TLS to the sentinels; defaults to `tls`. */
  readonly sentinelTls?: boolean | ConnectionOptions
  readonly db?: number
  /** See {@link Consistency}. Default `'async'`. */
  readonly consistency?: Consistency
  /** `WAIT` for this many replicas under `consistency: 'replicated'` (default 1). */
  readonly waitReplicas?: number
  /** How long one `WAIT` may block (default 500 ms); not reached → the invalidation is retried. */
  readonly waitTimeoutMs?: number
  /** Learn further sentinels from the ones given (SENTINEL SENTINELS). Default true. */
  readonly updateSentinels?: boolean
  /** TCP connect timeout to a data node or sentinel (default 1000 ms). */
  readonly connectTimeoutMs?: number
  /** How long one sentinel may take to answer before the next is asked (default 500 ms). */
  readonly sentinelCommandTimeoutMs?: number
  /** How long `set`/`setMany` wait for the master before returning; the write keeps retrying. Default 250. */
  readonly writeWaitMs?: number
  /** How long invalidations wait before reporting `queued` (they keep retrying, then replay). Default 750. */
  readonly invalidationWaitMs?: number
  /**
   * After a failover, everything this process wrote within this many ms is invalidated again on the new
   * master (writes the old master acknowledged may be lost). ≥ down-after + failover time. Default 10 000.
   */
  readonly failoverWindowMs?: number
  /**
   * With `role: 'replica'`: keys written or invalidated (here or, through the bus, elsewhere) within this
   * many ms are read from the master, since a replica may not have the change yet. Default 2 000.
   */
  readonly replicaLagWindowMs?: number
  /** Everything else (timeouts, deadlines, breaker: see `RedisStoreOptions`) tunes the Redis store. */
  readonly [option: string]: unknown
}

/** The options after defaults, URL and options form merged. */
export interface ResolvedSentinelOptions {
  readonly sentinels: readonly SentinelAddress[]
  readonly name: string
  readonly role: 'master' | 'replica'
  readonly username: string | undefined
  readonly password: string | undefined
  readonly sentinelUsername: string | undefined
  readonly sentinelPassword: string | undefined
  readonly tls: ConnectionOptions | undefined
  readonly sentinelTls: ConnectionOptions | undefined
  readonly db: number
  readonly consistency: Consistency
  readonly waitReplicas: number
  readonly waitTimeoutMs: number
  readonly updateSentinels: boolean
  readonly connectTimeoutMs: number
  readonly sentinelCommandTimeoutMs: number
  readonly writeWaitMs: number
  readonly invalidationWaitMs: number
  readonly failoverWindowMs: number
  readonly replicaLagWindowMs: number
  /** Options not consumed here, for the underlying Redis store. */
  readonly rest: Readonly<Record<string, unknown>>
}

/** Sentinel options that may also be given as URL query parameters. */
const SENTINEL_URL_OPTIONS = [
  'writeWaitMs',
  'invalidationWaitMs',
  'failoverWindowMs',
  'replicaLagWindowMs',
  'role',
  'sentinelPassword',
  'sentinelUsername',
  'sentinelTls',
  'db',
  ...CONSISTENCY_PARAMS,
  'updateSentinels',
]

/** Query parameters of a sentinel URL: ours, plus the Redis store's tuning (`commandTimeoutMs`, …). */
const URL_PARAMS = new Set([...Object.keys(TUNING_DEFAULTS), ...SENTINEL_URL_OPTIONS])

/** Options this module reads; the rest goes to the Redis store. */
const CONSUMED = new Set([
  ...SENTINEL_URL_OPTIONS,
  'url',
  'parsed',
  'type',
  'sentinels',
  'name',
  'username',
  'password',
  'tls',
  'connectTimeoutMs',
  'sentinelCommandTimeoutMs',
  'ioredis',
])

/**
 * Reads a `StoreConfig` (URL `redis+sentinel://…` parsed by core, and/or the options form) into resolved
 * options. Explicit options win over URL parts. Misconfiguration throws a `TierCacheError`.
 */
export function resolveSentinelOptions(config: StoreConfig): ResolvedSentinelOptions {
  const parsed = config.parsed as ParsedStoreUrl | undefined
  const o = config as Partial<SentinelStoreOptions>
  const params = parsed?.params ?? {}
  const shown = parsed ? `'${redact(String(config.url ?? parsed.scheme))}'` : 'the sentinel store options'
  for (const key of Object.keys(params)) {
    if (!URL_PARAMS.has(key))
      throw invalid(parsed, `unknown parameter '${key}' in ${shown}; known: ${[...URL_PARAMS].join(', ')}`)
  }

  const sentinels = o.sentinels ?? parsed?.hosts
  if (!Array.isArray(sentinels) || sentinels.length === 0)
    throw invalid(parsed, `${shown} needs at least one sentinel ({ host, port })`)
  for (const s of sentinels) {
    if (
      typeof s?.host !== 'string' ||
      s.host === '' ||
      !Number.isInteger(s.port) ||
      s.port < 1 ||
      s.port > 65535
    )
      throw invalid(parsed, `bad sentinel address ${JSON.stringify(s)} in ${shown}`)
  }
  const name = o.name ?? parsed?.path
  if (typeof name !== 'string' || name === '')
    throw invalid(parsed, `${shown} needs the master group name (name, or the URL path /mymaster)`)

  const roleText = o.role ?? params.role ?? 'master'
  const role = roleText === 'slave' ? 'replica' : roleText
  if (role !== 'master' && role !== 'replica')
    throw invalid(parsed, `role must be 'master' or 'replica', got '${roleText}' in ${shown}`)

  const tls = toTls(o.tls ?? (parsed?.tls ? true : undefined))
  const sentinelTlsOption = o.sentinelTls ?? bool(params.sentinelTls, 'sentinelTls', parsed)
  const sentinelTls = sentinelTlsOption === undefined ? tls : toTls(sentinelTlsOption)

  const consistency = resolveConsistency(o, params, (message) => invalid(parsed, `${message} in ${shown}`))

  return {
    sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
    name,
    role,
    username: o.username ?? parsed?.username,
    password: o.password ?? parsed?.password,
    sentinelUsername: o.sentinelUsername ?? params.sentinelUsername,
    sentinelPassword: o.sentinelPassword ?? params.sentinelPassword,
    tls,
    sentinelTls,
    db: int(o.db ?? params.db, 0, 'db', parsed, 0),
    ...consistency,
    updateSentinels: o.updateSentinels ?? bool(params.updateSentinels, 'updateSentinels', parsed) ?? true,
    connectTimeoutMs: int(o.connectTimeoutMs, 1_000, 'connectTimeoutMs', parsed, 1),
    sentinelCommandTimeoutMs: int(o.sentinelCommandTimeoutMs, 500, 'sentinelCommandTimeoutMs', parsed, 1),
    writeWaitMs: int(o.writeWaitMs ?? params.writeWaitMs, 250, 'writeWaitMs', parsed, 0),
    failoverWindowMs: int(
      o.failoverWindowMs ?? params.failoverWindowMs,
      10_000,
      'failoverWindowMs',
      parsed,
      0,
    ),
    replicaLagWindowMs: int(
      o.replicaLagWindowMs ?? params.replicaLagWindowMs,
      2_000,
      'replicaLagWindowMs',
      parsed,
      0,
    ),
    invalidationWaitMs: int(
      o.invalidationWaitMs ?? params.invalidationWaitMs,
      750,
      'invalidationWaitMs',
      parsed,
      0,
    ),
    rest: Object.fromEntries(Object.entries(config).filter(([key]) => !CONSUMED.has(key))),
  }
}

/** Hooks the store plugs into every connection it opens. */
export interface ConnectionHooks {
  /** ioredis `reconnectOnError`: 2 = reconnect (re-resolving the master) and resend the command. */
  readonly reconnectOnError: (error: Error) => boolean | 1 | 2
  /** Delay before the next round over all sentinels once every one of them failed. */
  readonly sentinelRetryStrategy: (attempt: number) => number
  /** Delay before reconnecting to the (re-resolved) data node. */
  readonly retryStrategy: (attempt: number) => number
}

/**
 * The ioredis options of one Sentinel-managed connection. `role` is the ioredis role: `'slave'` resolves a
 * replica through `SENTINEL REPLICAS`, `'master'` through `get-master-addr-by-name` (and ioredis checks the
 * role the node reports after connecting, so a stale sentinel answer is retried rather than used).
 */
export function toIoredisOptions(
  options: ResolvedSentinelOptions,
  role: 'master' | 'slave',
  hooks: ConnectionHooks,
): RedisOptions {
  return {
    sentinels: options.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: options.name,
    role,
    db: options.db,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.sentinelUsername !== undefined ? { sentinelUsername: options.sentinelUsername } : {}),
    ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
    ...(options.tls !== undefined ? { tls: options.tls, enableTLSForSentinelMode: true } : {}),
    ...(options.sentinelTls !== undefined ? { sentinelTLS: options.sentinelTls } : {}),
    // ioredis' own +switch-master detector is OFF on purpose: in ioredis 6, when the switch is announced
    // while the connection is reconnecting (the master was killed), it aborts that reconnect and leaves the
    // connection in status 'end' for good (measured in test/failover.test.ts). Our FailoverDetector
    // subscribes once per store and drops the connections that are still on the old master instead.
    failoverDetector: false,
    updateSentinels: options.updateSentinels,
    connectTimeout: options.connectTimeoutMs,
    sentinelCommandTimeout: options.sentinelCommandTimeoutMs,
    sentinelRetryStrategy: hooks.sentinelRetryStrategy,
    retryStrategy: hooks.retryStrategy,
    reconnectOnError: hooks.reconnectOnError,
  }
}

/** Node TLS options from `true` | options | undefined. */
function toTls(value: boolean | ConnectionOptions | undefined): ConnectionOptions | undefined {
  if (value === undefined || value === false) return undefined
  return value === true ? {} : value
}

function bool(
  text: string | undefined,
  name: string,
  parsed: ParsedStoreUrl | undefined,
): boolean | undefined {
  if (text === undefined) return undefined
  if (text === 'true' || text === '1') return true
  if (text === 'false' || text === '0') return false
  throw invalid(parsed, `${name} must be true or false, got '${text}'`)
}

function int(
  value: unknown,
  fallback: number,
  name: string,
  parsed: ParsedStoreUrl | undefined,
  min: number,
): number {
  return integerOption(value, fallback, name, min, (message) => invalid(parsed, message))
}

function invalid(parsed: ParsedStoreUrl | undefined, message: string): TierCacheError {
  return new TierCacheError(parsed ? 'INVALID_URL' : 'INVALID_OPTION', `@tiercache/sentinel: ${message}`)
}

/** core's redactUrl masks the data-node password; the sentinel password sits in the query. */
function redact(url: string): string {
  return redactUrl(url).replace(/(sentinelPassword=)[^&]*/, '$1***')
}
