import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCache, isTierCacheError, type TierCacheError } from '@tiercache/core'
import { generateTlsMaterial, type SentinelTopology, startSentinel, tlsAvailable } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readyOutcome } from './support/ready-outcome.js'

const tls = tlsAvailable()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// One master, one replica, one sentinel (quorum 1): small, and a failover still works.
describe.skipIf(!tls.available)(`Sentinel over TLS, live (${tls.reason ?? 'redis-server with TLS'})`, () => {
  let topo: SentinelTopology
  beforeAll(async () => {
    topo = await startSentinel({
      tls: true,
      replicas: 1,
      sentinels: 1,
      sentinelPassword: 'spw',
      users: [{ name: 'app', password: 'apw', rules: '~app:* &app:* +@all' }],
    })
  })
  afterAll(async () => {
    await topo?.stop()
  })

  it('rediss+sentinel:// with the CA (sentinelTls defaults to tls): round trip, bus, and a failover', async () => {
    expect(topo.url).toMatch(/^rediss\+sentinel:\/\/.*sentinelPassword=spw$/)
    const store = { url: topo.url, tls: { ca: topo.ca! } }
    const a = createCache({ store, namespace: 'tls' })
    const b = createCache({ store, namespace: 'tls', l1: false })
    const failovers: unknown[] = []
    a.on('failover', (e) => failovers.push(e))
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('k', { v: 1 })
      expect(await b.get('k')).toEqual({ v: 1 })
      expect(await a.get('k')).toEqual({ v: 1 })
      expect((await b.delete('k')).status).toBe('applied')
      const started = Date.now()
      while ((await a.get('k')) !== undefined && Date.now() - started < 1_000) await sleep(5)
      expect(await a.get('k')).toBeUndefined()

      // kill the master: the sentinel promotes the replica (replication ran over TLS), the store follows
      const old = await topo.master()
      await topo.kill(old)
      const next = await topo.waitForFailover({ from: old, timeoutMs: 20_000 })
      const deadline = Date.now() + 10_000
      let landed = false
      for (let i = 0; !landed && Date.now() < deadline; i++) {
        await a.set(`after:${i}`, i)
        landed = (await b.get(`after:${i}`)) === i
        if (!landed) await sleep(100)
      }
      expect(landed).toBe(true)
      expect(next.port).not.toBe(old.port)
      expect(failovers.length).toBeGreaterThan(0)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('without the CA: the sentinels’ certificate is refused → ready() and operations reject TLS_FAILED', async () => {
    const cache = createCache({ store: topo.url })
    try {
      const error = await readyOutcome(cache)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      expect((error as TierCacheError).message).toMatch(
        /^TLS to the sentinel 127\.0\.0\.1:\d+ failed: .*self-signed.*tls\.ca/s,
      )
      const get = await cache.get('k').catch((e: unknown) => e)
      expect(isTierCacheError(get, 'TLS_FAILED')).toBe(true)
    } finally {
      await cache.close()
    }
  })

  it('sentinels trusted but the data node checked for another name (servername) → TLS_FAILED', async () => {
    const ca = topo.ca!
    const cache = createCache({
      store: { url: topo.url, tls: { ca, servername: 'cache.example' }, sentinelTls: { ca } },
    })
    try {
      const error = await readyOutcome(cache)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      expect((error as TierCacheError).message).toMatch(/altnames.*tls\.servername/s)
    } finally {
      await cache.close()
    }
  })

  it('sentinelTls: { ca } with tls: { ca, servername: localhost } for the data nodes works', async () => {
    const ca = topo.ca!
    const cache = createCache({
      store: { url: topo.url, tls: { ca, servername: 'localhost' }, sentinelTls: { ca } },
    })
    try {
      await cache.ready()
      await cache.set('x', 'y')
      expect(await cache.get('x')).toBe('y')
    } finally {
      await cache.close()
    }
  })

  it('a CA that did not sign the certificates (wrong CA) → TLS_FAILED within 3 s, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiercache-other-ca-'))
    const cache = createCache({ store: { url: topo.url, tls: { ca: generateTlsMaterial(dir).ca } } })
    try {
      const error = await readyOutcome(cache, 3_000)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      const get = await cache.get('k').catch((e: unknown) => e)
      expect(isTierCacheError(get, 'TLS_FAILED')).toBe(true)
    } finally {
      await cache.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('an ACL user over TLS: rediss+sentinel://app:pass@… and the options form { type: sentinel, … }', async () => {
    const ca = topo.ca!
    const sentinels = topo.sentinels.map((s) => ({ host: s.host, port: s.port }))
    const hosts = sentinels.map((s) => `${s.host}:${s.port}`).join(',')
    const a = createCache({
      store: { url: `rediss+sentinel://app:apw@${hosts}/mymaster?sentinelPassword=spw`, tls: { ca } },
      namespace: 'app',
    })
    const b = createCache({
      store: {
        type: 'sentinel',
        sentinels,
        name: 'mymaster',
        username: 'app',
        password: 'apw',
        sentinelPassword: 'spw',
        tls: { ca, servername: 'localhost' },
        sentinelTls: { ca },
      },
      namespace: 'app',
      l1: false,
    })
    const errors: unknown[] = []
    for (const c of [a, b]) c.on('error', (e) => errors.push(e.error))
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('k', 'v', { tags: ['t'] })
      expect(await b.get('k')).toBe('v')
      expect((await b.invalidateTags('t')).status).toBe('applied')
      expect(await b.get('k')).toBeUndefined()
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})
