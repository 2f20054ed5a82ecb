import { createCache, isTierCacheError, type TierCacheError } from '@tiercache/core'
import {
  aclAuthFailures,
  redisBinary,
  type SentinelTopology,
  startSentinel,
  TIERCACHE_ACL_COMMANDS,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectServesNamespace } from '../../redis/test/support/acl-user.js'
import { readyOutcome } from './support/ready-outcome.js'

const bin = redisBinary()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// One master, one replica, one sentinel; the data nodes have an ACL user besides the default one.
describe.skipIf(!bin.available)(
  `Sentinel ACL and sentinel password, live (${bin.reason ?? bin.binary})`,
  () => {
    let topo: SentinelTopology
    const app = { name: 'app', password: 'apw', rules: '~app:* &app:* +@all' }
    // the least-privilege rule of docs/security.md on the data nodes (the sentinels have their own password)
    const narrow = { name: 'narrow', password: 'npw', rules: `~app:* &app:* -@all ${TIERCACHE_ACL_COMMANDS}` }
    beforeAll(async () => {
      topo = await startSentinel({
        replicas: 1,
        sentinels: 1,
        password: 'pw',
        sentinelPassword: 'spw',
        users: [app, narrow],
      })
    })
    afterAll(async () => {
      await topo?.stop()
    })
    const sentinelHosts = () => topo.sentinels.map((s) => `${s.host}:${s.port}`).join(',')
    const url = (auth: string, query: string) => `redis+sentinel://${auth}${sentinelHosts()}/mymaster${query}`

    it.each([
      ['an ACL user limited to ~app:* &app:*', 'app:apw@'],
      ['a least-privilege user (the documented command list)', 'narrow:npw@'],
    ])(
      '%s on the data nodes plus the sentinel password: works, bus, tags, clear and fences included',
      async (_name, auth) => {
        const store = url(auth, '?sentinelPassword=spw')
        const a = createCache({ store, namespace: 'app' })
        const b = createCache({ store, namespace: 'app' })
        const errors: unknown[] = []
        for (const c of [a, b]) c.on('error', (e) => errors.push(e.error))
        try {
          await Promise.all([a.ready(), b.ready()])
          await a.set('inv:1', 1, { tags: ['t'] })
          await sleep(30)
          expect(await b.get('inv:1')).toBe(1)
          expect((await a.invalidateTags(['t'])).status).toBe('applied')
          const started = Date.now()
          while ((await b.get('inv:1')) !== undefined && Date.now() - started < 1_000) await sleep(5)
          expect(await b.get('inv:1')).toBeUndefined()
          // getOrSet reads the fences with MGET and writes through the fence script (EVALSHA); delete bumps one.
          expect(await a.getOrSet('inv:2', () => 2)).toBe(2)
          expect(await b.get('inv:2')).toBe(2)
          expect((await a.delete('inv:2')).status).toBe('applied')
          expect((await a.clear()).status).toBe('applied')
          expect(errors).toEqual([])
        } finally {
          await Promise.all([a.close(), b.close()])
        }
      },
    )

    it.each([
      [
        'a wrong sentinel password',
        () => url('app:apw@', '?sentinelPassword=nope'),
        /the sentinels rejected/,
      ],
      ['no sentinel password', () => url('app:apw@', ''), /the sentinels rejected/],
      [
        'a wrong data-node password',
        () => url('app:nope@', '?sentinelPassword=spw'),
        /rejected the credentials/,
      ],
    ])(
      '%s: ready() rejects AUTH_FAILED quickly (no hang), operations too, and an error event says so',
      async (_name, store, message) => {
        const cache = createCache({ store: store(), namespace: 'app' })
        const events: unknown[] = []
        cache.on('error', (e) => events.push(e.error))
        try {
          const error = await readyOutcome(cache)
          expect(isTierCacheError(error, 'AUTH_FAILED')).toBe(true)
          expect((error as TierCacheError).message).toMatch(message)
          expect((error as TierCacheError).message).not.toContain('spw') // no secret in the message
          const get = await cache.get('k').catch((e: unknown) => e)
          expect(isTierCacheError(get, 'AUTH_FAILED')).toBe(true)
          expect(events.some((e) => isTierCacheError(e, 'AUTH_FAILED'))).toBe(true)
        } finally {
          await cache.close()
        }
      },
    )

    it.each([
      [
        'valkey+sentinel://app:pass@…?sentinelPassword=',
        () => url('app:apw@', '?sentinelPassword=spw').replace('redis+', 'valkey+'),
      ],
      [
        '{ url, username, password, sentinelPassword }',
        () => ({ url: url('', ''), username: 'app', password: 'apw', sentinelPassword: 'spw' }),
      ],
      [
        "{ type: 'sentinel', sentinels, name, username, password, sentinelPassword }",
        () => ({
          type: 'sentinel' as const,
          sentinels: topo.sentinels.map((s) => ({ host: s.host, port: s.port })),
          name: 'mymaster',
          username: 'app',
          password: 'apw',
          sentinelPassword: 'spw',
        }),
      ],
    ])('the ACL user through %s serves its namespace', async (_name, store) => {
      await expectServesNamespace(store(), 'app')
    })

    it.each([
      ['a wrong data-node password', () => url('app:nope@', '?sentinelPassword=spw'), 'data'],
      ['a wrong sentinel password', () => url('app:apw@', '?sentinelPassword=nope'), 'sentinel'],
    ])(
      '%s is not retried forever: after AUTH_FAILED nobody sees another login',
      async (_name, store, where) => {
        const node = where === 'data' ? await topo.master() : topo.sentinels[0]!
        const auth = { password: where === 'data' ? 'pw' : 'spw' }
        const cache = createCache({ store: store(), namespace: 'app' })
        try {
          const error = await readyOutcome(cache)
          expect(isTierCacheError(error, 'AUTH_FAILED')).toBe(true)
          await cache.delete('k').catch(() => undefined) // the bus connection logs in too
          await sleep(300)
          const before = await aclAuthFailures(node, auth)
          expect(before).toBeGreaterThan(0)
          await sleep(3_000)
          const get = await cache.get('k').catch((e: unknown) => e)
          expect(isTierCacheError(get, 'AUTH_FAILED')).toBe(true)
          expect(await aclAuthFailures(node, auth)).toBe(before)
        } finally {
          await cache.close()
        }
      },
    )
  },
)
