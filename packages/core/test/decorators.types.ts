// Compile-time checks of the decorator types (standard decorators). Never run: `tsc` must accept every line
// and report an error on each line marked @ts-expect-error (an unused one fails the compile). Compiled by
// decorators.test.ts and by `pnpm run typecheck` (tsconfig.tests.json).
import { type Cache, Cached, Invalidate } from '@tiercache/core'

declare const cache: Cache

interface User {
  id: string
  name: string
}

export class Accepted {
  readonly cache: Cache = cache

  @Cached({ cache, key: (id: string) => `user:${id}`, ttl: '5m', tags: (id: string) => [`user:${id}`] })
  async getUser(_id: string): Promise<User> {
    return { id: '1', name: 'Ada' }
  }

  // A key function may take fewer parameters than the method.
  @Cached({ cache, key: (id: string) => `user:${id}`, when: (user: User | null) => user !== null })
  async findUser(_id: string, _includeDeleted: boolean): Promise<User | null> {
    return null
  }

  // Unannotated parameters are contextually typed.
  @Cached({ cache, key: (id: number) => `n:${id}`, tags: (id) => [`n:${id.toFixed(0)}`] })
  async byNumber(id: number): Promise<number> {
    return id
  }

  @Cached({ cache: (self: Accepted) => self.cache })
  async noKey(_a: string, _b: { x: number }): Promise<void> {}

  // Standard decorators infer `self` from the class.
  @Cached({ cache: (self) => self.cache, key: (id: string) => id })
  async inferredSelf(id: string): Promise<string> {
    return id
  }

  @Invalidate({ cache, tags: (id: string) => [`user:${id}`] })
  async renameUser(_id: string, _name: string): Promise<void> {}

  @Invalidate({ cache, tagsFromResult: (user: User, id: string) => [`user:${id}`, `name:${user.name}`] })
  async createUser(id: string): Promise<User> {
    return { id, name: '' }
  }

  @Cached({ cache })
  static async version(): Promise<string> {
    return '1'
  }
}

class Other {
  readonly other = true
  readonly cache: Cache = cache
}

export class Rejected {
  // @ts-expect-error the cache function is written for another class
  @Cached({ cache: (self: Other) => self.cache, key: (id: string) => id })
  async wrongSelf(id: string): Promise<string> {
    return id
  }

  // @ts-expect-error no such property on the instance (self is inferred as Rejected)
  @Cached({ cache: (self) => self.missing })
  async missingProperty(): Promise<void> {}

  // @ts-expect-error the key takes a number, the method a string
  @Cached({ cache, key: (id: number) => `user:${id}` })
  async getUser(_id: string): Promise<User | undefined> {
    return undefined
  }

  // @ts-expect-error the key needs a second argument the method does not have
  @Cached({ cache, key: (id: string, region: string) => `user:${id}:${region}` })
  async getOther(_id: string): Promise<User | undefined> {
    return undefined
  }

  // @ts-expect-error the tags function takes a number, the method a string
  @Invalidate({ cache, tags: (id: number) => [`user:${id}`] })
  async rename(_id: string, _name: string): Promise<void> {}

  // @ts-expect-error `when` expects a string result, the method resolves to a number
  @Cached({ cache, key: 'n', when: (result: string) => result !== '' })
  async count(): Promise<number> {
    return 1
  }

  // @ts-expect-error a cached method must return a Promise
  @Cached({ cache, key: 'sync' })
  compute(): number {
    return 1
  }

  // @ts-expect-error fields cannot be cached
  @Cached({ cache }) field = 1

  // @ts-expect-error misspelt option
  @Cached({ cache, tll: '5m' })
  async typo(): Promise<number> {
    return 1
  }
}
