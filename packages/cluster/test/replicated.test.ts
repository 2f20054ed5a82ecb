import { createStore } from '@tiercache/cluster'
import { parseStoreUrl, TierCacheError } from '@tiercache/core'
import {
  type ClusterTopology,
  command,
  keySlot,
  type RedisNode,
  RespConnection,
  redisBinary,
  startCluster,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveClusterOptions } from '../src/options.js'
import type { ClusterStore } from '../src/store.js'

const bin = redisBinary()

const fromUrl = (url: string, extra: Record<string, unknown> = {}) =>
  resolveClusterOptions({ url, parsed: parseStoreUrl(url), ...extra })

/** The `code` of the TierCacheError `call` throws (fails the test when it throws anything else). */
function codeOf(call: () => unknown): string {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(TierCacheError)
    return (error as TierCacheError).code
  }
  throw new Error('expected a TierCacheError, nothing was thrown')
}

describe('cluster consistency options', () => {
  it('default async; URL and options form; explicit options win over the URL', () => {
    expect(fromUrl('redis+cluster://h:7000')).toMatchObject({
      consistency: 'async',
      waitReplicas: 1,
      waitTimeoutMs: 500,
    })
    expect(
      fromUrl('redis+cluster://h:7000,h:7001?consistency=replicated&waitReplicas=2&waitTimeoutMs=250'),
    ).toMatchObject({ consistency: 'replicated', waitReplicas: 2, waitTimeoutMs: 250 })
    expect(
      resolveClusterOptions({
        type: 'cluster',
        nodes: ['h:7000'],
        consistency: 'replicated',
        waitReplicas: 0,
      }),
    ).toMatchObject({ consistency: 'replicated', waitReplicas: 0, waitTimeoutMs: 500 })
    expect(
      fromUrl('redis+cluster://h:7000?consistency=replicated&waitTimeoutMs=900', {
        consistency: 'async',
        waitTimeoutMs: 100,
      }),
    ).toMatchObject({ consistency: 'async', waitTimeoutMs: 100 })
  })

  it('bad values are INVALID_OPTION, an unknown (misspelt) URL parameter INVALID_URL', () => {
    const bad: Array<[() => unknown, string]> = [
      [() => fromUrl('redis+cluster://h:7000?consistency=strong'), 'INVALID_OPTION'],
      [() => fromUrl('redis+cluster://h:7000?waitReplicas=-1'), 'INVALID_OPTION'],
      [() => fromUrl('redis+cluster://h:7000?waitReplicas=one'), 'INVALID_OPTION'],
      [() => fromUrl('redis+cluster://h:7000?waitTimeoutMs=0'), 'INVALID_OPTION'],
      [() => fromUrl('redis+cluster://h:7000?waitreplicas=1'), 'INVALID_URL'],
      [() => resolveClusterOptions({ nodes: ['h:1'], consistency: 'sync' }), 'INVALID_OPTION'],
      [() => resolveClusterOptions({ nodes: ['h:1'], waitReplicas: 1.5 }), 'INVALID_OPTION'],
      [() => resolveClusterOptions({ nodes: ['h:1'], waitTimeoutMs: -5 }), 'INVALID_OPTION'],
    ]
    for (const [call, code] of bad) expect(codeOf(call)).toBe(code)
    expect(() => fromUrl('redis+cluster://h:7000?consistency=strong')).toThrow(
      /consistency must be 'async' or 'replicated', got 'strong'/,
    )
  })
})

/** `cmdstat_wait` calls of a node since its last CONFIG RESETSTAT. */
async function waits(port: number): Promise<number> {
  const info = String(await command('127.0.0.1', port, ['INFO', 'commandstats']))
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(info)?.[1] ?? 0)
}

/** GET on a replica (READONLY: a cluster replica would answer MOVED otherwise). */
async function readReplica(replica: RedisNode, key: string): Promise<unknown> {
  const conn = await RespConnection.open('127.0.0.1', replica.port)
  try {
    await conn.call(['READONLY'])
    return await conn.call(['GET', key])
  } finally {
    conn.close()
  }
}

