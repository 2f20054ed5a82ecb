// @Cached / @Invalidate under experimentalDecorators (+ emitDecoratorMetadata), as NestJS-style code bases
// compile them. ../decorators-legacy.test.ts compiles this folder with `tsc -p` and runs the output with
// node; every check prints `ok - <name>`, a failure prints `not ok - <name>: <error>` and exits 1.
import assert from 'node:assert/strict'
import { type Cache, Cached, createCache, Invalidate, isTierCacheError } from '@tiercache/core'

const cache = createCache({ store: 'memory://legacy-decorators', namespace: 'legacy' })

class UserRepository {
  loads = 0
  readonly names = new Map([['1', 'Ada']])

  @Cached({ cache, key: (id: string) => `user:${id}`, ttl: '1m', tags: (id: string) => [`user:${id}`] })
  async getUser(id: string): Promise<string | undefined> {
    this.loads++
    return this.names.get(id)
  }

  @Invalidate({ cache, tags: (id: string) => [`user:${id}`] })
  async rename(id: string, name: string): Promise<{ ok: true }> {
    if (!this.names.has(id)) throw new Error(`no user ${id}`)
    this.names.set(id, name)
    return { ok: true }
  }

  @Cached({ cache })
  async search(query: { text: string; limit?: number }, page: number): Promise<string> {
    this.loads++
    return `${query.text}/${page}`
  }

  @Cached({ cache })
  static async schemaVersion(): Promise<number> {
    return 3
  }

  @Cached({ cache, key: (id: string) => `maybe:${id}`, when: (name: string | null) => name !== null })
  async maybe(id: string): Promise<string | null> {
    this.loads++
    return this.names.get(id) ?? null
  }

  computeSync(): number {
    return 1
  }
}

class AdminRepository extends UserRepository {}

class TenantService {
  loads = 0
  constructor(readonly cache: Cache) {}

  @Cached({ cache: (self: TenantService) => self.cache, key: (id: number) => `t:${id}` })
  async item(id: number): Promise<string> {
    this.loads++
    return `${this.cache.namespacePath}:${id}`
  }
}

const checks: Array<[string, () => Promise<void>]> = [
  [
    'cached method loads once',
    async () => {
      const repo = new UserRepository()
      assert.equal(await repo.getUser('1'), 'Ada')
      assert.equal(await repo.getUser('1'), 'Ada')
      assert.equal(repo.loads, 1)
      assert.equal(await cache.get('user:1'), 'Ada')
    },
  ],
  [
    'concurrent calls share one load',
    async () => {
      const repo = new UserRepository()
      await cache.delete('user:1')
      const results = await Promise.all(Array.from({ length: 50 }, () => repo.getUser('1')))
      assert.ok(results.every((name) => name === 'Ada'))
      assert.equal(repo.loads, 1)
    },
  ],
  [
    'invalidate runs the method, then drops the tag, and returns the result',
    async () => {
      const repo = new UserRepository()
      await repo.getUser('1')
      const result = await repo.rename('1', 'Lovelace')
      assert.deepEqual(result, { ok: true })
      assert.equal(await cache.get('user:1'), undefined)
      assert.equal(await repo.getUser('1'), 'Lovelace')
    },
  ],
  [
    'a failing method invalidates nothing',
    async () => {
      const repo = new UserRepository()
      await cache.set('user:2', 'cached', { tags: ['user:2'] })
      await assert.rejects(repo.rename('2', 'x'), /no user 2/)
      assert.equal(await cache.get('user:2'), 'cached')
    },
  ],
  [
    'default key is ClassName.method plus the encoded arguments',
    async () => {
      const repo = new UserRepository()
      await repo.search({ limit: 5, text: 'ada' }, 2)
      assert.equal(await cache.get('UserRepository.search:{"limit":5,"text":"ada"},2'), 'ada/2')
      await repo.search({ text: 'ada', limit: 5 }, 2)
      assert.equal(repo.loads, 1)
      // A subclass shares the declaring class's entries.
      const admin = new AdminRepository()
      assert.equal(await admin.search({ text: 'ada', limit: 5 }, 2), 'ada/2')
      assert.equal(admin.loads, 0)
    },
  ],
  [
    'static methods',
    async () => {
      assert.equal(await UserRepository.schemaVersion(), 3)
      assert.equal(await cache.get('UserRepository.schemaVersion:'), 3)
    },
  ],
  [
    'when keeps rejected results out of the cache',
    async () => {
      const repo = new UserRepository()
      assert.equal(await repo.maybe('404'), null)
      assert.equal(await repo.maybe('404'), null)
      assert.equal(repo.loads, 2)
      assert.equal(await cache.get('maybe:404'), undefined)
    },
  ],
  [
    'cache as a function of the instance',
    async () => {
      const a = new TenantService(cache.namespace('a'))
      const b = new TenantService(cache.namespace('b'))
      assert.equal(await a.item(1), 'legacy:a:1')
      assert.equal(await b.item(1), 'legacy:b:1')
      assert.equal(await a.item(1), 'legacy:a:1')
      assert.equal(a.loads + b.loads, 2)
    },
  ],
  [
    'unencodable arguments reject with KEY_ENCODING_FAILED',
    async () => {
      const repo = new UserRepository()
      await assert.rejects(repo.search({ text: 'x', limit: (() => 1) as unknown as number }, 1), (error) =>
        isTierCacheError(error, 'KEY_ENCODING_FAILED'),
      )
    },
  ],
  [
    'misuse is reported when the class is defined',
    async () => {
      const misuse = (error: unknown) => isTierCacheError(error, 'DECORATOR_MISUSE')
      assert.throws(() => {
        class Field {
          @(Cached({ cache }) as any) value = 1
        }
        return Field
      }, misuse)
      assert.throws(() => {
        class Getter {
          @(Invalidate({ cache, keys: 'k' }) as any)
          get value() {
            return 1
          }
        }
        return Getter
      }, misuse)
      assert.throws(() => {
        @(Cached({ cache }) as any)
        class Whole {}
        return Whole
      }, misuse)
      // A parameter decorator call, as experimentalDecorators emits it: (target, key, index).
      assert.throws(() => (Cached({ cache }) as any)(UserRepository.prototype, 'getUser', 0), misuse)
    },
  ],
  [
    'a sync method rejects with DECORATOR_MISUSE',
    async () => {
      const descriptor = Object.getOwnPropertyDescriptor(UserRepository.prototype, 'computeSync')!
      const wrapped = (Cached({ cache, key: 'sync' }) as any)(
        UserRepository.prototype,
        'computeSync',
        descriptor,
      )
      await assert.rejects(wrapped.value.call(new UserRepository()), (error) =>
        isTierCacheError(error, 'DECORATOR_MISUSE'),
      )
    },
  ],
  [
    'wrapped methods keep their name',
    async () => {
      assert.equal(UserRepository.prototype.getUser.name, 'getUser')
    },
  ],
]

let failed = 0
for (const [name, check] of checks) {
  try {
    await check()
    console.log(`ok - ${name}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}: ${(error as Error)?.stack ?? error}`)
  }
}
await cache.close()
console.log(failed === 0 ? `legacy decorators: all ${checks.length} checks passed` : `${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
