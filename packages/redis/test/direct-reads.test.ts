import { randomBytes } from 'node:crypto'
import { createCache, isTierCacheError, parseStoreUrl, type StoreEvent } from '@tiercache/core'
import {
  command,
  RespConnection,
  redisBinary,
  type StandaloneTopology,
  startStandalone,
} from '@tiercache/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createStore, type RedisStore } from '../src/index.js'
import { FAST_MS } from './support/timing.js'

// The remote-read fast path of the standalone store (DirectReads + the breaker's closed check), against
// real servers: order against earlier writes, batching into one socket write per tick, the swept read
// timeout, fail-fast on a dead server and the breaker around it, byte-exact values.

const bin = redisBinary()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const nextMacrotask = () => new Promise((r) => setImmediate(r))
const bytes = (text: string) => Buffer.from(text)
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString()

/** The topology's URL with tuning as query parameters (the form users configure it in). */
function urlWith(topo: StandaloneTopology, params: Record<string, number>): string {
  const query = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString()
  return query === '' ? topo.url : `${topo.url}?${query}`
}

function openStore(topo: StandaloneTopology, params: Record<string, number> = {}): RedisStore {
  const url = urlWith(topo, params)
  return createStore({ url, parsed: parseStoreUrl(url) }) as RedisStore
}

