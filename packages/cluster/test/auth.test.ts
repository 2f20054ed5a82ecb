import { type Cache, createCache, isTierCacheError, type TierCacheError } from '@tiercache/core'
import {
  aclAuthFailures,
  type ClusterTopology,
  redisBinary,
  startCluster,
  TIERCACHE_ACL_COMMANDS,
  TIERCACHE_CLUSTER_ACL_COMMANDS,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const bin = redisBinary()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * ACL users on a real six-node cluster (3 masters, 3 replicas). `app` may only touch `app:*` keys and
 * channels — what docs/security.md says a namespace needs — and everything tiercache does in namespace
 * `app` (values, tag generations, clear's SCAN over every master, the invalidation bus) must work with it.
 */
describe.skipIf(!bin.available)(`cluster ACL users, live (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology
  const PASSWORD = 'admin-pw'
  const app = { name: 'app', password: 'app-pw', rules: '~app:* &app:* +@all' }
  // the least-privilege rule docs/security.md gives for Cluster: only the commands tiercache sends
  const narrow = {
    name: 'narrow',
    password: 'narrow-pw',
    rules: `~app:* &app:* -@all ${TIERCACHE_ACL_COMMANDS} ${TIERCACHE_CLUSTER_ACL_COMMANDS}`,
  }

  beforeAll(async () => {
    topology = await startCluster({
      masters: 3,
      replicasPerMaster: 1,
      password: PASSWORD,
      users: [app, narrow],
    })
  })

  afterAll(async () => {
    await topology?.stop()
  })

  const hosts = () => topology.seeds.map((seed) => `${seed.host}:${seed.port}`).join(',')

  async function eventually(check: () => Promise<void>, ms = 2_000): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      try {
        return await check()
      } catch (error) {
        if (Date.now() > deadline) throw error
        await sleep(10)
      }
    }
  }

  async function exercise(a: Cache, b: Cache): Promise<void> {
    const errors: unknown[] = []
    for (const cache of [a, b]) cache.on('error', ({ error }) => errors.push(error))
    await Promise.all([a.ready(), b.ready()])
    // 60 keys spread over all three masters: MGET per master, tag generations, the bus
    const keys = Array.from({ length: 60 }, (_, i) => `inv:${i}`)
    await a.setMany(keys.map((key) => ({ key, value: key, tags: ['cust:9'] })))
    expect(await b.getMany(keys)).toEqual(keys)
    // b's L1 copies are dropped by a's invalidations through the bus (SUBSCRIBE/PUBLISH on app:__tc:bus)
    expect((await a.invalidateTags('cust:9')).status).toBe('applied')
    const gone = keys.map(() => undefined)
    await eventually(async () => expect(await b.getMany(keys)).toEqual(gone))
    await a.set('k', 1)
    expect(await b.get('k')).toBe(1)
    expect((await a.delete('k')).status).toBe('applied')
    await eventually(async () => expect(await b.get('k')).toBeUndefined())
    // clear() SCANs app:* on every master; a child namespace lives under app: too
    await a.namespace('sub').set('x', 'y')
    expect((await a.clear()).status).toBe('applied')
    expect(await b.namespace('sub').get('x')).toBeUndefined()
    expect(errors).toEqual([])
  }

  it.each([
    ["a user limited to '~app:* &app:*' (URL form app:pw@)", app],
    ['a least-privilege user (the documented command list)', narrow],
  ])(
    '%s serves namespace app: batches, tags, clear, bus',
    async (_name, user) => {
      const store = `redis+cluster://${user.name}:${user.password}@${hosts()}`
      const a = createCache({ store, namespace: 'app' })
      const b = createCache({ store, namespace: 'app' })
      try {
        await exercise(a, b)
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    },
    30_000,
  )

  it('the options form: { type: cluster, nodes, username, password } and { url, username, password }', async () => {
    const a = createCache({
      store: { type: 'cluster', nodes: topology.seeds.slice(0, 2), username: 'app', password: app.password },
      namespace: 'app',
    })
    const b = createCache({
      store: { url: `valkey+cluster://${hosts()}`, username: 'app', password: app.password },
      namespace: 'app',
    })
    try {
      await exercise(a, b)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 30_000)

  it('outside its key pattern the restricted user gets NOPERM as an error event, and the call fails open', async () => {
    const cache = createCache({ store: `redis+cluster://app:${app.password}@${hosts()}`, namespace: 'other' })
    const errors: unknown[] = []
    cache.on('error', ({ error }) => errors.push(error))
    try {
      await cache.ready()
      expect(await cache.getOrSet('k', () => 'from loader')).toBe('from loader')
      expect(errors.some((e) => /NOPERM/.test(String((e as Error)?.message)))).toBe(true)
    } finally {
      await cache.close()
    }
  }, 30_000)

  it('a wrong password: AUTH_FAILED at once (ready and every operation), and the client stops logging in', async () => {
    const auth = { password: PASSWORD }
    const cache = createCache({ store: `redis+cluster://app:nope@${hosts()}`, namespace: 'app' })
    const events: unknown[] = []
    cache.on('error', ({ error }) => events.push(error))
    try {
      const t0 = Date.now()
      const error = await cache.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(Date.now() - t0).toBeLessThan(3_000) // not the 5 s readyTimeoutMs: the diagnosis says why
      expect(isTierCacheError(error, 'AUTH_FAILED')).toBe(true)
      expect((error as TierCacheError).fatal).toBe(true)
      expect((error as TierCacheError).message).toMatch(/rejected the credentials/)
      for (const op of [() => cache.get('k'), () => cache.set('k', 1), () => cache.delete('k')]) {
        const rejected = await op().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(isTierCacheError(rejected, 'AUTH_FAILED')).toBe(true)
      }
      expect(events.some((e) => isTierCacheError(e, 'AUTH_FAILED'))).toBe(true)
      // Not retried forever: over the next 3 s (six reconnect periods) no node sees another login attempt.
      const before = await Promise.all(topology.nodes.map((node) => aclAuthFailures(node, auth)))
      await sleep(3_000)
      await cache.get('k').catch(() => undefined)
      const after = await Promise.all(topology.nodes.map((node) => aclAuthFailures(node, auth)))
      const sum = (counts: number[]) => counts.reduce((total, n) => total + n, 0)
      expect(sum(before)).toBeGreaterThan(0) // the refused logins are there to count
      expect(sum(after)).toBe(sum(before))
    } finally {
      await cache.close()
    }
  }, 30_000)
})
