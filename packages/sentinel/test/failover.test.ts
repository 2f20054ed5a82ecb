import { type Cache, createCache, type StoreEvent } from '@tiercache/core'
import {
  command,
  type RedisNode,
  redisBinary,
  type SentinelTopology,
  startSentinel,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LoadReport, startMixedLoad, summarize } from './mixed-load.js'

/**
 * Chaos tests on one real topology (1 master + 2 replicas, 3 sentinels, 1 s down-after), run in order:
 * SIGKILL → the killed master comes back as a replica → SIGSTOP/SIGCONT → manual SENTINEL FAILOVER →
 * a sentinel down at start-up → all sentinels down. Every phase runs a bounded mixed load through
 * `createCache({ store: topology.url })` and checks it with the oracle of mixed-load.ts.
 */
const bin = redisBinary()
const MAX_CALL_MS = 1_500

describe.skipIf(!bin.available)(`sentinel failover (${bin.reason ?? bin.binary})`, () => {
  let topo: SentinelTopology
  const caches: Cache[] = []
  const measured: string[] = []

  const open = (options: { l1?: false; namespace: string; url?: string; consistency?: string }) => {
    const url = options.url ?? topo.url
    const store = options.consistency
      ? `${url}${url.includes('?') ? '&' : '?'}consistency=${options.consistency}`
      : url
    const cache = createCache({
      store,
      namespace: options.namespace,
      ttl: '5m',
      ...(options.l1 === false ? { l1: false as const } : { l1: { max: 1_000, ttl: '10s' } }),
    })
    caches.push(cache)
    return cache
  }

  /** Raw bytes at `key` on `node` (the testkit's own RESP client, not the store). */
  const rawGet = async (node: RedisNode, key: string) =>
    String((await command(node.host, node.port, ['GET', key], { timeoutMs: 1_000 })) ?? '')

  /** Polls until `key` holds a value containing `needle` on `node`; resolves with when that was seen. */
  const waitForValue = async (node: RedisNode, key: string, needle: string, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs
    while (Date.now() < until) {
      if ((await rawGet(node, key).catch(() => '')).includes(needle)) return Date.now()
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error(`${key} never held ${needle} on ${node.host}:${node.port}`)
  }

  /** Polls the ROLE of `node` until it is `wanted` (or the time is up); returns the last role seen. */
  const roleOf = async (node: RedisNode, wanted: string, timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs
    let role = ''
    while (Date.now() < until) {
      const reply = await command(node.host, node.port, ['ROLE'], { timeoutMs: 1_000 }).catch(() => undefined)
      role = Array.isArray(reply) ? String(reply[0]) : ''
      if (role === wanted) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    return role
  }

  /** Waits until `cache`'s store has nothing in flight: no pending write, no invalidation retrying or queued. */
  const settle = async (cache: Cache, timeoutMs = 15_000) => {
    const t0 = Date.now()
    while (Date.now() - t0 < timeoutMs) {
      const h = cache.health()
      const d = h.detail ?? {}
      if (!h.queuedInvalidations && !d.pendingWrites && !d.invalidationsInFlight && !d.reinvalidating)
        return Date.now() - t0
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`the store did not settle within ${timeoutMs} ms: ${JSON.stringify(cache.health())}`)
  }

  /**
   * After the load: every key holds what the database holds, or nothing. Read by a second cache (no L1, its
   * own connections) once the loaded cache's store has settled, so nothing is answered from its memory.
   */
  const checkFinalState = async (cache: Cache, report: LoadReport, namespace: string) => {
    await settle(cache)
    const checker = open({ l1: false, namespace })
    const wrong: string[] = []
    for (const [key, expected] of report.db) {
      const got = await checker.get(key)
      if (got !== undefined && got !== expected) wrong.push(`${key}: got ${String(got)}, db ${expected}`)
    }
    return wrong
  }

  const expectClean = (name: string, report: LoadReport) => {
    measured.push(summarize(name, report))
    console.log(summarize(name, report))
    expect(report.errors.map((e) => `${e.op} ${e.key}: ${(e.error as Error)?.message}`)).toEqual([])
    expect(report.wrong).toEqual([])
    expect(report.calls).toBeGreaterThan(100)
    expect(report.maxMs).toBeLessThan(MAX_CALL_MS)
  }

  /**
   * The shared shape of the kill and pause scenarios: load, fault, a probe write and a probe delete issued
   * during the failover, then checks on the new master.
   */
  const underFailover = async (
    name: string,
    fault: (master: RedisNode) => Promise<void>,
    after?: (master: RedisNode) => Promise<void>,
  ) => {
    const ns = `${name}`
    const cache = open({ l1: false, namespace: ns })
    const watcher = open({ namespace: ns })
    const events: StoreEvent[] = []
    cache.on('store', (event) => events.push(event))
    let resyncs = 0
    watcher.on('resync', () => resyncs++)
    await cache.set('probe:del', 'doomed')
    await watcher.get('probe:del')
    const old = await topo.master()
    // The doomed value is on every replica before the fault, so only the delete can remove it.
    await command(old.host, old.port, ['WAIT', '2', '1000'])

    const load = startMixedLoad(cache, { maxMs: 12_000, maxCalls: 40_000, prefix: 'load' })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const faultAt = Date.now()
    await fault(old)
    const probe = `probe-${Date.now()}`
    // Issued while the master is gone: both must hold once the new master is up.
    const [setMs, delResult] = await Promise.all([
      timed(() => cache.set('probe:write', probe)),
      cache.delete('probe:del'),
    ])
    const next = await topo.waitForFailover({ from: old, timeoutMs: 20_000 })
    const promotedAt = Date.now()
    await after?.(old)
    const landedAt = await waitForValue(next, `${ns}:probe:write`, probe)
    load.stop()
    const report = await load.done

    expectClean(name, report)
    expect(setMs).toBeLessThan(MAX_CALL_MS)
    if (delResult.status === 'queued') expect(await delResult.replayed).toBe('applied')
    expect(await rawGet(next, `${ns}:probe:del`)).toBe('')
    expect(await cache.get('probe:del')).toBeUndefined()
    expect(await checkFinalState(cache, report, ns)).toEqual([])
    expect(events.some((e) => e.type === 'failover')).toBe(true)
    expect(resyncs).toBeGreaterThan(0)
    const line =
      `[${name}] failover ${promotedAt - faultAt} ms after the fault; probe write on the new master ` +
      `${landedAt - promotedAt} ms after promotion (set call ${Math.round(setMs)} ms); delete ${delResult.status}`
    measured.push(line)
    console.log(line)
    return { old, next }
  }

  beforeAll(async () => {
    topo = await startSentinel({ replicas: 2, sentinels: 3 })
  })

  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close().catch(() => undefined)))
    await topo?.stop()
    console.log(`measured:\n${measured.join('\n')}`)
  })

  it('serves through createCache({ store: topology.url }) and writes to the master', async () => {
    const cache = open({ namespace: 'basic' })
    await cache.ready()
    await cache.set('a', { n: 1 })
    expect(await cache.get('a')).toEqual({ n: 1 })
    expect(await cache.getOrSet('b', async () => 'loaded')).toBe('loaded')
    const master = await topo.master()
    expect(await rawGet(master, 'basic:b')).toContain('loaded')
    expect((await cache.delete('a')).status).toBe('applied')
    expect(await rawGet(master, 'basic:a')).toBe('')
  })

  let killed: RedisNode | undefined

  it('SIGKILL of the master under load: no errors, no wrong values, bounded calls', async () => {
    const { old } = await underFailover('kill', (master) => topo.kill(master))
    killed = old
  }, 60_000)

  it('the killed master comes back as a replica and is never written to', async () => {
    expect(killed).toBeDefined()
    const old = killed!
    const cache = open({ l1: false, namespace: 'rejoin' })
    const load = startMixedLoad(cache, { maxMs: 14_000, maxCalls: 40_000, prefix: 'load' })
    await topo.restart(old)
    const role = await roleOf(old, 'slave', 25_000)
    load.stop()
    const report = await load.done
    expect(role).toBe('slave')
    expectClean('rejoin', report)
    expect(await checkFinalState(cache, report, 'rejoin')).toEqual([])
  }, 60_000)

  it('SIGSTOP of the master past down-after, SIGCONT after the promotion', async () => {
    await underFailover(
      'pause',
      async (master) => {
        topo.pause(master)
        // SIGSTOP is asynchronous: without this, the probe write below may still be acknowledged by the
        // old master — and then, correctly, be re-invalidated by the failover journal instead of landing.
        await new Promise((resolve) => setTimeout(resolve, 200))
      },
      async (old) => topo.resume(old),
    )
  }, 60_000)

  it('manual SENTINEL FAILOVER: the old master stays up as a replica; writes re-resolve, no READONLY', async () => {
    const cache = open({ l1: false, namespace: 'manual', consistency: 'replicated' })
    const events: StoreEvent[] = []
    // What the store went through, for the failure message of a wrong read (times from the load's start).
    const timeline: string[] = []
    let loadStart = Date.now()
    cache.on('store', (event) => {
      events.push(event)
      const error = 'error' in event ? ` ${(event.error as Error | undefined)?.message ?? ''}` : ''
      const operation = 'operation' in event ? ` ${event.operation}` : ''
      if (timeline.length < 200)
        timeline.push(`+${Date.now() - loadStart} ms ${event.type}${operation}${error}`)
    })
    await cache.ready()
    const old = await topo.master()
    loadStart = Date.now()
    const load = startMixedLoad(cache, { maxMs: 10_000, maxCalls: 40_000, prefix: 'load' })
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const startedAt = Date.now()
    const next = await topo.failover()
    const promotedAt = Date.now()
    const probe = `probe-${Date.now()}`
    await cache.set('probe:write', probe)
    const landedAt = await waitForValue(next, 'manual:probe:write', probe)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    load.stop()
    const report = await load.done
    if (report.wrong.length > 0) console.log(`[manual] store events:\n${timeline.join('\n')}`)
    console.log(
      `[manual] failover from ${startedAt - loadStart} ms to ${promotedAt - loadStart} ms of the load`,
    )
    expectClean('manual', report)
    expect(await checkFinalState(cache, report, 'manual')).toEqual([])
    // The old master is alive and a replica: a client stuck on it would get READONLY for every write.
    expect(await roleOf(old, 'slave')).toBe('slave')
    const unhandled = events.filter(
      (e) => e.type === 'error' && /READONLY/.test(String((e.error as Error)?.message)),
    )
    expect(unhandled).toEqual([])
    expect(events.some((e) => e.type === 'failover')).toBe(true)
    const line = `[manual] failover took ${promotedAt - startedAt} ms; write on the new master ${landedAt - promotedAt} ms after`
    measured.push(line)
    console.log(line)
  }, 60_000)

  it('role=replica reads from a replica (master fallback), writes to the master, never reads back what it invalidated', async () => {
    // A short guard window so the test can wait it out and see replica reads.
    const cache = open({
      l1: false,
      namespace: 'replica',
      url: `${topo.url}?role=replica&replicaLagWindowMs=300`,
    })
    await cache.ready()
    await cache.set('r', 'from-master')
    expect(await rawGet(await topo.master(), 'replica:r')).toContain('from-master')
    // First read: the replica connection is still coming up (and the key was just written) → the master.
    expect(await cache.get('r')).toBe('from-master')
    const until = Date.now() + 5_000
    while (cache.health().detail?.replica !== 'ready' && Date.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(cache.health().detail?.replica).toBe('ready')
    // Earlier tests failed the master over; a replica may still be resyncing. Wait until the value has
    // replicated to every replica, so what follows tests the store, not replication lag.
    const replicas = await topo.replicas()
    for (const replica of replicas) await waitForValue(replica, 'replica:r', 'from-master')
    await new Promise((resolve) => setTimeout(resolve, 350)) // past replicaLagWindowMs
    // Served by a replica now: the replicas' GET count moves.
    const replicaGets = async () => {
      let total = 0
      for (const replica of replicas) {
        const info = String(
          await command(replica.host, replica.port, ['INFO', 'commandstats'], { timeoutMs: 1_000 }),
        )
        total += Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0)
      }
      return total
    }
    const before = await replicaGets()
    expect(await cache.get('r')).toBe('from-master')
    expect(await replicaGets()).toBeGreaterThan(before)
    // Deleted on the master: the next read must not come from a replica that may not have the DEL yet.
    expect((await cache.delete('r')).status).toBe('applied')
    expect(await cache.getOrSet('r', async () => 'reloaded')).toBe('reloaded')
    expect(await cache.get('r')).toBe('reloaded')
  })

  it('works with the first sentinel of the URL down at start-up', async () => {
    const first = topo.sentinels[0]!
    await topo.kill(first)
    try {
      const cache = open({ namespace: 'one-down' })
      await cache.ready()
      await cache.set('x', 'y')
      expect(await cache.get('x')).toBe('y')
      expect(await rawGet(await topo.master(), 'one-down:x')).toContain('y')
    } finally {
      await topo.restart(first)
    }
  }, 30_000)

  it('all sentinels down: fails open (miss, loader, set resolves) with a clear error event', async () => {
    await Promise.all(topo.sentinels.map((s) => topo.kill(s)))
    const cache = open({ namespace: 'no-sentinel' })
    const errors: unknown[] = []
    cache.on('error', ({ error }) => errors.push(error))
    const t0 = performance.now()
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getOrSet('k2', async () => 'from-loader')).toBe('from-loader')
    await cache.set('k3', 'v')
    expect(performance.now() - t0).toBeLessThan(4 * MAX_CALL_MS)
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline && !errors.some((e) => /none of the sentinels/.test(String(e)))) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const clear = errors.find((e) => /none of the sentinels/.test(String(e))) as Error & { code?: string }
    expect(clear?.code).toBe('STORE_UNAVAILABLE')
    expect(clear?.message).toContain(`'mymaster'`)
  }, 30_000)
})

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
