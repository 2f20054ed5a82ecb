/**
 * Core's own cost on a remote hit, without a network: a store whose `get` resolves at once with the
 * bytes tiercache wrote. Compares cache.get (L1 off) with store.get + the baseline decoding.
 *
 *   node bench/dist/profile/engine-overhead.js      (bounded: 5 rounds of 200,000 reads per variant)
 */
import { createCache, MemoryStore } from '@tiercache/core'
import { keys, user } from '../fixtures.js'
import { decodeUntaggedEntry } from '../harness/envelope-baseline.js'

const store = MemoryStore.shared('engine-overhead')
const cache = createCache({ store, namespace: 'rh', ttl: '1h', l1: false })
const names = keys('user:', 1_000)
const full = names.map((n) => `rh:${n}`)
for (let i = 0; i < names.length; i++) await cache.set(names[i]!, user(i))

const variants: Record<string, (i: number) => Promise<unknown>> = {
  'store.get + decode': async (i) => {
    const bytes = await store.get(full[i]!)
    return bytes === undefined ? undefined : decodeUntaggedEntry(bytes)
  },
  'cache.get (L1 off)': (i) => cache.get(names[i]!),
}
const best = new Map<string, number>()
for (let round = 0; round < 5; round++) {
  for (const [name, read] of Object.entries(variants)) {
    const started = performance.now()
    for (let n = 0; n < 200_000; n += 1_024) {
      await Promise.all(
        Array.from({ length: 64 }, async (_, c) => {
          for (let j = 0; j < 16; j++)
            if ((await read((c * 16 + j) % 1_000)) === undefined) throw new Error('miss')
        }),
      )
    }
    const ops = 200_000 / ((performance.now() - started) / 1000)
    best.set(name, Math.max(best.get(name) ?? 0, ops))
  }
}
for (const [name, ops] of best)
  console.log(`${name}: ${(ops / 1e3).toFixed(0)} k/s, ${(1e9 / ops).toFixed(0)} ns/read`)
await cache.close()
