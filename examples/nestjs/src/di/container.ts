import { getMetadata } from './reflect-metadata.js'

// A miniature of NestJS's dependency injection: @Injectable() classes get their constructor parameters from
// the types TypeScript emits (`design:paramtypes`), @Inject(token) overrides one, and a module lists its
// providers. Just enough to show where @Cached/@Invalidate sit in a Nest provider.

type Constructor<T = unknown> = new (...args: any[]) => T
export type Token = Constructor | string | symbol
export type Provider =
  | Constructor
  | { provide: Token; useFactory: () => unknown; onClose?: (value: any) => unknown }

const injectTokens = new WeakMap<object, Map<number, Token>>()
const injectables = new WeakSet<object>()

/** Marks a class as a provider, like `@Injectable()` from @nestjs/common. */
export function Injectable(): ClassDecorator {
  return (target) => {
    injectables.add(target)
  }
}

/** Injects by token instead of by type, like `@Inject(TOKEN)` from @nestjs/common. */
export function Inject(token: Token): ParameterDecorator {
  return (target, _property, index) => {
    let tokens = injectTokens.get(target)
    if (!tokens) {
      tokens = new Map()
      injectTokens.set(target, tokens)
    }
    tokens.set(index, token)
  }
}

/** Resolves providers once each (singletons) and closes factory providers that asked for it. */
export class Container {
  readonly #providers = new Map<Token, Provider>()
  readonly #instances = new Map<Token, unknown>()

  constructor(providers: readonly Provider[]) {
    for (const provider of providers)
      this.#providers.set(typeof provider === 'function' ? provider : provider.provide, provider)
  }

  get<T>(token: Token): T {
    if (this.#instances.has(token)) return this.#instances.get(token) as T
    const provider = this.#providers.get(token)
    if (provider === undefined)
      throw new Error(`no provider for ${String(typeof token === 'function' ? token.name : token)}`)
    let instance: unknown
    if (typeof provider === 'function') {
      if (!injectables.has(provider)) throw new Error(`${provider.name} is not @Injectable()`)
      const types = getMetadata<Token[]>('design:paramtypes', provider) ?? []
      const tokens = injectTokens.get(provider)
      instance = new provider(...types.map((type, i) => this.get(tokens?.get(i) ?? type)))
    } else {
      instance = provider.useFactory()
    }
    this.#instances.set(token, instance)
    return instance as T
  }

  async close(): Promise<void> {
    for (const [token, provider] of this.#providers) {
      if (typeof provider !== 'function' && provider.onClose && this.#instances.has(token))
        await provider.onClose(this.#instances.get(token))
    }
  }
}
