import { createCache } from '@tiercache/core'
import { command, redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, it } from 'vitest'
import {
  cacheOptionsArbitrary,
  checkCacheOptions,
  checkCallOptions,
  checkCrafted,
  checkDistinctKeys,
  checkKey,
  checkRandomPayload,
  checkValue,
  craftedPayloads,
  keyArbitrary,
  optionsArbitrary,
  type RawHarness,
  valueArbitrary,
} from '../../core/test/support/hostile-input.js'

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

  it('keys: any string or a refusal; what is accepted is one Redis key, read back by a fresh instance', async () => {
    await fc.assert(
      fc.asyncProperty(keyArbitrary, (key) => checkKey(h, key)),
      { numRuns: h.runs },
    )
  })

  it('two different keys never share a Redis key (UTF-8 would merge lone surrogates into U+FFFD)', async () => {
    const key = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 3 }),
      fc.constantFrom('\ud800', '\udc00', '\ufffd', 'a\ud800', 'a\ufffd'),
    )
    await fc.assert(
      fc.asyncProperty(key, key, (a, b) => checkDistinctKeys(h, a, b)),
      { numRuns: h.runs },
    )
  })

  it('values (msgpack): stored exactly through Redis or refused, never half-written', async () => {
    await fc.assert(
      fc.asyncProperty(valueArbitrary, (make) => checkValue(h, make)),
      { numRuns: h.runs },
    )
  })

  it('values (json): stored as JSON would give them back, or refused', async () => {
    await fc.assert(
      fc.asyncProperty(valueArbitrary, (make) =>
        checkValue(h, make, { serializer: 'json' }, (value) => JSON.parse(JSON.stringify(value))),
      ),
      { numRuns: h.runs },
    )
  })

  it('a 10 MB string round-trips through Redis; one over maxValueBytes is refused', async () => {
    await checkValue(h, () => 'ü'.repeat(5 * 1024 * 1024))
    await checkValue(h, () => 'x'.repeat(10 * 1024 * 1024), { maxValueBytes: 1024 * 1024 })
  })

  it('per-call options of any type: accepted (Redis takes the expiry) or refused at the call', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArbitrary, (options) => checkCallOptions(h, options)),
      { numRuns: h.runs },
    )
  })

  it('createCache options of any type: a working cache or a TierCacheError', async () => {
    await fc.assert(
      fc.asyncProperty(cacheOptionsArbitrary, (options) => checkCacheOptions(h, options)),
      { numRuns: h.runs },
    )
  })

  describe('crafted bytes written with a plain client', () => {
    it.each(craftedPayloads.map((crafted) => [crafted.name, crafted] as const))(
      '%s',
      async (_name, crafted) => {
        await checkCrafted(h, crafted)
      },
    )

    it('random bytes after a valid header: a value or a miss', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 64 }),
          fc.constantFrom('msgpack' as const, 'json' as const),
          (payload, serializer) => checkRandomPayload(h, payload, serializer),
        ),
        { numRuns: 50 },
      )
    })
  })
})
