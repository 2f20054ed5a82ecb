import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCache, isTierCacheError } from '@tiercache/core'
import { type ClusterTopology, generateTlsMaterial, startCluster, tlsAvailable } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const tls = tlsAvailable()

/** `rediss+cluster://`: client-to-node connections, slot refreshes and redirects all over TLS. */
describe.skipIf(!tls.available)(`cluster over TLS, live (${tls.reason ?? 'redis-server with TLS'})`, () => {
  let topology: ClusterTopology

  beforeAll(async () => {
    topology = await startCluster({
      masters: 3,
      replicasPerMaster: 0,
      tls: true,
      users: [{ name: 'app', password: 'apw', rules: '~app:* &app:* +@all' }],
    })
  }, 90_000)

  afterAll(async () => {
    await topology?.stop()
  })

  it('with the CA: set, getMany across every master, tags and the bus work', async () => {
    expect(topology.url).toMatch(/^rediss\+cluster:\/\//)
    const store = { url: topology.url, tls: { ca: topology.ca! } }
    const a = createCache({ store, namespace: 'tls' })
    const b = createCache({ store, namespace: 'tls', l1: false })
    const errors: unknown[] = []
    for (const cache of [a, b]) cache.on('error', ({ error }) => errors.push(error))
    try {
      await Promise.all([a.ready(), b.ready()])
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      await a.setMany(keys.map((key) => ({ key, value: key, tags: ['all'] })))
      expect(await b.getMany(keys)).toEqual(keys)
      expect((await b.invalidateTags('all')).status).toBe('applied')
      expect(await b.getMany(keys)).toEqual(keys.map(() => undefined))
      const started = Date.now()
      while ((await a.get('k0')) !== undefined && Date.now() - started < 1_000) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      expect(await a.get('k0')).toBeUndefined()
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 30_000)

  it('default verification without the CA: ready() and operations reject with TLS_FAILED', async () => {
    const cache = createCache({ store: topology.url })
    try {
      const error = await cache.ready().catch((e: unknown) => e)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      await expect(cache.get('k')).rejects.toMatchObject({ code: 'TLS_FAILED' })
    } finally {
      await cache.close()
    }
  }, 30_000)

  it('a CA that did not sign the node certificates (wrong CA) → TLS_FAILED within 3 s, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiercache-other-ca-'))
    const cache = createCache({ store: { url: topology.url, tls: { ca: generateTlsMaterial(dir).ca } } })
    try {
      const t0 = Date.now()
      const error = await cache.ready().catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(3_000)
      expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
      await expect(cache.get('k')).rejects.toMatchObject({ code: 'TLS_FAILED' })
    } finally {
      await cache.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  it('an ACL user over TLS: rediss+cluster://app:pass@… and { type: cluster, nodes, username, password, tls }', async () => {
    const ca = topology.ca!
    const hosts = topology.seeds.map((seed) => `${seed.host}:${seed.port}`).join(',')
    const a = createCache({
      store: { url: `rediss+cluster://app:apw@${hosts}`, tls: { ca } },
      namespace: 'app',
    })
    const b = createCache({
      store: {
        type: 'cluster',
        nodes: topology.seeds,
        username: 'app',
        password: 'apw',
        tls: { ca, servername: 'localhost' },
      },
      namespace: 'app',
      l1: false,
    })
    const errors: unknown[] = []
    for (const cache of [a, b]) cache.on('error', ({ error }) => errors.push(error))
    try {
      await Promise.all([a.ready(), b.ready()])
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
      await a.setMany(keys.map((key) => ({ key, value: key, tags: ['t'] })))
      expect(await b.getMany(keys)).toEqual(keys)
      expect((await b.invalidateTags('t')).status).toBe('applied')
      expect(await b.getMany(keys)).toEqual(keys.map(() => undefined))
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 30_000)
})
