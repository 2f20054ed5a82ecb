import type { Cache } from '@tiercache/core'
import { createCache } from '@tiercache/core'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { Cacheable } from 'cacheable'
import { LRUCache } from 'lru-cache'
import { keys, type User, user } from '../fixtures.js'
import { type Section, table } from '../harness/report.js'
import { formatOps, formatRatio } from '../harness/stats.js'
import { type Contender, measureThroughput, type ThroughputOptions } from '../harness/throughput.js'

const KEY_COUNT = 1_000
const BATCH = 1_000

/**
 * L1 hit: every contender answers from process memory; each batch awaits `BATCH` reads in one loop,
 * cycling over 1,000 warm keys. Bars: tiercache `get` ≥ 25% of bare lru-cache, ≥ 5× bentocache.
 */
export async function l1Hit(options: ThroughputOptions): Promise<Section> {
  const names = keys('user:', KEY_COUNT)
  const values = names.map((_, i) => user(i))

  const lru = new LRUCache<string, User>({ max: 10_000 })
  const tier: Cache = createCache({ store: 'memory://bench-l1', ttl: '1h', l1: { max: 10_000, ttl: '1h' } })
  // Real services use a namespace: the L1 key is then built per call ('billing:' + key).
  const tierNs: Cache = createCache({
    store: 'memory://bench-l1',
    namespace: 'billing',
    ttl: '1h',
    l1: { max: 10_000, ttl: '1h' },
  })
  // bentocache's memory driver JSON-serializes entries by default; `serialize: false` keeps references
  // like tiercache's L1 does. Both are measured; the bar is checked against the faster one.
  const bento = new BentoCache({
    default: 'memory',
    stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
  })
  const bentoRef = new BentoCache({
    default: 'memory',
    stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })) },
  })
  const cacheable = new Cacheable({ ttl: '1h' })

  for (let i = 0; i < KEY_COUNT; i++) {
    const key = names[i]!
    const value = values[i]!
    lru.set(key, value)
    await tier.set(key, value)
    await tierNs.set(key, value)
    await bento.set({ key, value, ttl: '1h' })
    await bentoRef.set({ key, value, ttl: '1h' })
    await cacheable.set(key, value)
  }
  const loader = (): User => user(-1)
  // What @Cached passes on every call: one options object, built once.
  const shared = { ttl: '1h', grace: '1d' } as const
  // Every contender must really hit: a miss would be a much cheaper (or costlier) path.
  let sink = 0
  const check = (value: unknown): void => {
    if (value === undefined) throw new Error('L1 benchmark missed')
    sink++
  }

  const contenders: Contender[] = [
    {
      name: 'lru-cache get (awaited)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await lru.get(names[i % KEY_COUNT]!))
      },
    },
    {
      name: 'tiercache get',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await tier.get(names[i % KEY_COUNT]!))
      },
    },
    {
      name: 'tiercache get (namespace)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await tierNs.get(names[i % KEY_COUNT]!))
      },
    },
    {
      name: 'tiercache getOrSet',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await tier.getOrSet(names[i % KEY_COUNT]!, loader))
      },
    },
    {
      name: 'tiercache getOrSet (shared options)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await tier.getOrSet(names[i % KEY_COUNT]!, loader, shared))
      },
    },
    {
      name: 'tiercache getOrSet (inline options)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++)
          check(await tier.getOrSet(names[i % KEY_COUNT]!, loader, { ttl: '1h', tags: ['org:7'] }))
      },
    },
    {
      name: 'bentocache get',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await bento.get({ key: names[i % KEY_COUNT]! }))
      },
    },
    {
      name: 'bentocache get (serialize: false)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await bentoRef.get({ key: names[i % KEY_COUNT]! }))
      },
    },
    {
      name: 'cacheable get',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) check(await cacheable.get(names[i % KEY_COUNT]!))
      },
    },
  ]
  const ops = await measureThroughput(contenders, options)
  await tier.close()
  await tierNs.close()
  await bento.disconnectAll()
  await bentoRef.disconnectAll()
  await cacheable.disconnect()
  if (sink === 0) throw new Error('nothing measured')

  const lruOps = ops.get('lru-cache get (awaited)')!
  const bentoBest = Math.max(ops.get('bentocache get')!, ops.get('bentocache get (serialize: false)')!)
  const rows = contenders.map((c) => {
    const v = ops.get(c.name)!
    return [c.name, formatOps(v), formatRatio(v / lruOps), formatRatio(v / bentoBest)]
  })
  const tierGet = ops.get('tiercache get')!
  const tierGetOrSet = ops.get('tiercache getOrSet')!
  return {
    id: 'l1-hit',
    title: 'L1 hit (1,000 warm keys, awaited in one loop)',
    markdown: table(['contender', 'throughput', 'vs lru-cache', 'vs best bentocache'], rows),
    bars: [
      {
        name: 'L1 get ≥ 25% of bare lru-cache',
        actual: tierGet / lruOps,
        target: 0.25,
        op: '>=',
        unit: 'ratio',
      },
      { name: 'L1 get ≥ 5× bentocache', actual: tierGet / bentoBest, target: 5, op: '>=', unit: 'ratio' },
      {
        name: 'L1 getOrSet ≥ 25% of bare lru-cache',
        actual: tierGetOrSet / lruOps,
        target: 0.25,
        op: '>=',
        unit: 'ratio',
      },
      {
        name: 'L1 getOrSet ≥ 5× bentocache',
        actual: tierGetOrSet / bentoBest,
        target: 5,
        op: '>=',
        unit: 'ratio',
      },
    ],
    data: Object.fromEntries(ops),
  }
}
