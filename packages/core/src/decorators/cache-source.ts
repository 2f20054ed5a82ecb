import type { Cache } from '../create-cache.js'
import { describe } from '../duration.js'
import { misuse } from './decorator-kind.js'

/** Where a decorator finds its cache: a cache, or a function of the instance (`(self) => self.cache`). */
export type CacheSource<S = any> = Cache | ((self: S) => Cache)

export function isCache(value: unknown): value is Cache {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Cache).getOrSet === 'function' &&
    typeof (value as Cache).delete === 'function' &&
    typeof (value as Cache).invalidateTags === 'function'
  )
}

/**
 * Checks a decorator's options object and its option names, then returns its validated `cache` source:
 * a typo in an option name fails at class definition, not silently at the first call.
 */
export function assertDecoratorOptions(
  options: unknown,
  decorator: string,
  usage: string,
  known: ReadonlySet<string>,
): CacheSource {
  if (typeof options !== 'object' || options === null)
    throw misuse(`${decorator} takes an options object: ${usage}`)
  for (const name of Object.keys(options)) {
    if (!known.has(name))
      throw misuse(`${decorator}: unknown option '${name}' (known: ${[...known].join(', ')})`)
  }
  return assertCacheSource((options as { cache?: unknown }).cache, decorator)
}

/** Validates the `cache` option when the decorator is created (a typo fails at class definition). */
export function assertCacheSource(source: unknown, decorator: string): CacheSource {
  if (typeof source === 'function' || isCache(source)) return source as CacheSource
  throw misuse(
    `${decorator}: the cache option must be a cache from createCache() or a function (self) => cache, got ${describe(source)}`,
  )
}

/** The cache of one call: the instance's, for a function source. */
export function resolveCache(source: CacheSource, self: unknown, where: string): Cache {
  if (typeof source !== 'function') return source
  if (self === undefined || self === null) {
    throw misuse(
      `${where} was called without an instance, so its cache function has nothing to read; ` +
        'call it as a method or bind it (`this.method.bind(this)`)',
    )
  }
  const cache = source(self)
  if (!isCache(cache))
    throw misuse(`${where}: the cache function returned ${describe(cache)}, not a cache from createCache()`)
  return cache
}
