import { createCache, parseDuration, parseTtl, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { uniqueName } from './support/test-store.js'

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(TierCacheError)
    return (error as TierCacheError).code
  }
  return undefined
}

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
    [250, 250],
    [0.5, 0.5],
  ])('parseTtl(%j) is %d ms', (input, ms) => {
    expect(parseTtl(input)).toBe(ms)
  })

  it.each([
    0,
    -1,
    -0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '0s',
    '0ms',
    '',
    '30',
    's',
    '5 minutes',
    '-5m',
    '5M',
    '1w',
    '1e3ms',
    null,
    true,
    {},
    [],
  ])('parseTtl rejects %s with INVALID_TTL', (input) => {
    expect(codeOf(() => parseTtl(input))).toBe('INVALID_TTL')
  })

  it('parseTtl names the option in its message', () => {
    expect(() => parseTtl('soon', 'l1.ttl')).toThrow(/l1\.ttl.*"soon"/)
  })

  it('parseDuration accepts 0 (grace and timeouts may be zero) and rejects negatives with INVALID_DURATION', () => {
    expect(parseDuration(0, 'grace')).toBe(0)
    expect(parseDuration('0s', 'grace')).toBe(0)
    expect(parseDuration('2h', 'grace')).toBe(7_200_000)
    for (const bad of [-1, 'x', '1y', Number.NaN, Number.NEGATIVE_INFINITY, null, {}]) {
      expect(codeOf(() => parseDuration(bad, 'grace'))).toBe('INVALID_DURATION')
    }
  })
})

describe('durations at the API', () => {
  const store = () => `memory://${uniqueName('dur')}`

  it('createCache throws INVALID_TTL for a bad default ttl, synchronously', () => {
    for (const ttl of [0, -5, '5 min', 'forever', Number.NaN]) {
      expect(codeOf(() => createCache({ store: store(), ttl: ttl as never }))).toBe('INVALID_TTL')
    }
  })

  it('createCache throws INVALID_DURATION for bad grace and timeouts, INVALID_TTL for a bad l1.ttl', () => {
    expect(codeOf(() => createCache({ store: store(), grace: -1 }))).toBe('INVALID_DURATION')
    expect(codeOf(() => createCache({ store: store(), grace: 'long' as never }))).toBe('INVALID_DURATION')
    expect(codeOf(() => createCache({ store: store(), timeouts: { soft: -1 } }))).toBe('INVALID_DURATION')
    expect(codeOf(() => createCache({ store: store(), timeouts: { hard: '1x' as never } }))).toBe(
      'INVALID_DURATION',
    )
    expect(codeOf(() => createCache({ store: store(), l1: { ttl: 0 } }))).toBe('INVALID_TTL')
  })

  it('string and number ttls write the same expiry', async () => {
    const cache = createCache({ store: store(), l1: false })
    const before = Date.now()
    await cache.set('a', 1, { ttl: '1h' })
    await cache.set('b', 1, { ttl: 3_600_000 })
    expect(await cache.get('a')).toBe(1)
    expect(await cache.get('b')).toBe(1)
    expect(Date.now() - before).toBeLessThan(1000)
  })

  it('set, setMany and getOrSet reject a bad ttl / grace / timeout with its code', async () => {
    const cache = createCache({ store: store() })
    await expect(cache.set('k', 1, { ttl: 0 })).rejects.toMatchObject({ code: 'INVALID_TTL' })
    await expect(cache.set('k', 1, { ttl: '-1s' as never })).rejects.toMatchObject({ code: 'INVALID_TTL' })
    await expect(cache.set('k', 1, { grace: -1 })).rejects.toMatchObject({ code: 'INVALID_DURATION' })
    await expect(cache.setMany([{ key: 'k', value: 1, ttl: 'never' as never }])).rejects.toMatchObject({
      code: 'INVALID_TTL',
    })
    await expect(cache.getOrSet('k', () => 1, { ttl: -10 })).rejects.toMatchObject({ code: 'INVALID_TTL' })
    await expect(cache.getOrSet('k', () => 1, { timeouts: { hard: -1 } })).rejects.toMatchObject({
      code: 'INVALID_DURATION',
    })
    await expect(cache.getOrSet('k', () => 1, { timeouts: { soft: 'x' as never } })).rejects.toMatchObject({
      code: 'INVALID_DURATION',
    })
  })
})
