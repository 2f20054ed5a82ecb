import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cacheOptionsFromEnv, createCache, ENV_VARIABLES, type TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'

function failure(env: Record<string, string>, prefix?: string): TierCacheError {
  try {
    cacheOptionsFromEnv(env, prefix)
  } catch (error) {
    return error as TierCacheError
  }
  throw new Error(`no error for ${JSON.stringify(env)}`)
}

describe('cacheOptionsFromEnv', () => {
  it('is empty without variables, so it spreads over defaults written in code', () => {
    expect(cacheOptionsFromEnv({})).toEqual({})
    expect(cacheOptionsFromEnv({ TIERCACHE_TTL: '', TIERCACHE_URL: '  ' })).toEqual({})
    expect(cacheOptionsFromEnv({ TIERCACHE_REDIS_SERVER: '/usr/bin/redis-server' })).toEqual({})
  })

  it('reads every documented variable', () => {
    const options = cacheOptionsFromEnv({
      TIERCACHE_URL: 'redis://cache.internal:6380/2',
      TIERCACHE_NAMESPACE: 'billing',
      TIERCACHE_TTL: '5m',
      TIERCACHE_GRACE: '1h',
      TIERCACHE_SOFT_TIMEOUT: '200ms',
      TIERCACHE_HARD_TIMEOUT: '2s',
      TIERCACHE_L1_MAX: '5000',
      TIERCACHE_L1_MAX_BYTES: '1048576',
      TIERCACHE_L1_TTL: '10s',
      TIERCACHE_SERIALIZER: 'json',
      TIERCACHE_MAX_KEY_BYTES: '1024',
      TIERCACHE_MAX_VALUE_BYTES: '1048576',
      TIERCACHE_FENCE_TTL: '5m',
    })
    expect(options).toEqual({
      store: 'redis://cache.internal:6380/2',
      namespace: 'billing',
      ttl: 300_000,
      grace: 3_600_000,
      timeouts: { soft: 200, hard: 2000 },
      l1: { max: 5000, maxBytes: 1_048_576, ttl: 10_000 },
      serializer: 'json',
      maxKeyBytes: 1024,
      maxValueBytes: 1_048_576,
      fenceTtl: 300_000,
    })
  })

  it('puts credentials and TLS in the store options, not the URL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiercache-env-'))
    try {
      const caFile = join(dir, 'ca.pem')
      writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n')
      expect(
        cacheOptionsFromEnv({
          TIERCACHE_URL: 'redis+sentinel://s1:26379,s2:26379/mymaster',
          TIERCACHE_USERNAME: 'svc',
          TIERCACHE_PASSWORD: 's3cret',
          TIERCACHE_TLS_CA_FILE: caFile,
        }).store,
      ).toEqual({
        url: 'redis+sentinel://s1:26379,s2:26379/mymaster',
        username: 'svc',
        password: 's3cret',
        tls: { ca: '-----BEGIN CERTIFICATE-----\n' },
      })
      expect(cacheOptionsFromEnv({ TIERCACHE_URL: 'redis://h:1', TIERCACHE_TLS: 'yes' }).store).toEqual({
        url: 'redis://h:1',
        tls: true,
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('turns L1 off with TIERCACHE_L1=false', () => {
    expect(cacheOptionsFromEnv({ TIERCACHE_L1: 'off' }).l1).toBe(false)
    expect(cacheOptionsFromEnv({ TIERCACHE_L1: 'true' }).l1).toBeUndefined()
  })

  it('takes another prefix', () => {
    expect(
      cacheOptionsFromEnv({ APP_CACHE_URL: 'memory://app', TIERCACHE_URL: 'redis://x:1' }, 'APP_CACHE_'),
    ).toEqual({ store: 'memory://app' })
  })

  it('names the variable in every error, with the code of the underlying check', () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ TIERCACHE_URL: 'mongodb://x' }, 'UNKNOWN_SCHEME', 'TIERCACHE_URL'],
      [{ TIERCACHE_URL: 'not a url' }, 'INVALID_URL', 'TIERCACHE_URL'],
      [{ TIERCACHE_TTL: '5 minutes' }, 'INVALID_TTL', 'TIERCACHE_TTL'],
      [{ TIERCACHE_TTL: '0' }, 'INVALID_TTL', 'TIERCACHE_TTL'],
      [{ TIERCACHE_FENCE_TTL: 'never' }, 'INVALID_TTL', 'TIERCACHE_FENCE_TTL'],
      [{ TIERCACHE_GRACE: 'forever' }, 'INVALID_DURATION', 'TIERCACHE_GRACE'],
      [{ TIERCACHE_HARD_TIMEOUT: '-1s' }, 'INVALID_DURATION', 'TIERCACHE_HARD_TIMEOUT'],
      [{ TIERCACHE_L1_MAX: '1e4' }, 'INVALID_OPTION', 'TIERCACHE_L1_MAX'],
      [{ TIERCACHE_L1_MAX: '0' }, 'INVALID_OPTION', 'TIERCACHE_L1_MAX'],
      [{ TIERCACHE_L1: 'maybe' }, 'INVALID_OPTION', 'TIERCACHE_L1'],
      [{ TIERCACHE_L1: 'off', TIERCACHE_L1_TTL: '5s' }, 'INVALID_OPTION', 'TIERCACHE_L1_TTL'],
      [{ TIERCACHE_NAMESPACE: 'a::b' }, 'INVALID_NAMESPACE', 'TIERCACHE_NAMESPACE'],
      [{ TIERCACHE_SERIALIZER: 'xml' }, 'INVALID_OPTION', 'TIERCACHE_SERIALIZER'],
      [{ TIERCACHE_MAX_KEY_BYTES: 'lots' }, 'INVALID_OPTION', 'TIERCACHE_MAX_KEY_BYTES'],
      [{ TIERCACHE_MAX_VALUE_BYTES: '0' }, 'INVALID_OPTION', 'TIERCACHE_MAX_VALUE_BYTES'],
      [{ TIERCACHE_PASSWORD: 'x' }, 'INVALID_OPTION', 'TIERCACHE_PASSWORD'],
      [{ TIERCACHE_URL: 'memory://', TIERCACHE_PASSWORD: 'x' }, 'INVALID_OPTION', 'TIERCACHE_URL'],
      [
        { TIERCACHE_URL: 'redis://h:1', TIERCACHE_TLS_CA_FILE: '/nonexistent/ca.pem' },
        'INVALID_OPTION',
        'TIERCACHE_TLS_CA_FILE',
      ],
    ]
    for (const [env, code, variable] of cases) {
      const error = failure(env)
      expect(error.code, JSON.stringify(env)).toBe(code)
      expect(error.message, JSON.stringify(env)).toContain(variable)
    }
    expect(failure({ APP_TTL: 'x' }, 'APP_').message).toContain('APP_TTL')
  })

  it('never echoes a password from the URL', () => {
    const error = failure({ TIERCACHE_URL: 'redis://user:hunter2@host:notaport' })
    expect(error.message).toContain('TIERCACHE_URL')
    expect(error.message).not.toContain('hunter2')
  })

  it('documents every variable it reads', () => {
    expect(Object.keys(ENV_VARIABLES).sort()).toEqual(
      [
        'URL',
        'USERNAME',
        'PASSWORD',
        'TLS',
        'TLS_CA_FILE',
        'NAMESPACE',
        'TTL',
        'GRACE',
        'SOFT_TIMEOUT',
        'HARD_TIMEOUT',
        'L1',
        'L1_MAX',
        'L1_MAX_BYTES',
        'L1_TTL',
        'SERIALIZER',
        'MAX_KEY_BYTES',
        'MAX_VALUE_BYTES',
        'FENCE_TTL',
      ].sort(),
    )
  })

  it('feeds createCache: a service changes backend by environment alone', async () => {
    const cache = createCache({
      namespace: 'from-code',
      ...cacheOptionsFromEnv({
        TIERCACHE_URL: 'memory://env-test',
        TIERCACHE_TTL: '1m',
        TIERCACHE_NAMESPACE: 'envns',
      }),
    })
    await cache.set('k', 'v')
    expect(cache.namespacePath).toBe('envns')
    const other = createCache({ store: 'memory://env-test', namespace: 'envns', l1: false })
    expect(await other.get('k')).toBe('v')
    await cache.close()
    await other.close()
  })
})
