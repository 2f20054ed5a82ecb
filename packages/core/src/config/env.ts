import { readFileSync } from 'node:fs'
import type { CacheOptions, L1Options, LoaderTimeouts } from '../create-cache.js'
import { parseDuration, parseTimeout, parseTtl } from '../duration.js'
import { type ErrorCode, isTierCacheError, TierCacheError } from '../errors.js'
import { assertNamespace } from '../keys.js'
import type { StoreOptions } from '../store/resolve-store.js'
import { parseStoreUrl, redactUrl } from './store-url.js'

/** The variables `cacheOptionsFromEnv` reads, after the prefix (default `TIERCACHE_`), and what they set. */
export const ENV_VARIABLES = {
  URL: 'store URL: memory://, redis://…, rediss://…, redis+sentinel://…, redis+cluster://… (default memory://)',
  USERNAME: 'store username (ACL user), kept out of the URL',
  PASSWORD: 'store password, kept out of the URL',
  TLS: 'true/false: TLS to the store (rediss:// turns it on already)',
  TLS_CA_FILE: 'path of a PEM file with the CA certificate(s) the store is verified against',
  NAMESPACE: 'key prefix of every entry',
  TTL: "default ttl of every write: ms or '500ms', '30s', '5m', '1h', '1d'",
  GRACE: 'default grace: how long past its ttl a value may be served when the loader or store fails',
  SOFT_TIMEOUT: 'default soft loader timeout (serve stale, refresh in the background)',
  HARD_TIMEOUT: 'default hard loader timeout (LOADER_TIMEOUT)',
  L1: 'true/false: the in-process tier on or off (default on)',
  L1_MAX: 'most entries in the in-process tier (default 10000)',
  L1_MAX_BYTES: 'bound on the summed encoded size of in-process entries, in bytes (default 64 MiB)',
  L1_TTL: 'how long the in-process tier answers before asking the store again (default 30s)',
  SERIALIZER: 'msgpack (default) or json',
  MAX_KEY_BYTES: 'longest key in UTF-8 bytes (default 4096)',
  MAX_VALUE_BYTES: 'largest encoded value in bytes (default 16777216, 16 MiB)',
  FENCE_TTL: "how long invalidation fences live; longer loads are not cached (default '1m')",
} as const

export type EnvVariable = keyof typeof ENV_VARIABLES

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])

/**
 * Cache options from environment variables, so a service swaps memory → redis → sentinel → cluster by
 * configuration alone: `createCache({ namespace: 'billing', ...cacheOptionsFromEnv() })`.
 *
 * Reads `<prefix>URL`, `<prefix>TTL`, … (table: {@link ENV_VARIABLES}); only the variables that are set (and
 * not empty) appear in the result, so it spreads over defaults written in code. Every value is validated
 * here: a bad one throws a TierCacheError whose message names the variable (the password is never echoed).
 * Other variables with the prefix are ignored (the testkit reads `TIERCACHE_REDIS_SERVER`, for instance).
 */
