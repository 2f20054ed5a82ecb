import { type Cache, type ErrorCode, isTierCacheError } from '@tiercache/core'
import { expect } from 'vitest'

/** A misconfigured store must not fail open: every operation rejects with `code`. */
export async function expectEveryOperationRejects(cache: Cache, code: ErrorCode): Promise<void> {
  for (const op of [
    () => cache.get('k'),
    () => cache.getOrSet('k', () => 'v'),
    () => cache.set('k', 'v'),
    () => cache.delete('k'),
  ]) {
    const error = await op().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isTierCacheError(error, code), `${op} rejects with ${code}`).toBe(true)
  }
}
