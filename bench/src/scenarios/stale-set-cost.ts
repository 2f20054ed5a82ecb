import { createCache, parseStoreUrl, type RemoteStore } from '@tiercache/core'
import { createStore } from '@tiercache/redis'
import { startStandalone } from '@tiercache/testkit'
import { Redis } from 'ioredis6'
import { user } from '../fixtures.js'
import { type Section, table } from '../harness/report.js'
import { formatOps, formatRatio } from '../harness/stats.js'
import { type Contender, measureThroughput, type ThroughputOptions } from '../harness/throughput.js'

const SEQUENTIAL_OPS = 100
const COUNTED_OPS = 1_000

/**
 * The store as the engine sees it, counting round trips: a store call that starts while no other is in
 * flight opens a round trip (calls issued together, like a write and a tag re-read, share one). With
 * `fenced: false` getFenced/setFenced are hidden and the engine writes loaders' values unconditionally.
 */
function observed(store: RemoteStore, fenced: boolean): { store: RemoteStore; roundTrips: () => number } {
  let inFlight = 0
  let roundTrips = 0
  const proxy = new Proxy(store, {
    get(target, property) {
      if (!fenced && (property === 'getFenced' || property === 'setFenced')) return undefined
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (property === 'observe' || property === 'health' || property === 'close') return value.bind(target)
      return (...args: unknown[]) => {
        if (inFlight++ === 0) roundTrips++
        const settle = () => {
          inFlight--
        }
        const result = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        result.then(settle, settle)
        return result
      }
    },
  })
  return { store: proxy, roundTrips: () => roundTrips }
}

/** Commands the server ran (INFO commandstats), minus the INFO calls themselves. */
async function commandsRun(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats')
  let total = 0
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (match[1] !== 'info') total += Number(match[2])
  return total
}

/**
 * What "no stale sets" costs on the getOrSet miss path (issue 11): one caller awaiting getOrSet misses in a
 * row against a local redis-server, L1 off, so each operation's time is its round trips. Fenced (the
 * default: MGET of value + fences, then one conditional script) against the same store with fences hidden
 * (GET, then SET), and the remote-hit path of getOrSet both ways. Commands per operation from the server's
 * INFO commandstats.
 */
export async function staleSetCost(options: ThroughputOptions): Promise<Section> {
  const server = await startStandalone()
  const stores: RemoteStore[] = []
  const open = (fenced: boolean, namespace: string) => {
    const store = createStore({ url: server.url, parsed: parseStoreUrl(server.url) })
    stores.push(store)
    const seen = observed(store, fenced)
    return {
      cache: createCache({ store: seen.store, namespace, ttl: '1m', l1: false }),
      roundTrips: seen.roundTrips,
    }
  }
  const fencedOne = open(true, 'fenced')
  const plainOne = open(false, 'plain')
  const fenced = fencedOne.cache
  const plain = plainOne.cache
  const admin = new Redis({ host: server.host, port: server.port })
  try {
    let n = 0
    const value = user(1)
    const load = () => value
    const misses = (cache: typeof fenced, tags?: string[]) => async () => {
      for (let i = 0; i < SEQUENTIAL_OPS; i++)
        await cache.getOrSet(`miss:${++n}`, load, tags === undefined ? undefined : { tags })
    }
    const hits = (cache: typeof fenced) => async () => {
      for (let i = 0; i < SEQUENTIAL_OPS; i++) await cache.getOrSet('hot', load)
    }
    await fenced.getOrSet('hot', load)
    await plain.getOrSet('hot', load)
    const contenders: Contender[] = [
      { name: 'getOrSet miss, unfenced (GET, SET)', batch: SEQUENTIAL_OPS, run: misses(plain) },
      { name: 'getOrSet miss, fenced (MGET, script)', batch: SEQUENTIAL_OPS, run: misses(fenced) },
      { name: 'tagged getOrSet miss, unfenced', batch: SEQUENTIAL_OPS, run: misses(plain, ['t']) },
      { name: 'tagged getOrSet miss, fenced', batch: SEQUENTIAL_OPS, run: misses(fenced, ['t']) },
      { name: 'getOrSet remote hit, unfenced (GET)', batch: SEQUENTIAL_OPS, run: hits(plain) },
      { name: 'getOrSet remote hit, fenced (MGET)', batch: SEQUENTIAL_OPS, run: hits(fenced) },
    ]
    const ops = await measureThroughput(contenders, options)

    // Round trips and server commands per operation, counted outside the timed runs.
    const counterOf = (name: string) => (name.includes('unfenced') ? plainOne : fencedOne).roundTrips
    const roundTrips = new Map<string, number>()
    const commands = new Map<string, number>()
    for (const c of contenders) {
      const count = counterOf(c.name)
      const tripsBefore = count()
      const before = await commandsRun(admin)
      for (let i = 0; i < COUNTED_OPS / SEQUENTIAL_OPS; i++) await (c.run as () => Promise<void>)()
      commands.set(c.name, ((await commandsRun(admin)) - before) / COUNTED_OPS)
      roundTrips.set(c.name, (count() - tripsBefore) / COUNTED_OPS)
    }
    const trips = (name: string) => roundTrips.get(name)!

    const ratio = (a: string, b: string) => ops.get(b)! / ops.get(a)!
    const missCost = ratio('getOrSet miss, fenced (MGET, script)', 'getOrSet miss, unfenced (GET, SET)')
    const hitCost = ratio('getOrSet remote hit, fenced (MGET)', 'getOrSet remote hit, unfenced (GET)')
    return {
      id: 'stale-set-cost',
      title: `No stale sets: cost on getOrSet, 1 caller, L1 off (local redis-server)`,
      markdown: [
        table(
          ['operation', 'round trips per op', 'throughput', 'time per op', 'server commands per op'],
          contenders.map((c) => [
            c.name,
            trips(c.name).toFixed(2),
            formatOps(ops.get(c.name)!),
            `${(1e6 / ops.get(c.name)!).toFixed(0)} µs`,
            commands.get(c.name)!.toFixed(2),
          ]),
        ),
        '',
        `Time of a fenced miss over an unfenced one: ${formatRatio(missCost)}; of a fenced remote hit over an unfenced one: ${formatRatio(hitCost)}. ` +
          'The fences travel in the same MGET as the value and the write is one script, so the round trips stay ' +
          'the same; what a fenced miss adds is the script reading each fence (counted in the server commands) and, ' +
          'for a tagged miss, the tag generations re-read alongside the write.',
      ].join('\n'),
      bars: [
        {
          name: 'extra round trips of a fenced getOrSet miss (at most 1)',
          actual: trips('getOrSet miss, fenced (MGET, script)') - trips('getOrSet miss, unfenced (GET, SET)'),
          target: 1,
          op: '<=',
          unit: 'count',
        },
        {
          name: 'extra round trips of a fenced getOrSet remote hit (none)',
          actual: trips('getOrSet remote hit, fenced (MGET)') - trips('getOrSet remote hit, unfenced (GET)'),
          target: 0,
          op: '<=',
          unit: 'count',
        },
      ],
      data: {
        ops: Object.fromEntries(ops),
        roundTrips: Object.fromEntries(roundTrips),
        commands: Object.fromEntries(commands),
        missTimeRatio: missCost,
        hitTimeRatio: hitCost,
      },
    }
  } finally {
    await Promise.all([fenced.close(), plain.close()])
    await Promise.all(stores.map((store) => store.close()))
    admin.disconnect()
    await server.stop()
  }
}
