import type { Cache } from '@tiercache/core'
import { expect } from 'vitest'

/** ready() settles within `ms` (no hang); the rejection (or undefined). */
export async function readyOutcome(cache: Cache, ms = 5_000): Promise<unknown> {
  const t0 = Date.now()
  const outcome = await cache.ready().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(Date.now() - t0).toBeLessThan(ms)
  return outcome
}
