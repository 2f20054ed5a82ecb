import { type Cache, createCache, MemoryStore, TierCacheError } from '@tiercache/core'
import { expect } from 'vitest'

/** A cache on a private MemoryStore, with the store at hand to inspect what was (not) written. */
export function setupMemoryCache(options: Parameters<typeof createCache>[0] = {}): {
  store: MemoryStore
  cache: Cache
} {
  const store = new MemoryStore()
  return { store, cache: createCache({ store, ...options }) }
}

/** The TierCacheError a promise rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<TierCacheError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TierCacheError)
  return error as TierCacheError
}
