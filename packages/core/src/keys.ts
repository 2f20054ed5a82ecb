import { TierCacheError } from './errors.js'
import { hashPart } from './keyspace/key-slot.js'

/** Reserved sub-prefix of every namespace for tiercache's own metadata (tag generations, the bus channel). */
export const RESERVED_SEGMENT = '__tc'
export const RESERVED_PREFIX = `${RESERVED_SEGMENT}:`
export const DEFAULT_MAX_KEY_BYTES = 4096

/**
 * Throws unless `key` is a non-empty string of at most `maxBytes` UTF-8 bytes outside the reserved prefix.
 * Hot path: a key of `maxBytes / 3` UTF-16 units or fewer cannot exceed `maxBytes` in UTF-8, so the byte
 * count (which walks the string) is only taken for long keys.
 */
export function assertKey(key: unknown, maxBytes: number): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TierCacheError('INVALID_KEY', `a key must be a non-empty string, got ${keyDescription(key)}`)
  }
  if (key.length * 3 > maxBytes && Buffer.byteLength(key, 'utf8') > maxBytes) {
    throw new TierCacheError(
      'KEY_TOO_LONG',
      `key is ${Buffer.byteLength(key, 'utf8')} bytes, the limit is ${maxBytes}`,
    )
  }
  // A lone surrogate has no UTF-8 form: Redis would get U+FFFD, so '\ud800' and '\udc00' would be one key.
  if (!isWellFormed(key)) throw new TierCacheError('INVALID_KEY', 'a key must not contain a lone surrogate')
  if (key.charCodeAt(0) === 95 /* _ */ && key.startsWith(RESERVED_PREFIX)) {
    throw new TierCacheError(
      'INVALID_KEY',
      `keys starting with '${RESERVED_PREFIX}' are reserved for tiercache metadata`,
    )
  }
}

function keyDescription(key: unknown): string {
  if (key === '') return 'an empty string'
  return key === null ? 'null' : typeof key
}

/** Validates a namespace name and returns it. */
export function assertNamespace(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.split(':').some((part) => part === '')) {
    throw new TierCacheError(
      'INVALID_NAMESPACE',
      `a namespace must be a non-empty string without empty ':' segments`,
    )
  }
  // A half-open hash tag would make Redis Cluster hash the namespace prefix together with part of each key,
  // and tiercache's fence keys (docs/consistency.md) could not share their value key's slot.
  if (name.includes('{') && hashPart(name) === name) {
    throw new TierCacheError(
      'INVALID_NAMESPACE',
      `a '{' in a namespace must open a non-empty hash tag closed in the same namespace ('{tenant}')`,
    )
  }
  if (!isWellFormed(name))
    throw new TierCacheError('INVALID_NAMESPACE', 'a namespace must not contain a lone surrogate')
  if (name.split(':').includes(RESERVED_SEGMENT)) {
    throw new TierCacheError('INVALID_NAMESPACE', `'${RESERVED_SEGMENT}' is reserved for tiercache metadata`)
  }
  return name
}

/** String.prototype.isWellFormed (Node 20+, not in the ES2023 lib): no lone surrogates. O(1) for one-byte strings. */
export function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
}
