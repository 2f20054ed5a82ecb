/**
 * Child process of the memory scenario: fills one library's L1 with `count` small entries and prints the
 * heap growth per entry as JSON. Run with --expose-gc; one process per library so nothing else shares the heap.
 *
 *   node --expose-gc dist/scenarios/memory-child.js <library> <count>
 */
import type { RemoteStore } from '@tiercache/core'
import { APPLIED, createCache } from '@tiercache/core'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { LRUCache } from 'lru-cache'
import { keys, user } from '../fixtures.js'

type Filler = (names: readonly string[]) => Promise<unknown>

/** A remote tier that keeps nothing, so the heap delta is the L1 alone (memory:// would hold a copy). */
const nullStore: RemoteStore = {
  kind: 'null',
  ready: async () => {},
  get: async () => undefined,
  getMany: async (list) => list.map(() => undefined),
  set: async () => {},
  setMany: async () => {},
  delete: async () => APPLIED,
  getGenerations: async (list) => list.map(() => 0),
  bumpGenerations: async () => APPLIED,
  clearPrefix: async () => APPLIED,
  health: () => ({ state: 'ready' }),
  close: async () => {},
}

const FILLERS: Record<string, Filler> = {
  // The values alone, held in an array: what any cache must at least retain besides the keys.
  'raw data': async (names) => names.map((_, i) => user(i)),
  'lru-cache': async (names) => {
    const lru = new LRUCache<string, object>({ max: names.length })
    for (let i = 0; i < names.length; i++) lru.set(names[i]!, user(i))
    return lru
  },
  tiercache: async (names) => {
    const cache = createCache({ store: nullStore, ttl: '1h', l1: { max: names.length, ttl: '1h' } })
    for (let i = 0; i < names.length; i++) await cache.set(names[i]!, user(i))
    return cache
  },
  'bentocache (serialize: false)': async (names) => {
    const bento = new BentoCache({
      default: 'memory',
      stores: {
        memory: bentostore().useL1Layer(memoryDriver({ maxItems: names.length, serialize: false })),
      },
    })
    for (let i = 0; i < names.length; i++) await bento.set({ key: names[i]!, value: user(i), ttl: '1h' })
    return bento
  },
  bentocache: async (names) => {
    const bento = new BentoCache({
      default: 'memory',
      stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: names.length })) },
    })
    for (let i = 0; i < names.length; i++) await bento.set({ key: names[i]!, value: user(i), ttl: '1h' })
    return bento
  },
}

export const MEMORY_LIBRARIES = Object.keys(FILLERS)

function settle(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

async function measure(library: string, count: number): Promise<void> {
  const fill = FILLERS[library]
  if (fill === undefined) throw new Error(`unknown library ${library}`)
  // Key strings are built before the baseline so every library is charged for them alike (they are
  // retained by each cache); the values are built inside the fill, as a cache-aside caller would.
  const names = keys('user:', count)
  // Warm up the code paths (and lazily created module state) before the baseline.
  await fill(keys('warm:', 100))
  const before = settle()
  const held = await fill(names)
  const after = settle()
  process.stdout.write(`${JSON.stringify({ library, count, bytesPerEntry: (after - before) / count })}\n`)
  // Keep `held` reachable until after the measurement.
  if (held === undefined) process.exitCode = 2
  process.exit()
}

if (process.argv[1]?.endsWith('memory-child.js')) await measure(process.argv[2]!, Number(process.argv[3]))
