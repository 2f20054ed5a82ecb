import { createStore } from '@tiercache/cluster'
import { type CacheOptions, createCache, parseStoreUrl, type RemoteStore } from '@tiercache/core'
import {
  type ClusterTopology,
  command,
  heldLoader,
  keySlot,
  redisBinary,
  startCluster,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withoutBus } from '../../../test/consistency/stale-set-race.js'
import type { ClusterStore } from '../src/store.js'

const bin = redisBinary()

/** A store whose fenced reads and writes are recorded (the fence keys the engine asked for, the outcomes). */
function recordingStore(topology: ClusterTopology) {
  const store = createStore({ url: topology.url, parsed: parseStoreUrl(topology.url) }) as ClusterStore
  const reads: Array<{ key: string; fence: readonly string[] }> = []
  const writes: Array<{ key: string; written: boolean | 'rejected' }> = []
  const getFenced = store.getFenced.bind(store)
  const setFenced = store.setFenced.bind(store)
  store.getFenced = (key, fence) => {
    reads.push({ key, fence })
    return getFenced(key, fence)
  }
  store.setFenced = (entry, fence, expected) =>
    setFenced(entry, fence, expected).then(
      (written) => {
        writes.push({ key: entry.key, written })
        return written
      },
      (error: unknown) => {
        writes.push({ key: entry.key, written: 'rejected' })
        throw error
      },
    )
  return { store, reads, writes }
}

