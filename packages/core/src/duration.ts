import { type ErrorCode, TierCacheError } from './errors.js'

/** A duration: milliseconds as a number, or a string such as '500ms', '30s', '5m', '1h', '1d'. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/

// Per-call options ('1m' on every getOrSet) repeat a handful of strings: parsing each once keeps the regex
// off the L1-hit path (it was most of a hit's cost). Bounded: emptied when full.
const PARSED = new Map<string, number>()
const PARSED_MAX = 256

/**
 * Longest duration: an integer number of ms that every store can be given (Redis refuses a PX such as
 * `1e+308`, so a bigger ttl would be written to L1 only). 2^53 - 1 ms is some 285,000 years.
 */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER
/** Longest loader timeout: Node's timers fire after 1 ms for anything above 2^31 - 1 ms (24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

/** Parses a duration into milliseconds; `undefined` for anything that is not a finite, non-negative duration. */
function toMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value >= 0 && value <= MAX_DURATION_MS ? value : undefined
  if (typeof value !== 'string') return undefined
  const known = PARSED.get(value)
  if (known !== undefined) return known
  const match = DURATION_PATTERN.exec(value)
  if (!match) return undefined
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!
  if (!(ms <= MAX_DURATION_MS)) return undefined
  if (PARSED.size >= PARSED_MAX) PARSED.clear()
  PARSED.set(value, ms)
  return ms
}

/** A ttl: strictly positive. Throws INVALID_TTL naming the option. */
export function parseTtl(value: unknown, option = 'ttl'): number {
  const ms = toMs(value)
  if (ms === undefined || ms <= 0) {
    throw new TierCacheError(
      'INVALID_TTL',
      `${option} must be a positive duration (ms or '30s'), got ${describe(value)}`,
    )
  }
  return ms
}

/** A non-negative duration (grace, timeouts). Throws INVALID_DURATION naming the option. */
export function parseDuration(value: unknown, option: string, code: ErrorCode = 'INVALID_DURATION'): number {
  const ms = toMs(value)
  if (ms === undefined) {
    throw new TierCacheError(
      code,
      `${option} must be a non-negative duration (ms or '30s'), got ${describe(value)}`,
    )
  }
  return ms
}

/** A loader timeout: a duration that a Node timer can wait (at most 2^31 - 1 ms). Throws INVALID_DURATION. */
export function parseTimeout(value: unknown, option: string): number {
  const ms = parseDuration(value, option)
  if (ms > MAX_TIMEOUT_MS)
    throw new TierCacheError(
      'INVALID_DURATION',
      `${option} must be at most ${MAX_TIMEOUT_MS} ms (24.8 days; Node timers cannot wait longer), got ${describe(value)}`,
    )
  return ms
}

/** Parses an optional duration, returning `fallback` when it is undefined. */
export function optionalDuration(value: unknown, option: string, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value, option)
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  return Object.prototype.toString.call(value)
}
