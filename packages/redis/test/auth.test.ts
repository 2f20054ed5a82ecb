import { createCache, isTierCacheError } from '@tiercache/core'
import {
  aclAuthFailures,
  redisBinary,
  type StandaloneTopology,
  startStandalone,
  TIERCACHE_ACL_COMMANDS,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectServesNamespace } from './support/acl-user.js'
import { expectEveryOperationRejects } from './support/fatal-operations.js'

const bin = redisBinary()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!bin.available)(`auth (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  beforeAll(async () => {
    topo = await startStandalone({
      password: 'pw',
      users: [
        { name: 'billing', password: 'bpw', rules: '~billing:* &billing:* +@all' },
        // the least-privilege rule docs/security.md gives: only the commands tiercache sends
        { name: 'narrow', password: 'npw', rules: `~billing:* &billing:* -@all ${TIERCACHE_ACL_COMMANDS}` },
      ],
    })
  })
  afterAll(async () => {
    await topo?.stop()
  })

  it('a password in the URL works', async () => {
    expect(topo.url).toContain(':pw@')
    const cache = createCache({ store: topo.url, namespace: 'pw' })
    try {
      await cache.ready()
      await cache.set('k', 'v')
      expect(await cache.getOrSet('k', () => 'loader')).toBe('v')
    } finally {
      await cache.close()
    }
  })

  it.each([
    ['a wrong password', (port: number) => `redis://:wrong@127.0.0.1:${port}`],
    ['no password', (port: number) => `redis://127.0.0.1:${port}`],
    ['a wrong user', (port: number) => `redis://billing:nope@127.0.0.1:${port}`],
  ])('%s: ready() and operations reject AUTH_FAILED (fatal, not failed open)', async (_name, url) => {
    const cache = createCache({ store: url(topo.port), namespace: 'bad' })
    try {
      const ready = await cache.ready().catch((e: unknown) => e)
      expect(isTierCacheError(ready, 'AUTH_FAILED')).toBe(true)
      await expectEveryOperationRejects(cache, 'AUTH_FAILED')
    } finally {
      await cache.close()
    }
  })

  it("an ACL user limited to '~billing:* &billing:*' serves namespace billing (bus, tags, clear)", async () => {
    const url = `redis://billing:bpw@127.0.0.1:${topo.port}`
    const a = createCache({ store: url, namespace: 'billing' })
    const b = createCache({ store: url, namespace: 'billing' })
    const errors: unknown[] = []
    a.on('error', (e) => errors.push(e.error))
    b.on('error', (e) => errors.push(e.error))
    try {
      await Promise.all([a.ready(), b.ready()])
      await a.set('inv:1', { total: 1 }, { tags: ['cust:9'] })
      await sleep(30)
      expect(await b.get('inv:1')).toEqual({ total: 1 })
      expect((await a.invalidateTags('cust:9')).status).toBe('applied')
      const started = Date.now()
      while ((await b.get('inv:1')) !== undefined && Date.now() - started < 500) await sleep(5)
      expect(await b.get('inv:1')).toBeUndefined()
      await a.set('inv:2', 2)
      expect(await b.getOrSet('inv:2', () => 0)).toBe(2)
      expect((await a.namespace('sub').delete('x')).status).toBe('applied')
      expect((await a.clear()).status).toBe('applied')
      while ((await b.get('inv:2')) !== undefined && Date.now() - started < 1000) await sleep(5)
      expect(await b.get('inv:2')).toBeUndefined()
      expect(errors).toEqual([])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it.each([
    ['valkey://user:pass@', () => `valkey://billing:bpw@127.0.0.1:${topo.port}`],
    [
      'a least-privilege user (the documented command list)',
      () => `redis://narrow:npw@127.0.0.1:${topo.port}`,
    ],
    [
      '{ url, username, password }',
      () => ({ url: `redis://127.0.0.1:${topo.port}`, username: 'billing', password: 'bpw' }),
    ],
    [
      "{ type: 'redis', host, port, username, password }",
      () => ({
        type: 'redis' as const,
        host: '127.0.0.1',
        port: topo.port,
        username: 'billing',
        password: 'bpw',
      }),
    ],
    [
      'options win over the URL credentials',
      () => ({ url: `redis://billing:wrong@127.0.0.1:${topo.port}`, password: 'bpw' }),
    ],
  ])('the ACL user through %s serves its namespace', async (_name, store) => {
    await expectServesNamespace(store(), 'billing')
  })

  it('a wrong password is not retried forever: after AUTH_FAILED the client stops logging in', async () => {
    const auth = { password: 'pw' }
    const cache = createCache({ store: `redis://billing:nope@127.0.0.1:${topo.port}`, namespace: 'billing' })
    try {
      const t0 = Date.now()
      const ready = await cache.ready().catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(1_000) // the server answers at once; no connect-timeout wait
      expect(isTierCacheError(ready, 'AUTH_FAILED')).toBe(true)
      // the bus connection logs in too (and must stop as well)
      cache.on('invalidationQueued', () => undefined)
      await cache.delete('k').catch(() => undefined)
      await sleep(200)
      const before = await aclAuthFailures(topo.node, auth)
      expect(before).toBeGreaterThan(0)
      // Without the stop, ioredis reconnects every ≤ 2 s (reconnectMaxDelayMs) and logs in again.
      await sleep(3_000)
      await expectEveryOperationRejects(cache, 'AUTH_FAILED')
      expect(await aclAuthFailures(topo.node, auth)).toBe(before)
      expect(cache.health().state).toBe('down')
    } finally {
      await cache.close()
    }
  })
})