/** `cmdstat_<name>` calls of a node since the last CONFIG RESETSTAT. */
async function calls(port: number, name: string): Promise<number> {
  const info = String(await command('127.0.0.1', port, ['INFO', 'commandstats']))
  return Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.skipIf(!bin.available)(`cluster fences: no stale sets (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology
  const closers: Array<{ close(): Promise<void> }> = []
  const cacheOn = (store: RemoteStore, options: CacheOptions) => {
    const cache = createCache({ ...options, store })
    closers.push(cache, store)
    return cache
  }
  /** CLUSTER KEYSLOT as the server computes it. */
  const serverSlot = async (key: string) =>
    Number(await command('127.0.0.1', topology.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', key]))
  /** GET on the master that serves `key` now. */
  const getOnOwner = async (key: string) => {
    const owner = await topology.masterForSlot(keySlot(key))
    return command('127.0.0.1', owner.port, ['GET', key])
  }

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
  })

  afterAll(async () => {
    await Promise.all(closers.map((closer) => closer.close().catch(() => undefined)))
    await topology?.stop()
  })

  it('every fence of a key lives in its slot (CLUSTER KEYSLOT): key fence and each namespace level’s clear fence, hash tags and stray braces included', async () => {
    const { store, reads } = recordingStore(topology)
    const keys = ['plain', 'user:42:profile', '{u7}:orders', 'odd}key', 'a{b', '{}empty-tag']
    for (const namespace of ['fs', 'fs:deep', '{tenant}fs']) {
      const cache = cacheOn(store, { namespace, l1: false })
      for (const key of keys) await cache.namespace('users').getOrSet(key, () => key)
    }
    closers.pop()
    expect(reads).toHaveLength(3 * keys.length)
    for (const { key, fence } of reads) {
      const slot = await serverSlot(key)
      expect(slot).toBe(keySlot(key)) // the testkit's slot function agrees with the server
      // The key fence, the root's clear fence, then one per ':'-terminated prefix below the root.
      const belowRoot = key.slice(key.indexOf('users:'))
      expect(fence.length).toBe(2 + (belowRoot.match(/:/g)?.length ?? 0))
      for (const fenceKey of fence)
        expect({ fenceKey, slot: await serverSlot(fenceKey) }).toEqual({ fenceKey, slot })
      expect(new Set(fence).size).toBe(fence.length)
    }
    // Every key has its own key fence.
    expect(new Set(reads.map((read) => read.fence[0])).size).toBe(reads.length)
  })

  it('a delete removes the value and bumps its key fence on the key’s master, with the fence TTL', async () => {
    const { store, reads } = recordingStore(topology)
    const cache = cacheOn(store, { namespace: 'del', l1: false, fenceTtl: '30s' })
    await cache.getOrSet('k', () => 'v')
    const { key, fence } = reads[0]!
    expect(await getOnOwner(key)).not.toBeNull()
    expect(await getOnOwner(fence[0]!)).toBeNull()
    await cache.delete('k')
    expect(await getOnOwner(key)).toBeNull()
    expect(await getOnOwner(fence[0]!)).toBe('1')
    const owner = await topology.masterForSlot(keySlot(fence[0]!))
    const ttl = Number(await command('127.0.0.1', owner.port, ['PTTL', fence[0]!]))
    expect(ttl).toBeGreaterThan(20_000)
    expect(ttl).toBeLessThanOrEqual(30_000)
  })

  it('a clear bumps its namespace’s clear fence in all 16,384 slots — on every master — and a load that read them before is refused', async () => {
    const { store, reads, writes } = recordingStore(topology)
    const cache = cacheOn(store, { namespace: 'clr', l1: false })
    // Another instance clears (this one would see its own clear and skip the write before the store does).
    const other = createStore({ url: topology.url, parsed: parseStoreUrl(topology.url) }) as ClusterStore
    const otherUsers = cacheOn(other, { namespace: 'clr' }).namespace('users')
    const users = cache.namespace('users')
    const held = heldLoader(() => 'old')
    const loading = users.getOrSet('k', held.loader)
    await held.entered
    await otherUsers.clear()
    held.release()
    expect(await loading).toBe('old')
    expect(writes).toEqual([{ key: reads[0]!.key, written: false }])
    expect(await users.get('k')).toBeUndefined()

    const masters = await topology.masters()
    const perMaster: number[] = []
    for (const master of masters) {
      const found = (await command('127.0.0.1', master.port, ['KEYS', 'clr:__tc:c:*users:'])) as string[]
      perMaster.push(found.length)
      // Each master holds the fences of its own slots only (the server would refuse any other), bumped once.
      for (const fenceKey of found.slice(0, 20)) {
        expect(await command('127.0.0.1', master.port, ['GET', fenceKey])).toBe('1')
      }
    }
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(16_384)
    for (const count of perMaster) expect(count).toBeGreaterThan(5000)
    // The clear fence the load checked (its key's slot, level users:) is one of them.
    const checked = reads[0]!.fence.at(-1)!
    expect(checked).toMatch(/^clr:__tc:c:\{[0-9a-z]+\}users:$/)
    expect(await getOnOwner(checked)).toBe('1')
  })

  it('getOrSet’s miss costs one round trip to one node for the read: one MGET of the value and its fences on the key’s master, then one script there', async () => {
    const { store, reads } = recordingStore(topology)
    const cache = cacheOn(store, { namespace: 'rt', l1: false })
    await cache.ready()
    // Connections to every master open, the script loaded on the owner.
    await cache.getMany(Array.from({ length: 30 }, (_, i) => `warm${i}`))
    await cache.getOrSet('warm', () => 'w')
    const masters = await topology.masters()
    const owner = await topology.masterForSlot(keySlot('rt:miss'))
    for (const master of masters) await command('127.0.0.1', master.port, ['CONFIG', 'RESETSTAT'])
    const writes = new Map<number, number>()
    const restore: Array<() => void> = []
    for (const node of store.client.nodes('master')) {
      const port = Number(node.options.port)
      const stream = (node as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream
      const original = stream.write
      stream.write = function (this: unknown, ...args: unknown[]) {
        writes.set(port, (writes.get(port) ?? 0) + 1)
        return original.apply(this, args)
      }
      restore.push(() => {
        stream.write = original
      })
    }
    const pipelinesBefore = store.batchStats.pipelines
    let read = -1
    const value = await cache.getOrSet('miss', () => {
      read = writes.get(owner.port) ?? 0
      return 'v'
    })
    for (const undo of restore) undo()
    expect(value).toBe('v')
    expect(read).toBe(1) // before the loader ran: one socket write, to the owner
    expect(writes.get(owner.port)).toBe(2) // + the fenced write
    for (const master of masters) {
      const own = master.port === owner.port
      expect(await calls(master.port, 'mget')).toBe(own ? 1 : 0)
      expect((await calls(master.port, 'evalsha')) + (await calls(master.port, 'eval'))).toBe(own ? 1 : 0)
      // Inside that script (commandstats counts a script's own calls): one GET per fence, one SET.
      expect(await calls(master.port, 'get')).toBe(own ? reads.at(-1)!.fence.length : 0)
      expect(await calls(master.port, 'set')).toBe(own ? 1 : 0)
      if (!own) expect(writes.get(master.port) ?? 0).toBe(0)
    }
    expect(store.batchStats.pipelines).toBe(pipelinesBefore)
  })

  // Last: it kills a master.
  it('a delete queued while the key’s master is down is replayed with its fence bump after the failover: a load that read the fences before the kill is refused', async () => {
    const victim = (await topology.masters())[0]!
    let key = ''
    for (let i = 0; ; i++) {
      if ((await topology.masterForSlot(keySlot(`fo:k${i}`))).port === victim.port) {
        key = `k${i}`
        break
      }
    }
    const loader = recordingStore(topology)
    const a = cacheOn(loader.store, { namespace: 'fo', l1: false })
    const invalidator = createStore({
      url: topology.url,
      parsed: parseStoreUrl(topology.url),
    }) as ClusterStore
    // Its bus message must not reach the loader's process (which would then skip its write): the fences alone
    // must refuse it.
    const b = cacheOn(withoutBus(invalidator), { namespace: 'fo' })
    const events: string[] = []
    invalidator.observe((event) => events.push(event.type))
    await Promise.all([a.ready(), b.ready()])

    const held = heldLoader(() => 'old')
    const loading = a.getOrSet(key, held.loader)
    await held.entered
    const { fence } = loader.reads.at(-1)!
    await topology.kill(victim)
    await b.delete(key) // the master is gone: queued
    expect(events).toContain('invalidation-queued')
    expect(invalidator.health().queuedInvalidations).toBe(1)

    const promoted = await topology.waitForFailover({ from: victim, timeoutMs: 20_000 })
    await waitFor(
      'the queued delete to be replayed',
      () => invalidator.health().queuedInvalidations === 0,
      15_000,
    )
    expect(events).toContain('invalidation-replayed')
    expect((await topology.masterForSlot(keySlot(`fo:${key}`))).port).toBe(promoted.port)
    expect(Number(await command('127.0.0.1', promoted.port, ['GET', fence[0]!]))).toBeGreaterThanOrEqual(1)
    expect(await command('127.0.0.1', promoted.port, ['GET', `fo:${key}`])).toBeNull()

    // The loader's store reaches the new master before its write (else the write fails, not refused).
    await waitFor(
      'the loader’s store to reach the promoted master',
      () =>
        loader.store.get(`fo:${key}`).then(
          () => true,
          () => false,
        ),
      15_000,
    )
    held.release()
    expect(await loading).toBe('old')
    expect(loader.writes.at(-1)).toEqual({ key: `fo:${key}`, written: false })
    expect(await command('127.0.0.1', promoted.port, ['GET', `fo:${key}`])).toBeNull()
    const fresh = createCache({ store: topology.url, namespace: 'fo' })
    closers.push(fresh)
    expect(await fresh.get(key)).toBeUndefined()
  }, 60_000)
})
