import { type Cache, Cached, Invalidate } from '@tiercache/core'
import type { User, UserDatabase } from './user-database.js'

/**
 * The repository the HTTP handlers use. Reads go through the cache (L1 → remote tier → database); writes go
 * to the database first and then drop the cached copy, on this process and — through the invalidation bus —
 * on every other process sharing the backend.
 */
export class UserRepository {
  constructor(
    readonly cache: Cache,
    readonly db: UserDatabase,
  ) {}

  // `when` keeps "not found" (null) out of the cache, so a user created later is seen at once.
  @Cached({
    cache: (self) => self.cache,
    key: (id: string) => `user:${id}`,
    ttl: '5m',
    grace: '1h',
    tags: (id: string) => [`user:${id}`],
    when: (user: User | null) => user !== null,
  })
  async findById(id: string): Promise<User | null> {
    return this.db.find(id)
  }

  @Invalidate({ cache: (self) => self.cache, tags: (id: string) => [`user:${id}`] })
  async update(id: string, changes: { name?: string; email?: string }): Promise<User | null> {
    return this.db.update(id, changes)
  }
}
