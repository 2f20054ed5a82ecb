// Bootstraps the providers (like NestFactory.createApplicationContext), drives the service a little and
// prints what the cache did. `TIERCACHE_URL=redis://127.0.0.1:6379 node dist/main.js` runs it on Redis.
import { appProviders } from './app.module.js'
import { Container } from './di/container.js'
import { UsersRepository } from './users/users.repository.js'
import { UsersService } from './users/users.service.js'

const app = new Container(appProviders)
const service = app.get<UsersService>(UsersService)
const repository = app.get<UsersRepository>(UsersRepository)

const first = await service.profile(1)
console.log(`profile(1)            → ${first?.name} (${first?.plan}), queries so far: ${repository.queries}`)
await service.profile(1)
await service.profile(1)
console.log(`profile(1) × 2 more   → cached, queries so far: ${repository.queries}`)
console.log(
  `byPlan('pro')         → [${(await service.byPlan('pro')).join(', ')}], queries so far: ${repository.queries}`,
)
await service.byPlan('pro')
console.log(`byPlan('pro') again   → cached, queries so far: ${repository.queries}`)
const changed = await service.changePlan(2, 'pro')
console.log(`changePlan(2, 'pro')  → ${changed.name} is ${changed.plan}; tags user:2 and plans invalidated`)
console.log(
  `byPlan('pro')         → [${(await service.byPlan('pro')).join(', ')}], queries so far: ${repository.queries}`,
)
await app.close()
console.log('closed.')
