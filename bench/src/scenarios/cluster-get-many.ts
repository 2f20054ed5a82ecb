import { type Cache, createCache } from '@tiercache/core'
import { keySlot, startCluster } from '@tiercache/testkit'
import { keys, user } from '../fixtures.js'
import { delta, nodeCounters } from '../harness/node-stats.js'
import { type Section, table } from '../harness/report.js'
import { formatOps, formatRatio } from '../harness/stats.js'
import { type Contender, measureThroughput, type ThroughputOptions } from '../harness/throughput.js'

const KEY_COUNT = 100
const COUNTED_CALLS = 50

/**
 * getMany of 100 keys on a real 3-master Cluster (L1 off). Round trips: each master's
 * `total_reads_processed` and command counts over 50 calls, after a calibration with no traffic.
 * Throughput: getMany vs a naive loop of awaited `get`s and vs 100 concurrent `get`s (auto-pipelined).
 * Bar: at most one round trip per node per call.
 */
export async function clusterGetMany(options: ThroughputOptions): Promise<Section> {
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 0 })
  let cache: Cache | undefined
  try {
    cache = createCache({ store: cluster.url, namespace: 'gm', ttl: '1h', l1: false })
    const c = cache
    const names = keys('item:', KEY_COUNT)
    await c.setMany(names.map((key, i) => ({ key, value: user(i) })))
    const check = (values: ReadonlyArray<unknown>): void => {
      if (values.some((v) => v === undefined)) throw new Error('cluster getMany benchmark missed')
    }
    check(await c.getMany(names))

    // Round trips per node.
    const masters = await cluster.masters()
    const snapshot = () => Promise.all(masters.map((node) => nodeCounters(node.host, node.port)))
    const idle0 = await snapshot()
    const idle1 = await snapshot()
    const before = await snapshot()
    for (let i = 0; i < COUNTED_CALLS; i++) check(await c.getMany(names))
    const after = await snapshot()
    const perNode = masters.map((node, n) => {
      const idle = delta(idle0[n]!, idle1[n]!)
      const busy = delta(before[n]!, after[n]!)
      const commands = Object.entries(busy.commands)
        .map(([name, calls]) => `${name} ${(calls / COUNTED_CALLS).toFixed(2)}`)
        .join(', ')
      return { port: node.port, roundTrips: (busy.reads - idle.reads) / COUNTED_CALLS, commands }
    })
    const keysPerNode = masters.map(() => 0)
    const slotsOwned = await Promise.all(
      names.map(async (name) => (await cluster.masterForSlot(keySlot(`gm:${name}`))).port),
    )
    for (const port of slotsOwned) keysPerNode[masters.findIndex((m) => m.port === port)]!++

    // Throughput, in keys read per second.
    const contenders: Contender[] = [
      { name: 'getMany(100)', batch: KEY_COUNT, run: async () => check(await c.getMany(names)) },
      {
        name: '100 × await get (naive loop)',
        batch: KEY_COUNT,
        run: async () => {
          for (const name of names) if ((await c.get(name)) === undefined) throw new Error('missed')
        },
      },
      {
        name: '100 × get, concurrent',
        batch: KEY_COUNT,
        run: async () => check(await Promise.all(names.map((name) => c.get(name)))),
      },
    ]
    const ops = await measureThroughput(contenders, options)
    const naive = ops.get('100 × await get (naive loop)')!
    const worst = Math.max(...perNode.map((n) => n.roundTrips))
    const roundTripTable = table(
      ['master', 'keys of the 100', 'round trips / call', 'commands / call'],
      perNode.map((n, i) => [`:${n.port}`, String(keysPerNode[i]), n.roundTrips.toFixed(2), n.commands]),
    )
    const throughputTable = table(
      ['contender', 'keys / s', 'calls / s', 'vs naive loop'],
      contenders.map((ct) => {
        const v = ops.get(ct.name)!
        return [ct.name, formatOps(v), formatOps(v / KEY_COUNT), formatRatio(v / naive)]
      }),
    )
    return {
      id: 'cluster-get-many',
      title: 'getMany of 100 keys on a 3-master Cluster (L1 off)',
      markdown: `${roundTripTable}\n\n${throughputTable}`,
      bars: [{ name: 'getMany: ≤ 1 round trip per node', actual: worst, target: 1, op: '<=', unit: 'count' }],
      data: { perNode, keysPerNode, ops: Object.fromEntries(ops) },
    }
  } finally {
    await cache?.close()
    await cluster.stop()
  }
}