export function cacheOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  prefix = 'TIERCACHE_',
): CacheOptions {
  const read = (name: EnvVariable): string | undefined => {
    const value = env[prefix + name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const options: CacheOptions = {}

  const store = storeFromEnv(read, prefix)
  if (store !== undefined) options.store = store

  const namespace = read('NAMESPACE')
  if (namespace !== undefined) options.namespace = check(prefix, 'NAMESPACE', namespace, assertNamespace)
  const ttl = read('TTL')
  if (ttl !== undefined) options.ttl = check(prefix, 'TTL', ttl, (v) => parseTtl(v, prefix + 'TTL'))
  const grace = read('GRACE')
  if (grace !== undefined)
    options.grace = check(prefix, 'GRACE', grace, (v) => parseDuration(v, prefix + 'GRACE'))
  const fenceTtl = read('FENCE_TTL')
  if (fenceTtl !== undefined)
    options.fenceTtl = check(prefix, 'FENCE_TTL', fenceTtl, (v) => parseTtl(v, prefix + 'FENCE_TTL'))

  const timeouts: LoaderTimeouts = {}
  const soft = read('SOFT_TIMEOUT')
  if (soft !== undefined)
    timeouts.soft = check(prefix, 'SOFT_TIMEOUT', soft, (v) => parseTimeout(v, prefix + 'SOFT_TIMEOUT'))
  const hard = read('HARD_TIMEOUT')
  if (hard !== undefined)
    timeouts.hard = check(prefix, 'HARD_TIMEOUT', hard, (v) => parseTimeout(v, prefix + 'HARD_TIMEOUT'))
  if (soft !== undefined || hard !== undefined) options.timeouts = timeouts

  const l1 = l1FromEnv(read, prefix)
  if (l1 !== undefined) options.l1 = l1

  const serializer = read('SERIALIZER')
  if (serializer !== undefined) {
    if (serializer !== 'msgpack' && serializer !== 'json')
      throw envError('INVALID_OPTION', prefix, 'SERIALIZER', `must be msgpack or json, got '${serializer}'`)
    options.serializer = serializer
  }
  const maxKeyBytes = read('MAX_KEY_BYTES')
  if (maxKeyBytes !== undefined) options.maxKeyBytes = positiveInteger(prefix, 'MAX_KEY_BYTES', maxKeyBytes)
  const maxValueBytes = read('MAX_VALUE_BYTES')
  if (maxValueBytes !== undefined)
    options.maxValueBytes = positiveInteger(prefix, 'MAX_VALUE_BYTES', maxValueBytes)
  return options
}

function storeFromEnv(
  read: (name: EnvVariable) => string | undefined,
  prefix: string,
): string | StoreOptions | undefined {
  const url = read('URL')
  const username = read('USERNAME')
  const password = read('PASSWORD')
  const tls = read('TLS')
  const caFile = read('TLS_CA_FILE')
  if (url === undefined) {
    const orphan = (['USERNAME', 'PASSWORD', 'TLS', 'TLS_CA_FILE'] as const).find(
      (name) => read(name) !== undefined,
    )
    if (orphan !== undefined)
      throw envError(
        'INVALID_OPTION',
        prefix,
        orphan,
        `is set but ${prefix}URL is not; set the store URL too`,
      )
    return undefined
  }
  const parsed = check(prefix, 'URL', url, parseStoreUrl, redactUrl(url))
  const extras = username !== undefined || password !== undefined || tls !== undefined || caFile !== undefined
  if (!extras) return url
  if (parsed.scheme === 'memory')
    throw envError('INVALID_OPTION', prefix, 'URL', 'is memory://, which takes no username, password or TLS')
  const options: StoreOptions = { url }
  if (username !== undefined) options.username = username
  if (password !== undefined) options.password = password
  const tlsOn = tls === undefined ? undefined : bool(prefix, 'TLS', tls)
  if (caFile !== undefined) {
    if (tlsOn === false)
      throw envError('INVALID_OPTION', prefix, 'TLS_CA_FILE', `is set but ${prefix}TLS is false`)
    let ca: string
    try {
      ca = readFileSync(caFile, 'utf8')
    } catch (error) {
      throw envError(
        'INVALID_OPTION',
        prefix,
        'TLS_CA_FILE',
        `cannot be read: ${(error as Error).message}`,
        error,
      )
    }
    options.tls = { ca }
  } else if (tlsOn !== undefined) options.tls = tlsOn
  return options
}

function l1FromEnv(
  read: (name: EnvVariable) => string | undefined,
  prefix: string,
): false | L1Options | undefined {
  const on = read('L1')
  const max = read('L1_MAX')
  const maxBytes = read('L1_MAX_BYTES')
  const ttl = read('L1_TTL')
  if (on !== undefined && !bool(prefix, 'L1', on)) {
    const conflict = (['L1_MAX', 'L1_MAX_BYTES', 'L1_TTL'] as const).find((name) => read(name) !== undefined)
    if (conflict !== undefined)
      throw envError(
        'INVALID_OPTION',
        prefix,
        conflict,
        `is set but ${prefix}L1 turns the in-process tier off`,
      )
    return false
  }
  if (max === undefined && maxBytes === undefined && ttl === undefined) return undefined
  const l1: L1Options = {}
  if (max !== undefined) l1.max = positiveInteger(prefix, 'L1_MAX', max)
  if (maxBytes !== undefined) l1.maxBytes = positiveInteger(prefix, 'L1_MAX_BYTES', maxBytes)
  if (ttl !== undefined) l1.ttl = check(prefix, 'L1_TTL', ttl, (v) => parseTtl(v, prefix + 'L1_TTL'))
  return l1
}

/** Runs a validator; its TierCacheError is re-thrown with the same code and the variable's name in front. */
function check<T>(
  prefix: string,
  name: EnvVariable,
  value: string,
  parse: (value: string) => T,
  shown = value,
): T {
  try {
    return parse(value)
  } catch (error) {
    const code: ErrorCode = isTierCacheError(error) ? error.code : 'INVALID_OPTION'
    const reason = (error as Error)?.message ?? String(error)
    throw envError(code, prefix, name, `= '${shown}' is invalid: ${reason}`, error)
  }
}

function bool(prefix: string, name: EnvVariable, value: string): boolean {
  const lower = value.toLowerCase()
  if (TRUE.has(lower)) return true
  if (FALSE.has(lower)) return false
  throw envError(
    'INVALID_OPTION',
    prefix,
    name,
    `must be true or false (1/0, yes/no, on/off), got '${value}'`,
  )
}

function positiveInteger(prefix: string, name: EnvVariable, value: string): number {
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(number) || number <= 0)
    throw envError('INVALID_OPTION', prefix, name, `must be a positive integer, got '${value}'`)
  return number
}

function envError(code: ErrorCode, prefix: string, name: EnvVariable, reason: string, cause?: unknown) {
  return new TierCacheError(code, `environment variable ${prefix}${name} ${reason}`, { cause })
}
