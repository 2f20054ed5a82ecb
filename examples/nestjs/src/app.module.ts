import { cacheProvider } from './cache.provider.js'
import type { Provider } from './di/container.js'
import { UsersRepository } from './users/users.repository.js'
import { UsersService } from './users/users.service.js'

/** The equivalent of `@Module({ providers: [cacheProvider, UsersRepository, UsersService] })`. */
export const appProviders: Provider[] = [cacheProvider, UsersRepository, UsersService]
