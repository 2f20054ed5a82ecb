import { type Cache, Cached, Invalidate } from '@tiercache/core'
import { CACHE } from '../cache.provider.js'
import { Inject, Injectable } from '../di/container.js'
// biome-ignore lint/style/useImportType: emitDecoratorMetadata needs the class itself for constructor injection
import { type Profile, UsersRepository } from './users.repository.js'

/**
 * A NestJS-style provider. The cache is injected; the decorators reach it through `(self) => self.cache`
 * (under experimentalDecorators `self` must be annotated), so the class needs no module-level cache.
 */
@Injectable()
export class UsersService {
  constructor(
    @Inject(CACHE) readonly cache: Cache,
    readonly users: UsersRepository,
  ) {}

  @Cached({
    cache: (self: UsersService) => self.cache,
    key: (id: number) => `profile:${id}`,
    tags: (id: number) => [`user:${id}`],
    ttl: '5m',
  })
  async profile(id: number): Promise<Profile | undefined> {
    return this.users.findOne(id)
  }

  // No `key`: the default key is `UsersService.byPlan:"pro"`. Tagged so any plan change drops it.
  @Cached({ cache: (self: UsersService) => self.cache, tags: ['plans'] })
  async byPlan(plan: Profile['plan']): Promise<number[]> {
    return (await this.users.findByPlan(plan)).map((profile) => profile.id)
  }

  @Invalidate({ cache: (self: UsersService) => self.cache, tags: (id: number) => [`user:${id}`, 'plans'] })
  async changePlan(id: number, plan: Profile['plan']): Promise<Profile> {
    return this.users.updatePlan(id, plan)
  }
}
