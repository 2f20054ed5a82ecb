/**
 * A bare L1-hit loop for profiling the hit path without the benchmark harness around it:
 *
 *   node --cpu-prof --cpu-prof-dir=.tmp/prof bench/dist/profile/l1-hit-loop.js [get|getOrSet|getOrSetOptions] [namespace]
 *
 * Bounded: 20 million reads or 10 seconds, whichever comes first.
 */
import { createCache } from '@tiercache/core'
import { keys, user } from '../fixtures.js'

const op = process.argv[2] ?? 'get'
const namespace = process.argv[3]
const cache = createCache({
  store: 'memory://profile',
  ttl: '1h',
  l1: { max: 10_000, ttl: '1h' },
  ...(namespace === undefined ? {} : { namespace }),
})
const names = keys('user:', 1_000)
for (let i = 0; i < names.length; i++) await cache.set(names[i]!, user(i))
const loader = () => user(-1)
// As @Cached passes them: one options object for every call.
const options = { ttl: '1h', grace: '1d' } as const
const read = (key: string): Promise<unknown> =>
  op === 'getOrSetOptions'
    ? cache.getOrSet(key, loader, options)
    : op === 'getOrSet'
      ? cache.getOrSet(key, loader)
      : cache.get(key)

const deadline = Date.now() + 10_000
const started = performance.now()
let reads = 0
let misses = 0
while (reads < 20_000_000 && Date.now() < deadline) {
  for (let i = 0; i < 100_000; i++) {
    const key = names[i % 1_000]!
    const value = await read(key)
    if (value === undefined) misses++
  }
  reads += 100_000
}
const seconds = (performance.now() - started) / 1000
console.log(
  `${op}${namespace ? ` (namespace ${namespace})` : ''}: ${(reads / seconds / 1e6).toFixed(2)} M/s, misses ${misses}`,
)
await cache.close()