/** How `promise` rejected and how long it took; a resolution or a hang comes back as an error too. */
async function rejection(
  promise: Promise<unknown>,
  giveUpMs = 5_000,
): Promise<{ error: unknown; ms: number }> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${giveUpMs} ms`)), giveUpMs)
  })
  try {
    const value = await Promise.race([promise, gaveUp])
    return { error: new Error(`expected a rejection, got ${String(value)}`), ms: performance.now() - started }
  } catch (error) {
    return { error, ms: performance.now() - started }
  } finally {
    clearTimeout(timer)
  }
}

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** Deterministic PRNG (mulberry32), so a failing interleaving can be replayed. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `INFO <section>` fields as numbers (`cmdstat_get:calls=…` → `cmdstat_get.calls`). */
async function infoNumbers(conn: RespConnection, section: string): Promise<Map<string, number>> {
  const reply = String(await conn.call(['INFO', section]))
  const fields = new Map<string, number>()
  for (const line of reply.split('\r\n')) {
    const [name, value] = line.split(':')
    if (name === undefined || value === undefined) continue
    if (value.includes('=')) {
      for (const pair of value.split(',')) {
        const [key, n] = pair.split('=')
        fields.set(`${name}.${key}`, Number(n))
      }
    } else fields.set(name, Number(value))
  }
  return fields
}

describe.skipIf(!bin.available)(
  `remote-read fast path against redis-server (${bin.reason ?? bin.binary})`,
  () => {
    let topo: StandaloneTopology
    let store: RedisStore
    beforeAll(async () => {
      topo = await startStandalone()
      store = openStore(topo)
      await store.ready()
    })
    afterAll(async () => {
      await store?.close()
      await topo?.stop()
    })

    describe('order: a GET never overtakes an earlier SET/DEL on the connection', () => {
      it('set then get (and delete then get) issued in the same tick read the write', async () => {
        for (let i = 0; i < 50; i++) {
          const write = store.set('order:k', bytes(`v${i}`), 60_000)
          const read = store.get('order:k')
          await write
          expect(text(await read)).toBe(`v${i}`)
          const removal = store.delete(['order:k'])
          const gone = store.get('order:k')
          expect(await removal).toEqual({ status: 'applied' })
          expect(await gone).toBeUndefined()
        }
      })

      it('a get issued while an earlier write pipeline is still in flight reads the newest write', async () => {
        await store.set('order:inflight', bytes('old'), 60_000)
        for (let i = 0; i < 30; i++) {
          // The first set's auto-pipeline is written on the next macrotask and then waits for its reply;
          // the second set queues behind it, and the get must not be sent straight ahead of that queue.
          const first = store.set('order:inflight', bytes(`a${i}`), 60_000)
          await nextMacrotask()
          const second = store.set('order:inflight', bytes(`b${i}`), 60_000)
          const read = store.get('order:inflight')
          await Promise.all([first, second])
          expect(text(await read)).toBe(`b${i}`)
        }
      })

      it('interleaved set/get/delete bursts on the same keys read the latest write each time', async () => {
        const keys = ['order:burst:0', 'order:burst:1', 'order:burst:2', 'order:burst:3']
        await store.delete(keys)
        const random = prng(20_261_126)
        const model = new Map<string, string | undefined>()
        const writes: Array<Promise<unknown>> = []
        const reads: Array<{
          at: number
          key: string
          expected: string | undefined
          reply: Promise<unknown>
        }> = []
        const started = Date.now()
        let op = 0
        // Rounds separated by a macrotask: later rounds are issued while earlier pipelines are in flight.
        for (let round = 0; round < 6 && Date.now() - started < 5_000; round++) {
          for (let i = 0; i < 100; i++, op++) {
            const key = keys[Math.floor(random() * keys.length)]!
            const roll = random()
            if (roll < 0.35) {
              const value = `r${round}o${op}`
              model.set(key, value)
              writes.push(store.set(key, bytes(value), 60_000))
            } else if (roll < 0.45) {
              model.set(key, undefined)
              writes.push(store.delete([key]))
            } else {
              reads.push({ at: op, key, expected: model.get(key), reply: store.get(key) })
            }
          }
          if (random() < 0.5) await nextMacrotask()
        }
        const errors: StoreEvent[] = []
        const unobserve = store.observe((event) => {
          if (event.type === 'error') errors.push(event)
        })
        try {
          await Promise.all(writes)
          const got = await Promise.all(
            reads.map(async (r) => ({ ...r, got: text((await r.reply) as Buffer) })),
          )
          expect(errors).toEqual([])
          expect(reads.length).toBeGreaterThan(250)
          const wrong = got
            .filter((r) => r.got !== r.expected)
            .map(({ at, key, expected, got }) => ({ at, key, expected, got }))
          expect(wrong).toEqual([])
        } finally {
          unobserve()
        }
      })
    })

    it('64 concurrent gets are answered in key order and leave in about one socket write', async () => {
      const keys = Array.from({ length: 64 }, (_, i) => `batch:${i}`)
      await store.setMany(keys.map((key) => ({ key, value: bytes(`value of ${key}`), ttlMs: 60_000 })))
      const probe = await RespConnection.open(topo.host, topo.port)
      try {
        const rounds = 5
        const readEvents: number[] = []
        for (let round = 0; round < rounds; round++) {
          const before = await infoNumbers(probe, 'all')
          const values = await Promise.all(keys.map((key) => store.get(key)))
          const after = await infoNumbers(probe, 'all')
          expect(values.map(text)).toEqual(keys.map((key) => `value of ${key}`))
          expect(after.get('cmdstat_get.calls')! - (before.get('cmdstat_get.calls') ?? 0)).toBe(64)
          // Each INFO is one read event of the probe connection; the rest are the store's.
          readEvents.push(after.get('total_reads_processed')! - before.get('total_reads_processed')! - 1)
        }
        // One corked write per tick: the server reads the 64 GETs in one go (a slow scheduler may split a
        // write across two reads); unbatched, that would be up to 64 read events per round.
        expect(Math.max(...readEvents), `read events per round: ${readEvents}`).toBeLessThanOrEqual(4)
        expect(
          readEvents.reduce((a, b) => a + b, 0),
          `read events per round: ${readEvents}`,
        ).toBeLessThanOrEqual(rounds * 2)
      } finally {
        probe.close()
      }
    })

    it('null is undefined; binary values (NUL, CR/LF, 1 MB) round-trip byte-exact, also batched', async () => {
      expect(await store.get('binary:absent')).toBeUndefined()
      const [absent] = await Promise.all([store.get('binary:absent'), store.get('binary:absent2')])
      expect(absent).toBeUndefined()

      const random = prng(7)
      const values = Array.from({ length: 100 }, (_, i) => {
        const value = randomBytes(1 + Math.floor(random() * 2_000))
        value[0] = 0x00
        if (value.length > 3) value.set([0x0d, 0x0a, 0x24], Math.floor(value.length / 2))
        return { key: `binary:${i}`, value }
      })
      values.push({ key: 'binary:nul-only', value: Buffer.alloc(17) })
      values.push({ key: 'binary:large', value: randomBytes(1024 * 1024) })
      await Promise.all(values.map(({ key, value }) => store.set(key, value, 60_000)))
      // A Uint8Array view into a larger buffer: only its bytes are written.
      const backing = randomBytes(64)
      await store.set('binary:view', new Uint8Array(backing.buffer, backing.byteOffset + 8, 16), 60_000)

      const got = await Promise.all(values.map(({ key }) => store.get(key)))
      for (let i = 0; i < values.length; i++) {
        expect(got[i], values[i]!.key).toBeInstanceOf(Uint8Array)
        expect(Buffer.compare(Buffer.from(got[i]!), values[i]!.value), values[i]!.key).toBe(0)
      }
      const large = await store.get('binary:large')
      expect(large?.byteLength).toBe(1024 * 1024)
      expect(Buffer.compare(Buffer.from(large!), values.at(-1)!.value)).toBe(0)
      expect(Buffer.compare(Buffer.from((await store.get('binary:view'))!), backing.subarray(8, 24))).toBe(0)
    })

    it('direct reads use the connection database and the ioredis keyPrefix', async () => {
      const url = `${topo.url}/2`
      const prefixed = createStore({
        url,
        parsed: parseStoreUrl(url),
        ioredis: { keyPrefix: 'pfx:' },
      }) as RedisStore
      const raw = await RespConnection.open(topo.host, topo.port)
      try {
        await prefixed.ready()
        await raw.call(['SELECT', '2'])
        await raw.call(['SET', 'pfx:db2', 'in db 2'])
        await raw.call(['SET', 'db2', 'unprefixed'])
        const reads = await Promise.all([prefixed.get('db2'), prefixed.get('db2'), prefixed.get('absent')])
        expect(reads.map(text)).toEqual(['in db 2', 'in db 2', undefined])
        // A same-tick set/get pair on this connection, then the key where a raw client expects it.
        const write = prefixed.set('written', bytes('w'), 60_000)
        expect(text(await prefixed.get('written'))).toBe('w')
        await write
        expect(String(await raw.call(['GET', 'pfx:written']))).toBe('w')
        expect(await store.get('db2')).toBeUndefined()
      } finally {
        raw.close()
        await prefixed.close()
      }
    })

    it('WRONGTYPE rejects but never counts toward opening the breaker', async () => {
      const strict = openStore(topo, { breakerThreshold: 2 })
      try {
        await strict.ready()
        await command(topo.host, topo.port, ['RPUSH', 'wrongtype:list', 'x'])
        await strict.set('wrongtype:ok', bytes('fine'), 60_000)
        const states: string[] = []
        strict.observe((event) => {
          if (event.type === 'circuit') states.push(event.state)
        })
        for (let i = 0; i < 10; i++) {
          const { error } = await rejection(strict.get('wrongtype:list'))
          expect(String((error as Error).message)).toMatch(/^WRONGTYPE/)
        }
        const batch = await Promise.allSettled(Array.from({ length: 20 }, () => strict.get('wrongtype:list')))
        expect(batch.every((r) => r.status === 'rejected')).toBe(true)
        await nextMacrotask()
        expect(states).toEqual([])
        expect(strict.breaker.state).toBe('closed')
        expect(strict.breaker.closed).toBe(true)
        expect(text(await strict.get('wrongtype:ok'))).toBe('fine')
        expect(strict.health()).toMatchObject({ state: 'ready', circuit: 'closed' })
      } finally {
        await strict.close()
      }
    })
  },
)

describe.skipIf(!bin.available)(
  `remote-read fast path on a failing server (${bin.reason ?? bin.binary})`,
  () => {
    let topo: StandaloneTopology
    const closers: Array<() => Promise<unknown>> = []
    beforeAll(async () => {
      topo = await startStandalone()
    })
    afterEach(async () => {
      // A failed test must not leave the next one a paused or dead server.
      if (topo.node.paused) topo.resume(topo.node)
      else if (!topo.node.running) await topo.restart(topo.node)
      for (const close of closers.splice(0)) await close()
    })
    afterAll(async () => {
      await topo?.stop()
    })

    const TIMEOUT_MS = 300

    it('paused server: a get rejects (a cache miss) within the command timeout; reads work after resume', async () => {
      // A threshold the test cannot reach: every read here must wait for its own timeout.
      const params = { commandTimeoutMs: TIMEOUT_MS, breakerThreshold: 1_000 }
      const store = openStore(topo, params)
      closers.push(() => store.close())
      const cache = createCache({
        store: urlWith(topo, params),
        namespace: 'paused',
        l1: false,
      })
      closers.push(() => cache.close())
      await Promise.all([store.ready(), cache.ready()])
      const keys = Array.from({ length: 20 }, (_, i) => `paused:${i}`)
      await store.setMany(keys.map((key) => ({ key, value: bytes(key), ttlMs: 60_000 })))
      await cache.set('c', 'cached')
      const cacheErrors: unknown[] = []
      cache.on('error', (e) => cacheErrors.push(e.error))

      topo.pause(topo.node)
      const single = await rejection(store.get('paused:0'))
      expect(String((single.error as Error).message)).toMatch(/timed out/)
      expect(single.ms).toBeGreaterThanOrEqual(0.8 * TIMEOUT_MS)
      expect(single.ms).toBeLessThanOrEqual(1.3 * TIMEOUT_MS)

      // A batch sent together fails together, each within the bound.
      const batchStarted = performance.now()
      const batch = await Promise.all(keys.map((key) => rejection(store.get(key))))
      const batchMs = performance.now() - batchStarted
      expect(batch.every((r) => /timed out/.test(String((r.error as Error).message)))).toBe(true)
      expect(Math.min(...batch.map((r) => r.ms))).toBeGreaterThanOrEqual(0.8 * TIMEOUT_MS)
      expect(batchMs).toBeLessThanOrEqual(1.3 * TIMEOUT_MS)

      const missStarted = performance.now()
      expect(await cache.get('c')).toBeUndefined()
      const missMs = performance.now() - missStarted
      expect(missMs).toBeGreaterThanOrEqual(0.8 * TIMEOUT_MS)
      expect(missMs).toBeLessThanOrEqual(1.3 * TIMEOUT_MS)
      expect(cacheErrors.length).toBeGreaterThan(0)
      expect(store.breaker.state).toBe('closed')

      topo.resume(topo.node)
      // Late replies to the timed-out GETs arrive first; every new GET must still get its own reply.
      const values = await Promise.all(keys.map((key) => store.get(key)))
      expect(values.map(text)).toEqual(keys)
      expect(text(await store.get('paused:7'))).toBe('paused:7')
      expect(await cache.get('c')).toBe('cached')
    })

    it('paused server with a low threshold: the breaker opens, fails fast, and the probe closes it after resume', async () => {
      const store = openStore(topo, {
        commandTimeoutMs: TIMEOUT_MS,
        breakerThreshold: 3,
        breakerHalfOpenAfterMs: 200,
      })
      closers.push(() => store.close())
      const states: string[] = []
      store.observe((event) => {
        if (event.type === 'circuit') states.push(event.state)
      })
      await store.ready()
      await store.set('paused-breaker:k', bytes('v'), 60_000)
      topo.pause(topo.node)
      // Ten reads time out in the same sweep; each caller reads again the moment its failure reaches it
      // (as a fallback would). All ten failures are reported before any caller runs, so every follow-up
      // comes after the threshold and must fail fast instead of waiting another timeout on the server.
      const followUps: Array<Promise<{ error: unknown; ms: number }>> = []
      const failures = await Promise.all(
        Array.from({ length: 10 }, () =>
          store.get('paused-breaker:k').then(
            () => undefined,
            (error: unknown) => {
              followUps.push(rejection(store.get('paused-breaker:k')))
              return error
            },
          ),
        ),
      )
      expect(failures.every((error) => /timed out/.test(String((error as Error)?.message)))).toBe(true)
      const followed = await Promise.all(followUps)
      expect(followed.map((r) => (r.error as { code?: string }).code ?? String(r.error))).toEqual(
        Array(10).fill('CIRCUIT_OPEN'),
      )
      expect(Math.max(...followed.map((r) => r.ms))).toBeLessThan(FAST_MS)
      expect(states).toEqual(['open'])
      const fast = await rejection(store.get('paused-breaker:k'))
      expect(isTierCacheError(fast.error, 'CIRCUIT_OPEN')).toBe(true)
      expect(fast.ms).toBeLessThan(FAST_MS)
      topo.resume(topo.node)
      await until(
        async () => text(await store.get('paused-breaker:k').catch(() => undefined)) === 'v',
        3_000,
        'a read after resume',
      )
      expect(states).toEqual(['open', 'half-open', 'closed'])
      expect(store.breaker.closed).toBe(true)
    })

    it('killed server: gets fail at once, the breaker opens after the threshold, fails fast, and closes after restart', async () => {
      const threshold = 3
      const store = openStore(topo, {
        commandTimeoutMs: 1_000,
        breakerThreshold: threshold,
        breakerHalfOpenAfterMs: 300,
        reconnectMaxDelayMs: 100,
      })
      closers.push(() => store.close())
      const states: string[] = []
      store.observe((event) => {
        if (event.type === 'circuit') states.push(event.state)
      })
      await store.ready()
      await store.set('killed:k', bytes('before'), 60_000)
      expect(text(await store.get('killed:k'))).toBe('before')

      await topo.kill(topo.node)
      await until(() => store.client.status !== 'ready', 2_000, 'the client notices the kill')
      for (let i = 0; i < threshold; i++) {
        expect(states, `after ${i} failures`).toEqual([])
        const failed = await rejection(store.get('killed:k'))
        expect(isTierCacheError(failed.error, 'CIRCUIT_OPEN')).toBe(false)
        expect(failed.ms).toBeLessThan(100)
        await nextMacrotask()
      }
      expect(states).toEqual(['open'])
      expect(store.breaker.closed).toBe(false)
      for (let i = 0; i < 20; i++) {
        const fast = await rejection(store.get('killed:k'))
        expect(isTierCacheError(fast.error, 'CIRCUIT_OPEN')).toBe(true)
        expect(fast.ms).toBeLessThan(FAST_MS)
      }

      await topo.restart(topo.node)
      // Not persisted: the restarted server is empty.
      await command(topo.host, topo.port, ['SET', 'killed:k', 'after'])
      await until(
        async () => text(await store.get('killed:k').catch(() => undefined)) === 'after',
        5_000,
        'a read after restart',
      )
      expect(states.slice(-2)).toEqual(['half-open', 'closed'])
      expect(states[0]).toBe('open')
      expect(store.breaker.closed).toBe(true)
      const keys = Array.from({ length: 64 }, (_, i) => `killed:after:${i}`)
      await store.setMany(keys.map((key) => ({ key, value: bytes(key), ttlMs: 60_000 })))
      expect((await Promise.all(keys.map((key) => store.get(key)))).map(text)).toEqual(keys)
    })
  },
)
