import { createCache } from '@tiercache/core'
import { describe, expect, it } from 'vitest'

// Store options are only read when the adapter loads, after createCache returned: a bad one must still be
// loud (reject every operation), never a silent fail-open miss.
describe('bad store options are fatal, not failed open', () => {
  it.each([
    ['redis://127.0.0.1:1?commandTimeoutMs=abc', 'INVALID_OPTION'],
    ['redis://127.0.0.1:1?batchSize=-5', 'INVALID_OPTION'],
    ['redis://127.0.0.1:1?comandTimeoutMs=5', 'INVALID_URL'],
    ['redis+cluster://127.0.0.1:1?readDeadlineMs=-1', 'INVALID_OPTION'],
    ['redis+cluster://127.0.0.1:1?scaleread=slave', 'INVALID_URL'],
    ['redis+sentinel://127.0.0.1:1/mymaster?bogus=1', 'INVALID_URL'],
  ])('%s rejects get, set and ready with %s', async (url, code) => {
    const cache = createCache({ store: url })
    await expect(cache.get('k')).rejects.toMatchObject({ name: 'TierCacheError', code })
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code })
    await expect(cache.getOrSet('k', () => 1)).rejects.toMatchObject({ code })
    await expect(cache.ready()).rejects.toMatchObject({ code })
    await cache.close()
  })
})

describe('memory:// parameters are checked when the cache is created', () => {
  it.each(['memory://x?max=abc', 'memory://x?max=0', 'memory://x?maxx=5'])('%s throws INVALID_URL', (url) => {
    expect(() => createCache({ store: url })).toThrow(expect.objectContaining({ code: 'INVALID_URL' }))
  })
})