/** Keys `${prefix}N` whose slot `master` serves. */
async function keysOn(topology: ClusterTopology, master: RedisNode, prefix: string, count: number) {
  const keys: string[] = []
  for (let i = 0; keys.length < count && i < 10_000; i++) {
    const key = `${prefix}${i}`
    if ((await topology.masterForSlot(keySlot(key))).port === master.port) keys.push(key)
  }
  expect(keys).toHaveLength(count)
  return keys
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

describe.skipIf(!bin.available)(`cluster consistency: 'replicated' (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology
  const stores: ClusterStore[] = []
  /** master port → its replica */
  const replicaOf = new Map<number, RedisNode>()

  const open = (query: string) => {
    const url = query === '' ? topology.url : `${topology.url}?${query}`
    const store = createStore({ url, parsed: parseStoreUrl(url) }) as ClusterStore
    stores.push(store)
    return store
  }
  const resetStats = async () => {
    for (const master of await topology.masters())
      await command('127.0.0.1', master.port, ['CONFIG', 'RESETSTAT'])
  }
  const waitsPerMaster = async () =>
    Promise.all((await topology.masters()).map(async (master) => waits(master.port)))

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
    for (const node of topology.nodes) {
      const role = (await command('127.0.0.1', node.port, ['ROLE'])) as unknown[]
      if (role[0] === 'slave') replicaOf.set(Number(role[2]), node)
    }
    expect(replicaOf.size).toBe(3)
  })

  afterAll(async () => {
    for (const node of topology?.nodes ?? []) if (node.paused) topology.resume(node)
    await Promise.all(stores.map((store) => store.close().catch(() => undefined)))
    await topology?.stop()
  })

  it('health() shows the consistency and its WAIT parameters', async () => {
    const replicated = open('consistency=replicated&waitReplicas=1&waitTimeoutMs=300')
    const async = open('waitTimeoutMs=300')
    await Promise.all([replicated.ready(), async.ready()])
    expect(replicated.health().detail).toMatchObject({
      consistency: 'replicated',
      waitReplicas: 1,
      waitTimeoutMs: 300,
    })
    expect(async.health().detail).toMatchObject({ consistency: 'async' })
    expect(async.health().detail).not.toHaveProperty('waitReplicas')
  })

  it('every invalidation path WAITs on each master it touched and resolves applied with the change already on the replicas; async sends no WAIT', async () => {
    const masters = await topology.masters()
    // Interleaved, so that each half of the list has keys on every master.
    const perMasterKeys = await Promise.all(masters.map((m, i) => keysOn(topology, m, `rp${i}:`, 4)))
    const keys = [0, 1, 2, 3].flatMap((j) => perMasterKeys.map((list) => list[j]!))
    // Fence and generation keys in their key's slot, outside the cleared prefix.
    const aux = (key: string, kind: string) => `{${key}}:${kind}`
    const [plain, fenced] = [keys.slice(0, 6), keys.slice(6)]
    const replicated = open('consistency=replicated')
    const async = open('')
    await Promise.all([replicated.ready(), async.ready()])
    const value = new Uint8Array([7])

    for (const [name, store, expectWait] of [
      ['async', async, false],
      ['replicated', replicated, true],
    ] as const) {
      // Plain delete (UNLINK), fenced delete (script: UNLINK + fence INCR), generation bumps (INCR), clear.
      // Each step: what it runs, and per key what its replica must hold once it resolved (null: gone;
      // a number: the generation of that key at least).
      const steps: Array<[string, () => Promise<{ status: string }>, Array<[string, null | number]>]> = [
        ['delete', () => store.delete(plain), plain.map((k) => [k, null])],
        [
          'fenced delete',
          () => store.delete(fenced, { keys: fenced.map((k) => aux(k, `f-${name}`)), ttlMs: 60_000 }),
          fenced.flatMap(
            (k): Array<[string, null | number]> => [
              [k, null],
              [aux(k, `f-${name}`), 1],
            ],
          ),
        ],
        [
          'bumpGenerations',
          () => store.bumpGenerations(keys.map((k) => aux(k, `g-${name}`))),
          keys.map((k) => [aux(k, `g-${name}`), 1]),
        ],
        [
          'clearPrefix',
          () =>
            store.clearPrefix('rp', undefined, { keys: keys.map((k) => aux(k, `c-${name}`)), ttlMs: 60_000 }),
          keys.flatMap(
            (k): Array<[string, null | number]> => [
              [k, null],
              [aux(k, `c-${name}`), 1],
            ],
          ),
        ],
      ]
      for (const [step, run, expected] of steps) {
        for (const key of keys) await store.set(key, value, 60_000)
        await resetStats()
        const result = await run()
        // Read at once, before anything else could let replication catch up.
        const seen = await Promise.all(
          expected.map(async ([key]) => {
            const master = await topology.masterForSlot(keySlot(key))
            const held = await readReplica(replicaOf.get(master.port)!, key)
            return held === null ? null : Number(held)
          }),
        )
        const perMaster = await waitsPerMaster()
        expect({ name, step, status: result.status }).toEqual({ name, step, status: 'applied' })
        if (expectWait) {
          // A WAIT on each of the three masters: every step touched keys on each.
          expect({ name, step, waited: perMaster.map((count) => count > 0) }).toEqual({
            name,
            step,
            waited: [true, true, true],
          })
          expected.forEach(([key, want], i) => {
            const got = seen[i]
            const ok = want === null ? got === null : got !== null && got !== undefined && got >= want
            expect({ step, key, got, ok }).toEqual({ step, key, got, ok: true })
          })
        } else {
          expect({ name, step, perMaster }).toEqual({ name, step, perMaster: [0, 0, 0] })
        }
      }
    }

    // Cost of one single-key delete, sequentially: async vs replicated (logged, loosely bounded).
    const costs: Record<string, number> = {}
    for (const [name, store] of [
      ['async', async],
      ['replicated', replicated],
    ] as const) {
      const times: number[] = []
      for (let i = 0; i < 100; i++) {
        const key = keys[i % keys.length]!
        await store.set(key, value, 60_000)
        const start = performance.now()
        await store.delete([key])
        times.push(performance.now() - start)
      }
      costs[name] = median(times)
    }
    console.info(
      `delete of one key, median of 100: async ${costs.async!.toFixed(2)} ms, replicated ${costs.replicated!.toFixed(2)} ms`,
    )
    expect(costs.replicated!).toBeLessThan(250)
  })

  it('with the key’s replica paused: async is applied; replicated is queued, then replays applied once the replica is back', async () => {
    const master = (await topology.masters())[1]!
    const replica = replicaOf.get(master.port)!
    const [key, other] = await keysOn(topology, master, 'pz:', 2)
    const tuning = 'invalidationDeadlineMs=1500&waitTimeoutMs=200'
    const async = open(tuning)
    const replicated = open(`consistency=replicated&${tuning}`)
    await Promise.all([async.ready(), replicated.ready()])
    const value = new Uint8Array([1])
    await replicated.set(key!, value, 60_000)
    await replicated.set(other!, value, 60_000)
    topology.pause(replica)
    try {
      const started = Date.now()
      expect(await async.delete([other!])).toEqual({ status: 'applied' })
      const result = await replicated.delete([key!])
      const tookMs = Date.now() - started
      expect(result.status).toBe('queued')
      expect(replicated.health().queuedInvalidations).toBeGreaterThan(0)
      // It was applied on the master (only not confirmed): the master no longer has it.
      expect(await command('127.0.0.1', master.port, ['GET', key!])).toBeNull()
      // Bounded by the invalidation deadline (1.5 s) plus one WAIT and slack for a loaded machine.
      expect(tookMs).toBeLessThan(6000)
      topology.resume(replica)
      const replayed = await Promise.race([
        (result as { replayed: Promise<'applied' | 'dropped'> }).replayed,
        new Promise((resolve) => setTimeout(resolve, 15_000, 'timed out')),
      ])
      expect(replayed).toBe('applied')
      expect(await readReplica(replica, key!)).toBeNull()
      expect(replicated.health().queuedInvalidations).toBe(0)
    } finally {
      if (replica.paused) topology.resume(replica)
    }
  }, 40_000)

  it('chaos: the master is SIGKILLed right after a replicated delete resolved; the promoted replica has neither the old value nor an un-bumped fence', async () => {
    const victim = (await topology.masters())[2]!
    const keys = await keysOn(topology, victim, 'ch:', 20)
    const fenceKeys = keys.map((key) => `{${key}}:fence`)
    const store = open('consistency=replicated')
    await store.ready()
    const value = new Uint8Array([9])
    for (const key of keys) await store.set(key, value, 60_000)
    // The fences start at a known generation.
    expect(await store.delete(keys.slice(0, 1), { keys: fenceKeys.slice(0, 1), ttlMs: 60_000 })).toEqual({
      status: 'applied',
    })
    await store.set(keys[0]!, value, 60_000)
    const before = await Promise.all(
      fenceKeys.map(async (k) => Number(await command('127.0.0.1', victim.port, ['GET', k]))),
    )
    await command('127.0.0.1', victim.port, ['CONFIG', 'RESETSTAT'])
    const result = await store.delete(keys, { keys: fenceKeys, ttlMs: 60_000 })
    await topology.kill(victim)
    expect(result).toEqual({ status: 'applied' })
    const promoted = await topology.waitForFailover({ from: victim, timeoutMs: 20_000 })
    for (let i = 0; i < keys.length; i++) {
      expect({ key: keys[i], value: await command('127.0.0.1', promoted.port, ['GET', keys[i]!]) }).toEqual({
        key: keys[i],
        value: null,
      })
      const fence = Number(await command('127.0.0.1', promoted.port, ['GET', fenceKeys[i]!]))
      expect({ key: fenceKeys[i], bumped: fence > before[i]! }).toEqual({ key: fenceKeys[i], bumped: true })
    }
    // And the store goes on against the promoted master, still confirming with WAIT (its replica is dead:
    // there is none to wait for, so a replicated delete there is queued, not applied).
    const after = await store.delete([keys[0]!])
    expect(after.status).toBe('queued')
  }, 60_000)
})
