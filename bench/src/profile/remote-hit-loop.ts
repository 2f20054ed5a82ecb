/**
 * The remote-hit path (L1 off, 64 concurrent callers) without the harness, for profiling:
 *
 *   node --cpu-prof --cpu-prof-dir=.tmp/prof bench/dist/profile/remote-hit-loop.js [tiercache|raw]
 *
 * Starts its own redis-server (testkit) and stops it. Bounded: 300,000 reads or 10 seconds.
 */
import { createCache } from '@tiercache/core'
import { startStandalone } from '@tiercache/testkit'
import { Redis } from 'ioredis6'
import { keys, user } from '../fixtures.js'
import { decodeUntaggedEntry } from '../harness/envelope-baseline.js'

const which = process.argv[2] ?? 'tiercache'
const server = await startStandalone()
const cache = createCache({ store: server.url, namespace: 'rh', ttl: '1h', l1: false })
const raw = new Redis({ host: server.host, port: server.port, enableAutoPipelining: true })
try {
  const names = keys('user:', 1_000)
  for (let i = 0; i < names.length; i++) await cache.set(names[i]!, user(i))
  const read =
    which === 'raw'
      ? async (i: number) => {
          const bytes = await raw.getBuffer(`rh:${names[i]}`)
          return bytes === null ? undefined : decodeUntaggedEntry(bytes)
        }
      : (i: number) => cache.get(names[i]!)
  const deadline = Date.now() + 10_000
  const started = performance.now()
  let reads = 0
  while (reads < 300_000 && Date.now() < deadline) {
    await Promise.all(
      Array.from({ length: 64 }, async (_, c) => {
        for (let j = 0; j < 16; j++)
          if ((await read((c * 16 + j) % 1_000)) === undefined) throw new Error('miss')
      }),
    )
    reads += 1_024
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`${which}: ${(reads / seconds / 1e3).toFixed(1)} k/s`)
} finally {
  await cache.close()
  raw.disconnect()
  await server.stop()
}
