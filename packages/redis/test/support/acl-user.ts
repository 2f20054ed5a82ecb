import { type CacheOptions, createCache } from '@tiercache/core'
import { expect } from 'vitest'

/**
 * What an ACL user limited to its namespace must be able to do through `store`: connect, write with a tag,
 * read through getOrSet (fences), invalidate the tag — with no error event on the way.
 */
export async function expectServesNamespace(store: CacheOptions['store'], namespace: string): Promise<void> {
  const cache = createCache({ store, namespace })
  const errors: unknown[] = []
  cache.on('error', (e) => errors.push(e.error))
  try {
    await cache.ready()
    await cache.set('k', 'v', { tags: ['t'] })
    expect(await cache.getOrSet('k', () => 'loader')).toBe('v')
    expect((await cache.invalidateTags('t')).status).toBe('applied')
    expect(await cache.get('k')).toBeUndefined()
    expect(errors).toEqual([])
  } finally {
    await cache.close()
  }
}
