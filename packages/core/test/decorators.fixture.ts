// Classes decorated with standard (TC39) decorators. decorators.test.ts compiles this file with the project's
// own TypeScript settings (tsconfig.base.json: no experimentalDecorators) and runs the output, because the
// test runner's transformer cannot lower standard decorators.
import { type Cache, Cached, defaultKey, Invalidate } from '@tiercache/core'

export interface User {
  id: string
  name: string
  orgId: string
}

export function userServiceClass(cache: Cache) {
  class UserService {
    readonly db = new Map<string, User>([
      ['1', { id: '1', name: 'Ada', orgId: '7' }],
      ['2', { id: '2', name: 'Grace', orgId: '7' }],
    ])
    loads = 0
    failNext: Error | undefined

    @Cached({ cache, key: (id: string) => `user:${id}`, ttl: '5m', tags: (id: string) => [`user:${id}`] })
    async getUser(id: string): Promise<User | undefined> {
      this.loads++
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (this.failNext) throw this.failNext
      const user = this.db.get(id)
      return user && { ...user }
    }

    @Invalidate({ cache, tags: (id: string) => [`user:${id}`] })
    async renameUser(id: string, name: string): Promise<{ renamed: string }> {
      const user = this.db.get(id)
      if (!user) throw new Error(`no user ${id}`)
      user.name = name
      return { renamed: id }
    }

    @Invalidate({ cache, keys: (id: string) => `user:${id}` })
    async deleteUser(id: string): Promise<boolean> {
      return this.db.delete(id)
    }

    @Invalidate({
      cache,
      tagsFromResult: (user: User) => [`org:${user.orgId}`],
      keysFromResult: (user) => [`user:${user.id}`],
    })
    async moveUser(id: string, orgId: string): Promise<User> {
      const user = this.db.get(id)!
      user.orgId = orgId
      return user
    }

    @Cached({
      cache,
      key: (orgId: string) => `org-users:${orgId}`,
      tags: (orgId: string) => [`org:${orgId}`],
    })
    async usersOf(orgId: string): Promise<string[]> {
      this.loads++
      return [...this.db.values()].filter((u) => u.orgId === orgId).map((u) => u.id)
    }
  }
  return UserService
}

/** Default keys: no `key` option. */
export function catalogClass(cache: Cache) {
  class Catalog {
    calls: unknown[][] = []

    @Cached({ cache })
    async find(...args: unknown[]): Promise<number> {
      this.calls.push(args)
      return this.calls.length
    }

    @Cached({ cache, keyPrefix: 'catalog-v2.count' })
    async count(kind: string): Promise<number> {
      this.calls.push([kind])
      return kind.length
    }

    @Cached({ cache })
    static async version(major: number): Promise<string> {
      return `v${major}`
    }

    @Cached({ cache })
    async #secret(n: number): Promise<number> {
      return n * 2
    }

    secret(n: number): Promise<number> {
      return this.#secret(n)
    }
  }
  class SpecialCatalog extends Catalog {}
  return { Catalog, SpecialCatalog }
}

/** A cache per instance, through `(self) => self.cache`. */
export function tenantRepoClass() {
  class TenantRepo {
    loads = 0
    constructor(readonly cache: Cache) {}

    @Cached({ cache: (self: TenantRepo) => self.cache, key: (id: number) => `item:${id}` })
    async item(id: number): Promise<string> {
      this.loads++
      return `item ${id} of ${this.cache.namespacePath}`
    }

    @Invalidate({ cache: (self: TenantRepo) => self.cache, keys: (id: number) => [`item:${id}`] })
    async touch(_id: number): Promise<void> {}
  }
  return TenantRepo
}

/** `when`, `bypass`, grace and timeouts. */
export function conditionalClass(cache: Cache) {
  class Lookup {
    loads = 0
    fail = false
    delayMs = 0

    @Cached({ cache, key: (q: string) => `q:${q}`, when: (result: string | null) => result !== null })
    async search(q: string): Promise<string | null> {
      this.loads++
      await new Promise((resolve) => setTimeout(resolve, 20))
      return q.startsWith('missing') ? null : `found ${q}`
    }

    @Cached({
      cache,
      key: (id: string) => `fresh:${id}`,
      bypass: (_id: string, fresh?: boolean) => fresh === true,
    })
    async read(_id: string, _fresh?: boolean): Promise<number> {
      this.loads++
      return this.loads
    }

    @Cached({ cache, key: 'rate', ttl: '40ms', grace: '1h' })
    async rate(): Promise<number> {
      this.loads++
      if (this.fail) throw new Error('rates service down')
      return this.loads
    }

    @Cached({ cache, key: (id: string) => `slow:${id}`, timeouts: { hard: '30ms' } })
    async slow(id: string): Promise<string> {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs))
      return id
    }
  }
  return Lookup
}

/** Default keys of one cached method, for `@Invalidate` to drop them. */
export function reportClass(cache: Cache) {
  class Reports {
    loads = 0

    @Cached({ cache })
    async report(year: number, filter: { region: string; tags?: string[] }): Promise<string> {
      this.loads++
      return `${year}/${filter.region}#${this.loads}`
    }

    @Invalidate({
      cache,
      keys: (year: number, filter: { region: string }) => defaultKey('Reports.report', [year, filter]),
    })
    async refresh(_year: number, _filter: { region: string }): Promise<void> {}
  }
  return Reports
}

/** Methods that break the rules, for the DECORATOR_MISUSE checks (each class is defined when called). */
export const misuses = {
  field(cache: Cache) {
    class Bad {
      @(Cached({ cache }) as any) value = 1
    }
    return Bad
  },
  getter(cache: Cache) {
    class Bad {
      @(Cached({ cache }) as any) get value() {
        return 1
      }
    }
    return Bad
  },
  accessor(cache: Cache) {
    class Bad {
      @(Invalidate({ cache, keys: 'k' }) as any) accessor value = 1
    }
    return Bad
  },
  classDecorator(cache: Cache) {
    @(Cached({ cache }) as any)
    class Bad {}
    return Bad
  },
  generator(cache: Cache) {
    class Bad {
      @(Cached({ cache }) as any) async *values() {
        yield 1
      }
    }
    return Bad
  },
  syncMethod(cache: Cache) {
    class Bad {
      @(Cached({ cache, key: 'sync' }) as any) compute(): number {
        return 42
      }

      @(Invalidate({ cache, keys: 'sync' }) as any) reset(): number {
        return 7
      }
    }
    return Bad
  },
}
