import { parseStoreUrl, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { SENTINEL_HOOKS, sentinelConnectionOptions } from '../src/connection.js'
import { resolveSentinelOptions } from '../src/options.js'

const fromUrl = (url: string, extra: Record<string, unknown> = {}) =>
  resolveSentinelOptions({ url, parsed: parseStoreUrl(url), ...extra })

describe('sentinel options', () => {
  it('reads hosts, master name, credentials and parameters from the URL', () => {
    const o = fromUrl(
      'redis+sentinel://app:s3cret@h1:26379,h2:26380,h3/mymaster?role=replica&sentinelPassword=sp&sentinelUsername=su',
    )
    expect(o.sentinels).toEqual([
      { host: 'h1', port: 26379 },
      { host: 'h2', port: 26380 },
      { host: 'h3', port: 26379 },
    ])
    expect(o).toMatchObject({
      name: 'mymaster',
      role: 'replica',
      username: 'app',
      password: 's3cret',
      sentinelUsername: 'su',
      sentinelPassword: 'sp',
      consistency: 'async',
      db: 0,
      tls: undefined,
    })
  })

  it('rediss+sentinel turns TLS on for data nodes and sentinels; sentinelTls=false only for data nodes', () => {
    expect(fromUrl('rediss+sentinel://h1/m')).toMatchObject({ tls: {}, sentinelTls: {} })
    expect(fromUrl('rediss+sentinel://h1/m?sentinelTls=false')).toMatchObject({
      tls: {},
      sentinelTls: undefined,
    })
  })

  it('takes the options form without a URL, and explicit options over URL parts', () => {
    const o = resolveSentinelOptions({
      type: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }],
      name: 'cache',
      password: 'pw',
      tls: { servername: 'cache.internal' },
      consistency: 'replicated',
      waitReplicas: 2,
      readTimeoutMs: 300,
    })
    expect(o).toMatchObject({
      name: 'cache',
      role: 'master',
      password: 'pw',
      tls: { servername: 'cache.internal' },
      sentinelTls: { servername: 'cache.internal' },
      consistency: 'replicated',
      waitReplicas: 2,
      waitTimeoutMs: 500,
    })
    // Options this package does not consume go on to the Redis store.
    expect(o.rest).toEqual({ readTimeoutMs: 300 })
    expect(fromUrl('redis+sentinel://h1/m?role=master', { role: 'replica' }).role).toBe('replica')
  })

  it('rejects bad input loudly with a TierCacheError', () => {
    const bad = [
      () => fromUrl('redis+sentinel://h1/m?role=primary'),
      () => fromUrl('redis+sentinel://h1/m?sentinelpassword=x'),
      () => fromUrl('redis+sentinel://h1/m?consistency=strong'),
      () => fromUrl('redis+sentinel://h1/m?waitReplicas=-1'),
      () => resolveSentinelOptions({ type: 'sentinel', sentinels: [], name: 'm' }),
      () => resolveSentinelOptions({ type: 'sentinel', sentinels: [{ host: 'h', port: 0 }], name: 'm' }),
      () => resolveSentinelOptions({ type: 'sentinel', sentinels: [{ host: 'h', port: 1 }] }),
    ]
    for (const call of bad) expect(call).toThrow(TierCacheError)
  })

  it('never shows the sentinel password in an error', () => {
    expect(() => fromUrl('redis+sentinel://:pw@h1/m?sentinelPassword=topsecret&bogus=1')).toThrow(
      /sentinelPassword=\*\*\*/,
    )
  })

  it('maps to ioredis Sentinel options with READONLY reconnect (and our own failover detector)', () => {
    const o = fromUrl('rediss+sentinel://:pw@h1:1,h2:2/mymaster?sentinelPassword=sp')
    const io = sentinelConnectionOptions(o, 'replica', { host: 'ignored', port: 1, commandTimeout: 250 })
    expect(io).toMatchObject({
      sentinels: [
        { host: 'h1', port: 1 },
        { host: 'h2', port: 2 },
      ],
      name: 'mymaster',
      role: 'slave',
      password: 'pw',
      sentinelPassword: 'sp',
      tls: {},
      enableTLSForSentinelMode: true,
      sentinelTLS: {},
      failoverDetector: false,
      updateSentinels: true,
      commandTimeout: 250,
    })
    expect(io).not.toHaveProperty('host')
    const readonly = Object.assign(new Error("READONLY You can't write against a read only replica."), {})
    expect(io.reconnectOnError?.(readonly)).toBe(2)
    expect(SENTINEL_HOOKS.reconnectOnError(new Error('WRONGTYPE Operation against a key'))).toBe(false)
    for (let attempt = 1; attempt < 20; attempt++) {
      expect(SENTINEL_HOOKS.retryStrategy(attempt)).toBeLessThanOrEqual(520)
      expect(SENTINEL_HOOKS.sentinelRetryStrategy(attempt)).toBeLessThanOrEqual(550)
    }
  })
})
