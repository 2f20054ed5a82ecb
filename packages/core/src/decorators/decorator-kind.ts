import { describe } from '../duration.js'
import { TierCacheError } from '../errors.js'

/** Any method: what both decorator modes wrap. */
export type AnyMethod = (this: any, ...args: any[]) => any

/**
 * Compile-time check that the option functions (key, tags, when, …) can be called with the decorated
 * method's arguments. `A` is what the option functions declare; `P` the method's parameters. A key function
 * may take fewer parameters than the method (`(id) => …` on `rename(id, name)`), never other types or more
 * required ones. When it fails, the decorator's second argument gets a property it cannot have, and the
 * compiler names this check in its error.
 */
export type ArgsMatch<A extends unknown[], P extends unknown[]> = [(...args: A) => unknown] extends [
  (...args: P) => unknown,
]
  ? unknown
  : { readonly 'the parameters of key/tags/when do not match the decorated method': A }

/**
 * The type of `@Cached(…)` and `@Invalidate(…)`: a decorator of methods that return a Promise, accepted by
 * TypeScript in both modes. The first signature is the standard (TC39) one, `(value, context)`; the second is
 * `experimentalDecorators`' `(target, propertyKey, descriptor)`. `R` is the awaited result the options
 * expect, `S` the class instance (or, on a static method, the class) that a `cache: (self) => …` function
 * receives. Under standard decorators TypeScript infers `S` from the decorated class, so `(self) => self.cache`
 * needs no annotation; under `experimentalDecorators` annotate it (`(self: UserService) => self.cache`).
 */
export interface AsyncMethodDecorator<A extends unknown[], R, S> {
  <M extends (...args: any[]) => PromiseLike<R>>(
    value: M,
    context: ClassMethodDecoratorContext<S, M> & ArgsMatch<A, Parameters<M>>,
  ): M
  <M extends (...args: any[]) => PromiseLike<R>>(
    target: NoInfer<S>,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<M> & ArgsMatch<A, Parameters<M>>,
  ): TypedPropertyDescriptor<M>
}

/** The method being decorated, the same in both modes. */
export interface MethodTarget {
  readonly method: AnyMethod
  readonly propertyKey: string | symbol
  readonly isStatic: boolean
  readonly isPrivate: boolean
  /** The declaring class's name when the mode tells it at decoration time (legacy), else found at call time. */
  readonly className: string | undefined
}

interface StandardContext {
  kind: string
  name: string | symbol
  static?: boolean
  private?: boolean
}

/**
 * Applies `wrap` to the decorated method in whichever mode the decorator was called, telling the modes apart
 * by their arguments: TC39 passes `(value, context)` with `context.kind`; legacy passes
 * `(target, propertyKey, descriptor)`. Anything else (a field, an accessor, a class, a parameter) is a
 * DECORATOR_MISUSE error at class definition time.
 */
export function decorateMethod(
  decorator: string,
  args: readonly unknown[],
  wrap: (target: MethodTarget) => AnyMethod,
): unknown {
  const [first, second, third] = args
  if (args.length === 2 && isStandardContext(second)) {
    const where = `${decorator} on ${String(second.name)}`
    if (second.kind !== 'method')
      throw misuse(`${where}: only methods can be decorated, not a ${second.kind}`)
    const method = assertPlainMethod(first, where)
    return wrap({
      method,
      propertyKey: second.name,
      isStatic: second.static === true,
      isPrivate: second.private === true,
      className: undefined,
    })
  }
  if (args.length === 3 && (typeof second === 'string' || typeof second === 'symbol')) {
    const isStatic = typeof first === 'function'
    const className = isStatic
      ? (first as { name?: string }).name
      : (first as { constructor?: { name?: string } } | null)?.constructor?.name
    const where = `${decorator} on ${className ?? 'a class'}.${String(second)}`
    if (typeof third === 'number') throw misuse(`${where}: parameters cannot be decorated`)
    const descriptor = third as PropertyDescriptor | undefined
    if (descriptor === undefined || typeof descriptor !== 'object')
      throw misuse(`${where}: only methods can be decorated, not a property`)
    if (descriptor.get !== undefined || descriptor.set !== undefined)
      throw misuse(`${where}: only methods can be decorated, not an accessor`)
    const method = assertPlainMethod(descriptor.value, where)
    const wrapped = wrap({ method, propertyKey: second, isStatic, isPrivate: false, className })
    return { ...descriptor, value: wrapped }
  }
  if (args.length === 1 && typeof first === 'function')
    throw misuse(`${decorator} decorates methods, not the class ${first.name}`)
  throw misuse(
    `${decorator} was called with ${args.length} argument(s) (${args.map(describe).join(', ')}), which is ` +
      'neither a standard method decorator call nor an experimentalDecorators one; write it as `@' +
      `${decorator.slice(1)}({ … })\` on a method`,
  )
}

/** Gives the wrapper the original's name and length, so stack traces and frameworks see the method. */
export function keepIdentity(wrapper: AnyMethod, original: AnyMethod): AnyMethod {
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true })
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true })
  return wrapper
}

/**
 * The name of the class that declares `wrapper` as `propertyKey`, found from a call's `this`: the owner in
 * the prototype chain, so a subclass instance still uses the declaring class's name (and its cache entries).
 */
export function declaringClassName(self: unknown, target: MethodTarget, wrapper: AnyMethod): string {
  if (target.className !== undefined) return target.className
  if (self !== null && (typeof self === 'object' || typeof self === 'function')) {
    if (!target.isPrivate) {
      for (let owner: object | null = self; owner !== null; owner = Object.getPrototypeOf(owner)) {
        if (Object.getOwnPropertyDescriptor(owner, target.propertyKey)?.value === wrapper) {
          const name = target.isStatic
            ? (owner as { name?: unknown }).name
            : (owner as { constructor?: { name?: unknown } }).constructor?.name
          if (typeof name === 'string' && name !== '') return name
        }
      }
    }
    // Private methods live on no prototype: the instance's class is the best name there is.
    const name = target.isStatic
      ? (self as { name?: unknown }).name
      : (self as { constructor?: { name?: unknown } }).constructor?.name
    if (typeof name === 'string' && name !== '') return name
  }
  return 'anonymous'
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

export function misuse(message: string): TierCacheError {
  return new TierCacheError('DECORATOR_MISUSE', message)
}

function isStandardContext(value: unknown): value is StandardContext {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as StandardContext).kind === 'string' &&
    'name' in value
  )
}

function assertPlainMethod(value: unknown, where: string): AnyMethod {
  if (typeof value !== 'function') throw misuse(`${where}: the decorated member is not a function`)
  const tag = Object.prototype.toString.call(value)
  if (tag === '[object GeneratorFunction]' || tag === '[object AsyncGeneratorFunction]')
    throw misuse(`${where}: generator methods cannot be cached or invalidated; return a Promise instead`)
  return value as AnyMethod
}
