/**
 * Where a remote hit's cost goes (64 callers, L1 off): raw ioredis, raw ioredis with the store's
 * `commandTimeout`, the Redis store's `get` alone (and with its read machinery bypassed), and `cache.get`. Prints throughput and client CPU per
 * read (the steadier number on a shared machine). Starts and stops its own redis-server.
 *
 *   node bench/dist/profile/remote-split.js      (bounded: 3 rounds × 5 variants × 100,000 reads)
 */
import { createCache, parseStoreUrl } from '@tiercache/core'
import { createStore, RedisStore, resolveStandaloneOptions } from '@tiercache/redis'
import { startStandalone } from '@tiercache/testkit'
import { Redis } from 'ioredis6'
import { keys, user } from '../fixtures.js'
import { decodeUntaggedEntry } from '../harness/envelope-baseline.js'

const server = await startStandalone()
const cache = createCache({ store: server.url, namespace: 'rh', ttl: '1h', l1: false })
const store = createStore({ url: server.url, parsed: parseStoreUrl(server.url) })
// The store with its read path reduced to the bare command (no breaker, no readiness gate, no error
// bookkeeping): how much of the gap to raw ioredis that machinery is. Not a proposal to drop it.
class BareReadStore extends RedisStore {
  protected override read<T>(command: () => Promise<T>): Promise<T> {
    return command()
  }
}
const bareConfig = { url: server.url, parsed: parseStoreUrl(server.url) }
const { client: bareClient, tuning: bareTuning } = resolveStandaloneOptions(bareConfig)
const bare = new BareReadStore({
  kind: 'redis',
  tuning: bareTuning,
  createClient: () => new Redis({ ...bareClient }),
  describe: () => ({}),
})
const raw = new Redis({ host: server.host, port: server.port, enableAutoPipelining: true })
const rawTimeout = new Redis({
  host: server.host,
  port: server.port,
  enableAutoPipelining: true,
  commandTimeout: 1000,
})
const names = keys('user:', 1_000)
const full = names.map((n) => `rh:${n}`)
for (let i = 0; i < names.length; i++) await cache.set(names[i]!, user(i))
await store.ready()
await bare.ready()
const variants: Record<string, (i: number) => Promise<unknown>> = {
  raw: async (i) => {
    const b = await raw.getBuffer(full[i]!)
    return b === null ? undefined : decodeUntaggedEntry(b)
  },
  'raw+commandTimeout': async (i) => {
    const b = await rawTimeout.getBuffer(full[i]!)
    return b === null ? undefined : decodeUntaggedEntry(b)
  },
  store: async (i) => {
    const b = await store.get(full[i]!)
    return b === undefined ? undefined : decodeUntaggedEntry(b)
  },
  'store, bare read': async (i) => {
    const b = await bare.get(full[i]!)
    return b === undefined ? undefined : decodeUntaggedEntry(b)
  },
  cache: (i) => cache.get(names[i]!),
}
for (let round = 0; round < 3; round++) {
  for (const [name, read] of Object.entries(variants)) {
    const started = performance.now()
    const cpu = process.cpuUsage()
    let reads = 0
    while (reads < 100_000) {
      await Promise.all(
        Array.from({ length: 64 }, async (_, c) => {
          for (let j = 0; j < 16; j++)
            if ((await read((c * 16 + j) % 1_000)) === undefined) throw new Error('miss')
        }),
      )
      reads += 1_024
    }
    const used = process.cpuUsage(cpu)
    const cpuNs = ((used.user + used.system) * 1000) / reads
    console.log(
      `${name}: ${(reads / ((performance.now() - started) / 1000) / 1e3).toFixed(1)} k/s, ${cpuNs.toFixed(0)} ns CPU/read`,
    )
  }
}
await cache.close()
await store.close()
await bare.close()
raw.disconnect()
rawTimeout.disconnect()
await server.stop()
