/**
 * Where a remote hit's cost goes (64 callers, L1 off): raw ioredis auto-pipelined (the bar's baseline), the
 * same with the store's `commandTimeout` (one ioredis timer per command), raw ioredis GETs sent with
 * `sendCommand` into a corked socket (the technique of the Redis store's hot path, without its breaker,
 * timeout sweep and bookkeeping), the Redis store's `get`, and `cache.get`. Prints throughput and client CPU
 * per read (the steadier number on a shared machine). Starts and stops its own redis-server.
 *
 *   node bench/dist/profile/remote-split.js      (bounded: 3 rounds × 5 variants × 100,000 reads)
 */
import { createCache, parseStoreUrl } from '@tiercache/core'
import { createStore, type RedisStore } from '@tiercache/redis'
import { startStandalone } from '@tiercache/testkit'
import { Command, Redis } from 'ioredis6'
import { keys, user } from '../fixtures.js'
import { decodeUntaggedEntry } from '../harness/envelope-baseline.js'

const server = await startStandalone()
const cache = createCache({ store: server.url, namespace: 'rh', ttl: '1h', l1: false })
const store = createStore({ url: server.url, parsed: parseStoreUrl(server.url) }) as RedisStore
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
const direct = new Redis({ host: server.host, port: server.port })
await direct.ping()
// All GETs of one tick in one socket write: cork now, uncork after the tick's callers have sent theirs.
let corked = false
const uncork = () => {
  corked = false
  direct.stream.uncork()
}
const directGet = (key: string): Promise<Buffer | null> => {
  if (!corked) {
    corked = true
    direct.stream.cork()
    process.nextTick(uncork)
  }
  return direct.sendCommand(new Command('get', [key], { replyEncoding: null })) as Promise<Buffer | null>
}
const variants: Record<string, (i: number) => Promise<unknown>> = {
  raw: async (i) => {
    const b = await raw.getBuffer(full[i]!)
    return b === null ? undefined : decodeUntaggedEntry(b)
  },
  'raw+commandTimeout': async (i) => {
    const b = await rawTimeout.getBuffer(full[i]!)
    return b === null ? undefined : decodeUntaggedEntry(b)
  },
  'raw sendCommand+cork': async (i) => {
    const b = await directGet(full[i]!)
    return b === null ? undefined : decodeUntaggedEntry(b)
  },
  store: async (i) => {
    const b = await store.get(full[i]!)
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
direct.disconnect()
raw.disconnect()
rawTimeout.disconnect()
await server.stop()
