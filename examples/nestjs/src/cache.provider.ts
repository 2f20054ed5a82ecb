import { type Cache, cacheOptionsFromEnv, createCache } from '@tiercache/core'
import type { Provider } from './di/container.js'

/** Injection token of the cache, as a Nest app would export it from a CacheModule. */
export const CACHE = Symbol('tiercache')

/**
 * The cache provider: backend and defaults from TIERCACHE_* variables (TIERCACHE_URL=redis://… etc.), so the
 * same build runs on memory://, Redis, Sentinel or Cluster. In NestJS: `{ provide: CACHE, useFactory }` in a
 * module, and `onModuleDestroy` / `app.enableShutdownHooks()` closing it.
 */
export const cacheProvider: Provider = {
  provide: CACHE,
  useFactory: (): Cache => createCache({ namespace: 'nest-example', ttl: '10m', ...cacheOptionsFromEnv() }),
  onClose: (cache: Cache) => cache.close(),
}
