import type { Cache, GetOrSetOptions, LoaderTimeouts } from '../create-cache.js'
import { type Duration, describe, parseDuration, parseTimeout, parseTtl } from '../duration.js'
import { assertDecoratorOptions, type CacheSource, resolveCache } from './cache-source.js'
import {
  type AnyMethod,
  type AsyncMethodDecorator,
  declaringClassName,
  decorateMethod,
  isThenable,
  keepIdentity,
  type MethodTarget,
  misuse,
} from './decorator-kind.js'
import { defaultKey } from './default-key.js'

/**
 * Options of `@Cached`. `A` is the argument list the option functions take (checked against the decorated
 * method), `R` the method's awaited result as `when` sees it, `S` the instance type of a `cache` function.
 */
export interface CachedOptions<A extends unknown[] = any[], R = any, S = any> {
  /** The cache, or a function of the instance: `(self: UserService) => self.cache`. */
  cache: CacheSource<S>
  /**
   * The cache key: a function of the method's arguments (called with the instance as `this`), or a fixed
   * string for a method without arguments. Default: `ClassName.method:` + a stable encoding of the arguments
   * (see `encodeArgs`).
   */
  key?: string | ((...args: A) => string)
  /** Replaces `ClassName.method` in default keys — set it where class names are minified or not unique. */
  keyPrefix?: string
  /** Time to live of a stored result (default: the cache's `ttl`). */
  ttl?: Duration
  /** How long past its ttl a result may still be served when the method (or the remote tier) fails. */
  grace?: Duration
  /** Soft / hard timeouts of the method call, as in `getOrSet`. */
  timeouts?: LoaderTimeouts
  /** Tags of the stored result, fixed or a function of the arguments. */
  tags?: readonly string[] | ((...args: A) => readonly string[])
  /**
   * Decides after the call whether this result is stored: `false` returns it to the caller (and to every
   * concurrent caller of the same key) without storing it. E.g. `when: (user) => user !== null` keeps
   * "not found" out of the cache. `undefined` results are never stored, whatever `when` says.
   */
  when?: (result: R, ...args: A) => boolean
  /**
   * Decides before the call whether to skip the cache entirely: `true` calls the method directly, without
   * reading or writing the cache. E.g. `bypass: (id, opts) => opts?.fresh === true`.
   */
  bypass?: (...args: A) => boolean
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'cache',
  'key',
  'keyPrefix',
  'ttl',
  'grace',
  'timeouts',
  'tags',
  'when',
  'bypass',
])

interface CachedConfig {
  readonly cache: CacheSource
  readonly key: string | ((...args: unknown[]) => string) | undefined
  readonly keyPrefix: string | undefined
  readonly tags: ((...args: unknown[]) => readonly string[]) | undefined
  readonly when: ((result: unknown, ...args: unknown[]) => boolean) | undefined
  readonly bypass: ((...args: unknown[]) => boolean) | undefined
  /** The getOrSet options that do not depend on the call (shared, so a hit allocates none). */
  readonly options: GetOrSetOptions
}

/**
 * Caches a method's result through `cache.getOrSet`, so single-flight, grace, timeouts and tags apply:
 *
 * ```ts
 * class UserService {
 *   @Cached({ cache, key: (id: string) => `user:${id}`, ttl: '5m', tags: (id: string) => [`user:${id}`] })
 *   async getUser(id: string): Promise<User> { … }
 * }
 * ```
 *
 * Works with standard (TC39) decorators and with `experimentalDecorators`. The method must return a Promise
 * (a compile error otherwise; at run time a method that returns something else rejects with
 * DECORATOR_MISUSE), since a cached call may have to wait for the remote tier. Errors of the method reach
 * the caller unchanged and are never cached. Misused (on a field, accessor, class, parameter, generator, or
 * with bad options) it throws DECORATOR_MISUSE when the class is defined.
 */
export function Cached<A extends unknown[] = any[], R = any, S = any>(
  options: CachedOptions<A, R, S>,
): AsyncMethodDecorator<A, R, S> {
  const config = validate(options as unknown as CachedOptions)
  return ((...args: unknown[]) =>
    decorateMethod('@Cached', args, (target) => cachedMethod(target, config))) as AsyncMethodDecorator<
    A,
    R,
    S
  >
}

