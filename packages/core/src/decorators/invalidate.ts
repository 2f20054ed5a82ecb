import type { Cache } from '../create-cache.js'
import { describe } from '../duration.js'
import { assertDecoratorOptions, type CacheSource, resolveCache } from './cache-source.js'
import {
  type AnyMethod,
  type AsyncMethodDecorator,
  decorateMethod,
  isThenable,
  keepIdentity,
  type MethodTarget,
  misuse,
} from './decorator-kind.js'

/** One key (or tag) or several. */
export type OneOrMany = string | readonly string[]

/**
 * Options of `@Invalidate`: what to drop once the method succeeded. `keys`/`tags` are fixed or functions of
 * the arguments (the same functions `@Cached` takes, so one lambda can serve both); `keysFromResult` /
 * `tagsFromResult` also see the method's result, first: `(result, ...args)`. At least one is required.
 */
export interface InvalidateOptions<A extends unknown[] = any[], R = any, S = any> {
  /** The cache, or a function of the instance: `(self: UserService) => self.cache`. */
  cache: CacheSource<S>
  keys?: OneOrMany | ((...args: A) => OneOrMany)
  tags?: OneOrMany | ((...args: A) => OneOrMany)
  keysFromResult?: (result: R, ...args: A) => OneOrMany
  tagsFromResult?: (result: R, ...args: A) => OneOrMany
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'cache',
  'keys',
  'tags',
  'keysFromResult',
  'tagsFromResult',
])

type ArgsList = (...args: unknown[]) => OneOrMany
type ResultList = (result: unknown, ...args: unknown[]) => OneOrMany

interface InvalidateConfig {
  readonly cache: CacheSource
  readonly keys: OneOrMany | ArgsList | undefined
  readonly tags: OneOrMany | ArgsList | undefined
  readonly keysFromResult: ResultList | undefined
  readonly tagsFromResult: ResultList | undefined
}

/**
 * Invalidates keys and/or tags after a method succeeds:
 *
 * ```ts
 * @Invalidate({ cache, tags: (id: string) => [`user:${id}`] })
 * async renameUser(id: string, name: string): Promise<void> { … }
 * ```
 *
 * Order: the cache and the argument-based keys/tags are worked out first (so a mistake there fails before
 * the method has side effects), then the method runs; if it throws or rejects, nothing is invalidated and
 * the error reaches the caller unchanged. Otherwise the result-based keys/tags are worked out, the keys are
 * deleted and the tags invalidated (both awaited, so the caller's next read sees the change — an
 * invalidation the remote tier cannot take now is queued and replayed by the cache, not lost), and the
 * method's result is returned unchanged. Works with standard (TC39) decorators and `experimentalDecorators`;
 * the method must return a Promise.
 */
export function Invalidate<A extends unknown[] = any[], R = any, S = any>(
  options: InvalidateOptions<A, R, S>,
): AsyncMethodDecorator<A, R, S> {
  const config = validate(options as unknown as InvalidateOptions)
  return ((...args: unknown[]) =>
    decorateMethod('@Invalidate', args, (target) =>
      invalidatingMethod(target, config),
    )) as AsyncMethodDecorator<A, R, S>
}

function invalidatingMethod(target: MethodTarget, config: InvalidateConfig): AnyMethod {
  const { method } = target
  const where = `@Invalidate on ${target.className === undefined ? '' : `${target.className}.`}${String(target.propertyKey)}`
  const wrapper = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const cache = resolveCache(config.cache, this, where)
    const keys = list(config.keys, this, args, 'keys', where)
    const tags = list(config.tags, this, args, 'tags', where)
    const pending = method.apply(this, args)
    const result = await pending
    if (config.keysFromResult !== undefined)
      keys.push(
        ...list(config.keysFromResult.call(this, result, ...args), this, args, 'keysFromResult', where),
      )
    if (config.tagsFromResult !== undefined)
      tags.push(
        ...list(config.tagsFromResult.call(this, result, ...args), this, args, 'tagsFromResult', where),
      )
    await invalidate(cache, keys, tags)
    // Checked after invalidating: the side effects happened, so the cache must not keep what they changed.
    if (!isThenable(pending)) {
      throw misuse(
        `${where}: the method returned ${describe(pending)}, not a Promise; decorate only async methods ` +
          '(or methods that return a Promise)',
      )
    }
    return result
  }
  return keepIdentity(wrapper, method)
}

async function invalidate(cache: Cache, keys: string[], tags: string[]): Promise<void> {
  if (keys.length > 0 && tags.length > 0) await Promise.all([cache.delete(keys), cache.invalidateTags(tags)])
  else if (keys.length > 0) await cache.delete(keys)
  else if (tags.length > 0) await cache.invalidateTags(tags)
}

/** A keys/tags option evaluated for one call, as a fresh array of non-empty strings. */
function list(option: unknown, self: unknown, args: unknown[], name: string, where: string): string[] {
  if (option === undefined) return []
  const value = typeof option === 'function' ? (option as ArgsList).apply(self, args) : option
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? [...value] : undefined
  if (items === undefined || items.some((item) => typeof item !== 'string' || item === '')) {
    throw misuse(`${where}: ${name} must give a non-empty string or an array of them, got ${describe(value)}`)
  }
  return items as string[]
}

function validate(options: InvalidateOptions): InvalidateConfig {
  const cache = assertDecoratorOptions(
    options,
    '@Invalidate',
    '@Invalidate({ cache, keys?, tags? })',
    OPTION_NAMES,
  )
  const { keys, tags, keysFromResult, tagsFromResult } = options
  if (
    keys === undefined &&
    tags === undefined &&
    keysFromResult === undefined &&
    tagsFromResult === undefined
  )
    throw misuse(
      '@Invalidate needs keys, tags, keysFromResult or tagsFromResult: it has nothing to invalidate',
    )
  for (const [name, value] of [
    ['keys', keys],
    ['tags', tags],
  ] as const) {
    if (value !== undefined && typeof value !== 'function') list(value, undefined, [], name, '@Invalidate')
  }
  for (const [name, value] of [
    ['keysFromResult', keysFromResult],
    ['tagsFromResult', tagsFromResult],
  ] as const) {
    if (value !== undefined && typeof value !== 'function')
      throw misuse(`@Invalidate: ${name} must be a function (result, ...args) => keys`)
  }
  return {
    cache,
    keys: keys as InvalidateConfig['keys'],
    tags: tags as InvalidateConfig['tags'],
    keysFromResult: keysFromResult as InvalidateConfig['keysFromResult'],
    tagsFromResult: tagsFromResult as InvalidateConfig['tagsFromResult'],
  }
}
