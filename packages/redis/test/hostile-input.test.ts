import { createCache } from '@tiercache/core'
import { command, redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe } from 'vitest'
import { describeHostileProperties, type RawHarness } from '../../core/test/support/hostile-input.js'

// The hostile-input properties of packages/core/test/hostile-input.test.ts against a real redis-server:
// keys become Redis keys (UTF-8 bytes), values go through the wire and back through a fresh cache instance,
// and crafted bytes are written with a plain client as another tool (or an attacker with Redis access) could.
const bin = redisBinary()

describe.skipIf(!bin.available)(`hostile input on redis-server (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  let raw: Redis
  let h: RawHarness

  beforeAll(async () => {
    topo = await startStandalone()
    raw = new Redis({ host: topo.host, port: topo.port, lazyConnect: true, maxRetriesPerRequest: 1 })
    await raw.connect()
    h = {
      open: (options) => createCache({ namespace: 'hostile', ...options, store: topo.url }),
      remoteCount: async () => Number(await command(topo.host, topo.port, ['DBSIZE'])),
      writeRaw: async (key, value) => {
        await raw.set(key, Buffer.from(value), 'PX', 60_000)
      },
      prefix: 'hostile:',
      // A fresh cache instance (and connection) per read-back: fewer runs than on memory://.
      runs: 30,
    }
  })

  afterAll(async () => {
    raw?.disconnect()
    await topo?.stop()
  })

  describeHostileProperties('Redis', () => h)
})