function cachedMethod(target: MethodTarget, config: CachedConfig): AnyMethod {
  const { method } = target
  const methodName = String(target.propertyKey)
  let keyName =
    config.keyPrefix ?? (target.className === undefined ? undefined : `${target.className}.${methodName}`)
  const call = (self: unknown, args: unknown[]): PromiseLike<unknown> => {
    const result = method.apply(self, args)
    if (isThenable(result)) return result
    throw misuse(
      `@Cached on ${keyName ?? methodName}: the method returned ${describe(result)}, not a Promise; ` +
        'cache only async methods (or methods that return a Promise)',
    )
  }
  const wrapper = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    if (config.bypass?.apply(this, args) === true) return call(this, args)
    const cache = resolveCache(config.cache, this, `@Cached on ${keyName ?? methodName}`)
    let key: string
    if (typeof config.key === 'function') key = config.key.apply(this, args)
    else if (config.key !== undefined) key = config.key
    else {
      keyName ??= `${declaringClassName(this, target, wrapper)}.${methodName}`
      key = defaultKey(keyName, args)
      // A prefix found from a private method's instance may be a subclass; look again next time.
      if (target.isPrivate && config.keyPrefix === undefined && target.className === undefined)
        keyName = undefined
    }
    const options =
      config.tags === undefined ? config.options : { ...config.options, tags: config.tags.apply(this, args) }
    if (config.when === undefined) return cache.getOrSet(key, () => call(this, args), options)
    return loadUnless(cache, key, options, config.when, this, args, call)
  }
  return keepIdentity(wrapper, method)
}

/** Results that `when` kept out of the cache, per cache and key, shared with the call's concurrent joiners. */
const conditionalFlights = new WeakMap<Cache, Map<string, Promise<unknown>>>()

/**
 * getOrSet for a method with `when`: a rejected result is handed to the engine as `undefined` (which it
 * returns without storing), and the real result goes to every concurrent caller of the key through a flight
 * of our own — the engine's single-flight would give joiners that `undefined`.
 */
function loadUnless(
  cache: Cache,
  key: string,
  options: GetOrSetOptions,
  when: (result: unknown, ...args: unknown[]) => boolean,
  self: unknown,
  args: unknown[],
  call: (self: unknown, args: unknown[]) => PromiseLike<unknown>,
): Promise<unknown> {
  let flights = conditionalFlights.get(cache)
  if (flights === undefined) {
    flights = new Map()
    conditionalFlights.set(cache, flights)
  }
  const flying = flights.get(key)
  if (flying !== undefined) return flying
  let kept: { value: unknown } | undefined
  const flight = cache
    .getOrSet(
      key,
      async () => {
        const result = await call(self, args)
        if (result === undefined || when.call(self, result, ...args)) return result
        kept = { value: result }
        return undefined
      },
      options,
    )
    .then((value) => (kept === undefined ? value : kept.value))
  const map = flights
  map.set(key, flight)
  const land = () => {
    if (map.get(key) === flight) map.delete(key)
  }
  flight.then(land, land)
  return flight
}

function validate(options: CachedOptions): CachedConfig {
  const cache = assertDecoratorOptions(
    options,
    '@Cached',
    '@Cached({ cache, key?, ttl?, tags?, … })',
    OPTION_NAMES,
  )
  const { key, keyPrefix, tags, when, bypass } = options
  if (key !== undefined && typeof key !== 'function' && (typeof key !== 'string' || key === ''))
    throw misuse(
      `@Cached: key must be a function of the arguments or a non-empty string, got ${describe(key)}`,
    )
  if (keyPrefix !== undefined && (typeof keyPrefix !== 'string' || keyPrefix === ''))
    throw misuse(`@Cached: keyPrefix must be a non-empty string, got ${describe(keyPrefix)}`)
  if (when !== undefined && typeof when !== 'function') throw misuse('@Cached: when must be a function')
  if (bypass !== undefined && typeof bypass !== 'function') throw misuse('@Cached: bypass must be a function')
  if (tags !== undefined && typeof tags !== 'function' && !Array.isArray(tags))
    throw misuse('@Cached: tags must be an array of strings or a function of the arguments')
  // Durations are checked now, so a bad ttl fails when the class is defined, not on the first miss.
  const loadOptions: { -readonly [K in keyof GetOrSetOptions]: GetOrSetOptions[K] } = {}
  if (options.ttl !== undefined) {
    parseTtl(options.ttl, '@Cached ttl')
    loadOptions.ttl = options.ttl
  }
  if (options.grace !== undefined) {
    parseDuration(options.grace, '@Cached grace')
    loadOptions.grace = options.grace
  }
  if (options.timeouts !== undefined) {
    if (typeof options.timeouts !== 'object' || options.timeouts === null)
      throw misuse('@Cached: timeouts must be { soft?, hard? }')
    if (options.timeouts.soft !== undefined) parseTimeout(options.timeouts.soft, '@Cached timeouts.soft')
    if (options.timeouts.hard !== undefined) parseTimeout(options.timeouts.hard, '@Cached timeouts.hard')
    loadOptions.timeouts = options.timeouts
  }
  if (Array.isArray(tags)) loadOptions.tags = tags
  return {
    cache,
    key: key as CachedConfig['key'],
    keyPrefix,
    tags: typeof tags === 'function' ? (tags as CachedConfig['tags']) : undefined,
    when: when as CachedConfig['when'],
    bypass: bypass as CachedConfig['bypass'],
    options: loadOptions,
  }
}
