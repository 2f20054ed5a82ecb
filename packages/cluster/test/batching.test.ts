import { createStore } from '@tiercache/cluster'
import { createCache, parseStoreUrl, type RemoteStore } from '@tiercache/core'
import { type ClusterTopology, command, keySlot, redisBinary, startCluster } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterStore } from '../src/store.js'

const bin = redisBinary()

/** `cmdstat_<name>` calls of a node since the last CONFIG RESETSTAT. */
async function calls(port: number, name: string): Promise<number> {
  const info = String(await command('127.0.0.1', port, ['INFO', 'commandstats']))
  return Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
}

describe.skipIf(!bin.available)(`cluster batching, tags, clear and bus (${bin.reason ?? bin.binary})`, () => {
  let topology: ClusterTopology
  let store: ClusterStore

  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
    store = createStore({ url: topology.url, parsed: parseStoreUrl(topology.url) }) as ClusterStore
    await store.ready()
  })

  afterAll(async () => {
    await store?.close()
    await topology?.stop()
  })

  it('getMany/setMany of 100 keys over 3 masters: one pipeline (one socket write) per master, one MGET per slot', async () => {
    const cache = createCache({ store: store as RemoteStore, namespace: 'batch', l1: false, ttl: '1m' })
    const keys = Array.from({ length: 100 }, (_, i) => `user:${i}`)
    await cache.setMany(keys.map((key, i) => ({ key, value: { i } })))

    const masters = await topology.masters()
    expect(masters).toHaveLength(3)
    const slotsByMaster = new Map<number, Set<number>>()
    for (const master of masters) slotsByMaster.set(master.port, new Set())
    for (const key of keys) {
      const owner = await topology.masterForSlot(keySlot(`batch:${key}`))
      slotsByMaster.get(owner.port)!.add(keySlot(`batch:${key}`))
    }
    for (const master of masters) await command('127.0.0.1', master.port, ['CONFIG', 'RESETSTAT'])

    // Count what the client writes to each master's socket: one write = one round trip (a pipeline).
    const writes = new Map<string, number>()
    const restore: Array<() => void> = []
    for (const node of store.client.nodes('master')) {
      const key = `${node.options.port}`
      const stream = (node as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream
      const original = stream.write
      stream.write = function (this: unknown, ...args: unknown[]) {
        writes.set(key, (writes.get(key) ?? 0) + 1)
        return original.apply(this, args)
      }
      restore.push(() => {
        stream.write = original
      })
    }
    const values = await cache.getMany<{ i: number }>(keys)
    for (const undo of restore) undo()

    expect(values.map((value) => value?.i)).toEqual(keys.map((_, i) => i))
    for (const master of masters) {
      const slots = slotsByMaster.get(master.port)!.size
      expect(await calls(master.port, 'mget')).toBe(slots) // one MGET per slot of this master…
      expect(await calls(master.port, 'get')).toBe(0) // …and no per-key GET
      expect(writes.get(String(master.port))).toBe(1) // one round trip per master
    }
    console.info(
      `getMany(100): ${[...writes.values()].join('+')} socket writes over ${masters.length} masters, MGET calls per master ${[
        ...slotsByMaster.values(),
      ]
        .map((set) => set.size)
        .join('/')}`,
    )
  })

  it('setMany writes each key with its ttl in one pipeline per master', async () => {
    const masters = await topology.masters()
    for (const master of masters) await command('127.0.0.1', master.port, ['CONFIG', 'RESETSTAT'])
    const before = store.batchStats.pipelines
    const entries = Array.from({ length: 60 }, (_, i) => ({
      key: `raw:${i}`,
      value: new Uint8Array([i]),
      ttlMs: 60_000,
    }))
    await store.setMany(entries)
    expect(store.batchStats.pipelines - before).toBe(3)
    let sets = 0
    for (const master of masters) sets += await calls(master.port, 'set')
    expect(sets).toBe(60)
    const back = await store.getMany(entries.map((entry) => entry.key))
    expect(back.map((value) => (value instanceof Uint8Array ? value[0] : value))).toEqual(
      entries.map((_, i) => i),
    )
    const pttl = Number(await store.client.pttl('raw:1'))
    expect(pttl).toBeGreaterThan(50_000)
  })

  it('tags and clear work across masters (tag keys in their own slots, SCAN + UNLINK on every master)', async () => {
    const cache = createCache({ store: topology.url, namespace: 'shop', l1: false, ttl: '1m' })
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `item:${i}`)
      for (const key of keys) await cache.set(key, key, { tags: [`t${Number(key.split(':')[1]) % 4}`] })
      // keys and tags spread over all three masters
      const owners = new Set<number>()
      for (const key of keys) owners.add((await topology.masterForSlot(keySlot(`shop:${key}`))).port)
      expect(owners.size).toBe(3)
      const result = await cache.invalidateTags(['t0', 't1'])
      expect(result.status).toBe('applied')
      const after = await cache.getMany<string>(keys)
      keys.forEach((key, i) => {
        expect(after[i]).toBe(i % 4 < 2 ? undefined : key)
      })

      // Glob characters in a namespace are matched literally by clear.
      const odd = createCache({ store: topology.url, namespace: 'we*ird[1]', l1: false, ttl: '1m' })
      await odd.set('k', 1)
      const other = createCache({ store: topology.url, namespace: 'weXird1', l1: false, ttl: '1m' })
      await other.set('k', 2)
      await odd.clear()
      expect(await odd.get('k')).toBeUndefined()
      expect(await other.get('k')).toBe(2)
      await odd.close()
      await other.close()

      expect((await cache.clear()).status).toBe('applied')
      expect((await cache.getMany(keys)).every((value) => value === undefined)).toBe(true)
      for (const master of await topology.masters()) {
        const left = (await command('127.0.0.1', master.port, ['KEYS', 'shop:item:*'])) as string[]
        expect(left).toEqual([])
      }
    } finally {
      await cache.close()
    }
  })

  it("two instances: one instance's delete/invalidateTags drops the other's L1 through the bus", async () => {
    const a = createCache({ store: topology.url, namespace: 'bus', ttl: '1m', l1: { max: 100, ttl: '1m' } })
    const b = createCache({ store: topology.url, namespace: 'bus', ttl: '1m', l1: { max: 100, ttl: '1m' } })
    try {
      await a.ready()
      await b.ready()
      await a.set('k', 'v1', { tags: ['g'] })
      await a.set('j', 'w1', { tags: ['g'] })
      expect(await b.get('k')).toBe('v1') // now in b's L1
      expect(await b.get('j')).toBe('w1')
      // Let both bus subscriptions settle before publishing.
      await new Promise((resolve) => setTimeout(resolve, 300))
      await a.delete('k')
      await a.invalidateTags(['g'])
      const deadline = Date.now() + 3000
      while (Date.now() < deadline) {
        if ((await b.get('k')) === undefined && (await b.get('j')) === undefined) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(await b.get('k')).toBeUndefined()
      expect(await b.get('j')).toBeUndefined()
    } finally {
      await a.close()
      await b.close()
    }
  })
})
