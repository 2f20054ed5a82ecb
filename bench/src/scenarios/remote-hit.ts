import KeyvRedis from '@keyv/redis'
import { createCache } from '@tiercache/core'
import { startStandalone } from '@tiercache/testkit'
import { BentoCache, bentostore } from 'bentocache'
import { redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis6'
import Keyv from 'keyv'
import { keys, user } from '../fixtures.js'
import { decodeUntaggedEntry } from '../harness/envelope-baseline.js'
import { type Section, table } from '../harness/report.js'
import { formatOps, formatRatio } from '../harness/stats.js'
import { type Contender, measureThroughput, type ThroughputOptions } from '../harness/throughput.js'

const KEY_COUNT = 1_000
const CALLERS = 64
const READS_PER_CALLER = 16

/**
 * Remote hit with L1 off: 64 concurrent callers each await 16 reads in a row (one batch = 1,024 reads)
 * against a local redis-server started for this run. Baseline: raw ioredis 6 with auto-pipelining,
 * `getBuffer` + the same decoding of the same bytes. Bar: tiercache ≥ 90% of it.
 */
export async function remoteHit(options: ThroughputOptions): Promise<Section> {
  const server = await startStandalone()
  try {
    const names = keys('user:', KEY_COUNT)
    const tier = createCache({ store: server.url, namespace: 'rh', ttl: '1h', l1: false })
    const raw = new Redis({ host: server.host, port: server.port, enableAutoPipelining: true })
    // bentocache and keyv as their users get them (their default client settings).
    const bento = new BentoCache({
      default: 'redis',
      stores: {
        redis: bentostore().useL2Layer(
          redisDriver({ connection: { host: server.host, port: server.port }, prefix: 'bento' }),
        ),
      },
    })
    const keyv = new Keyv({ store: new KeyvRedis(server.url), namespace: 'keyv' })
    try {
      for (let i = 0; i < KEY_COUNT; i++) {
        await tier.set(names[i]!, user(i))
        await bento.set({ key: names[i]!, value: user(i), ttl: '1h' })
        await keyv.set(names[i]!, user(i), 3_600_000)
      }
      const rawKeys = names.map((name) => `rh:${name}`)
      let sink = 0
      const check = (value: unknown): void => {
        if (value === undefined) throw new Error('remote-hit benchmark missed')
        sink++
      }
      const concurrent = (read: (i: number) => Promise<unknown>) => async () => {
        const callers: Promise<void>[] = []
        for (let c = 0; c < CALLERS; c++) {
          callers.push(
            (async () => {
              for (let j = 0; j < READS_PER_CALLER; j++)
                check(await read((c * READS_PER_CALLER + j) % KEY_COUNT))
            })(),
          )
        }
        await Promise.all(callers)
      }
      const batch = CALLERS * READS_PER_CALLER
      const contenders: Contender[] = [
        {
          name: 'raw ioredis getBuffer + decode',
          batch,
          run: concurrent(async (i) => {
            const bytes = await raw.getBuffer(rawKeys[i]!)
            return bytes === null ? undefined : decodeUntaggedEntry(bytes)
          }),
        },
        { name: 'tiercache get (L1 off)', batch, run: concurrent((i) => tier.get(names[i]!)) },
        { name: 'bentocache get (L2 only)', batch, run: concurrent((i) => bento.get({ key: names[i]! })) },
        { name: 'keyv + @keyv/redis get', batch, run: concurrent((i) => keyv.get(names[i]!)) },
      ]
      const ops = await measureThroughput(contenders, options)
      if (sink === 0) throw new Error('nothing measured')
      const rawOps = ops.get('raw ioredis getBuffer + decode')!
      const tierOps = ops.get('tiercache get (L1 off)')!
      return {
        id: 'remote-hit',
        title: `Remote hit, L1 off, ${CALLERS} concurrent callers (local redis-server)`,
        markdown: table(
          ['contender', 'throughput', 'vs raw ioredis'],
          contenders.map((c) => [
            c.name,
            formatOps(ops.get(c.name)!),
            formatRatio(ops.get(c.name)! / rawOps),
          ]),
        ),
        bars: [
          {
            name: 'remote get ≥ 90% of raw ioredis',
            actual: tierOps / rawOps,
            target: 0.9,
            op: '>=',
            unit: 'ratio',
          },
        ],
        data: Object.fromEntries(ops),
      }
    } finally {
      await tier.close()
      raw.disconnect()
      await bento.disconnectAll()
      await keyv.disconnect()
    }
  } finally {
    await server.stop()
  }
}
