// Compile-time checks under experimentalDecorators (the same rules as ../decorators.types.ts under standard
// decorators). Compiled, never run: every @ts-expect-error line must be an error.
import { type Cache, Cached, Invalidate } from '@tiercache/core'

declare const cache: Cache

export class Accepted {
  readonly cache: Cache = cache

  @Cached({ cache, key: (id: string) => `user:${id}`, tags: (id: string) => [`user:${id}`] })
  async getUser(id: string): Promise<string> {
    return id
  }

  @Cached({ cache: (self: Accepted) => self.cache, key: (id: string) => id })
  async viaSelf(id: string, _page: number): Promise<string> {
    return id
  }

  @Invalidate({ cache, tags: (id: string) => [`user:${id}`] })
  async renameUser(_id: string, _name: string): Promise<void> {}

  @Cached({ cache })
  static async version(): Promise<string> {
    return '1'
  }
}

export class Rejected {
  // @ts-expect-error the key takes a number, the method a string
  @Cached({ cache, key: (id: number) => `user:${id}` })
  async getUser(id: string): Promise<string> {
    return id
  }

  // @ts-expect-error the key needs a second argument the method does not have
  @Cached({ cache, key: (id: string, region: string) => `${id}:${region}` })
  async getOther(id: string): Promise<string> {
    return id
  }

  // @ts-expect-error the tags function takes a number, the method a string
  @Invalidate({ cache, tags: (id: number) => [`user:${id}`] })
  async rename(_id: string, _name: string): Promise<void> {}

  // @ts-expect-error a cached method must return a Promise
  @Cached({ cache, key: 'sync' })
  compute(): number {
    return 1
  }
}
