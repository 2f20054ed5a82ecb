// The soak's load process (issue 10). Run by test/soak/support/soak.ts as
//   node --expose-gc test/soak/child.mjs
// with TIERCACHE_SOAK_URL set; it imports the BUILT packages (dist/, through the workspace links of the
// root package.json), so "the process exits by itself after close()" is about the real artefacts.
//
// stdout carries one JSON object per line: {type:'started'}, {type:'steady'}, {type:'report'}. It never
// calls process.exit: when the parent sees the report but no exit, something is still holding the loop
// open, and the unref'd timer at the bottom prints what (process.getActiveResourcesInfo()) to stderr.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const env = process.env
const url = env.TIERCACHE_SOAK_URL
if (!url) throw new Error('TIERCACHE_SOAK_URL is not set')
if (typeof globalThis.gc !== 'function') throw new Error('run the soak child with node --expose-gc')
const gc = globalThis.gc
const LOAD_MS = Number(env.TIERCACHE_SOAK_MS ?? 36_000)
const CALLERS = Number(env.TIERCACHE_SOAK_CALLERS ?? 64)
const SEED = Number(env.TIERCACHE_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31))
const NAMESPACE = env.TIERCACHE_SOAK_NAMESPACE ?? 'soak'
/** Pause between two calls of one caller: 64 callers must not starve six redis-servers on two CI cores. */
const THINK_MS = Number(env.TIERCACHE_SOAK_THINK_MS ?? 1)
/** When the steady state starts (L1 full, connections warm): the first heap sample. */
const WARMUP_MS = Math.min(8_000, Math.max(2_000, Math.floor(LOAD_MS / 6)))

// L1 bounds. Values are ~150–950 bytes encoded (see pad()), so maxBytes binds first (~1,000 entries, not
// L1_MAX) while the key space below (3,104 keys) holds about 3× that: L1 evicts all the time.
const L1_MAX = 2_000
const L1_MAX_BYTES = 512 * 1024
const KEYS_PER_CALLER = 48 // half of them tagged, in TAGS_PER_CALLER groups
const TAGS_PER_CALLER = 4
const SHARED_KEYS = 32 // read by every caller through getOrSet with a fixed value (single-flight across callers)

const emit = (message) => process.stdout.write(`${JSON.stringify(message)}\n`)

// ---------------------------------------------------------------------------------------------------------
// L1 bound instrumentation. The L1 (packages/core/src/l1/local-cache.ts) keeps its lru-cache private, so
// the soak checks the bound on lru-cache itself: the prototype's `set` is wrapped, and after every insert
// the instance's entry count and summed size are compared with its own max / maxSize. It must be the very
// module core loads (resolved from core's folder, ESM entry), or nothing is seen — the report lists every
// instance seen, and the parent requires one with maxSize === L1_MAX_BYTES.
// ---------------------------------------------------------------------------------------------------------
const l1Stats = []
{
  const coreEntry = fileURLToPath(import.meta.resolve('@tiercache/core'))
  let dir = dirname(createRequire(coreEntry).resolve('lru-cache'))
  while (!readPackageName(dir)) dir = dirname(dir)
  const exp = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).exports['.'].import
  const entry = exp.node?.default ?? exp.default
  const { LRUCache } = await import(pathToFileURL(join(dir, entry)).href)
  const byInstance = new WeakMap()
  const set = LRUCache.prototype.set
  LRUCache.prototype.set = function (key, value, options) {
    const result = set.call(this, key, value, options)
    let s = byInstance.get(this)
    if (s === undefined) {
      s = { max: this.max, maxSize: this.maxSize, sets: 0, peakEntries: 0, peakBytes: 0, overBound: 0 }
      byInstance.set(this, s)
      l1Stats.push(s)
    }
    s.sets++
    if (this.size > s.peakEntries) s.peakEntries = this.size
    if (this.calculatedSize > s.peakBytes) s.peakBytes = this.calculatedSize
    if ((s.max && this.size > s.max) || (s.maxSize && this.calculatedSize > s.maxSize)) s.overBound++
    return result
  }
}
function readPackageName(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'lru-cache'
  } catch {
    return false
  }
}

const { createCache } = await import('@tiercache/core')

// ---------------------------------------------------------------------------------------------------------
// Bookkeeping: fixed-size, so the child's own memory does not grow with the number of calls.
// ---------------------------------------------------------------------------------------------------------
const unhandled = []
process.on('unhandledRejection', (reason) => {
  if (unhandled.length < 20) unhandled.push(String(reason?.stack ?? reason))
  else unhandled.push('…')
})

/** Latency histogram: 0.1 ms buckets below 10 ms, 1 ms buckets up to 10 s. */
const hist = new Uint32Array(100 + 10_000)
let maxMs = 0
const record = (ms) => {
  hist[ms < 10 ? Math.floor(ms * 10) : 100 + Math.min(9_999, Math.floor(ms) - 10)]++
  if (ms > maxMs) maxMs = ms
}
const percentile = (q) => {
  let total = 0
  for (const n of hist) total += n
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]
    if (seen >= q * total) return i < 100 ? (i + 1) / 10 : i - 100 + 11
  }
  return 0
}
/** Calls completed per second of the load (the dip shows the failover). */
const perSecond = new Uint32Array(Math.ceil(LOAD_MS / 1_000) + 2)
const opCounts = {}
const cap = (list, item, n = 20) => {
  if (list.length < n) list.push(item)
}
const callerErrors = []
let callerErrorCount = 0
const wrong = []
let wrongCount = 0
let loaderErrors = 0
let loaderCalls = 0
/** Reads older than the last acknowledged write but not older than the last awaited invalidation. */
let behind = 0
const invalidations = { applied: 0, queued: 0, replayedApplied: 0, replayedDropped: 0 }
const events = {
  storeErrors: 0,
  failovers: [],
  resyncs: 0,
  circuitOpen: 0,
  hitsL1: 0,
  hitsRemote: 0,
  misses: 0,
}

class SoakLoaderError extends Error {}

/** Deterministic PRNG per caller (mulberry32), so a run is described by its seed. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}
const hash = (s) => {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}
/** 100–899 characters per key, so the byte bound and the entry bound are not the same thing. */
const pad = (key) => 'x'.repeat(100 + (hash(key) % 800))

// ---------------------------------------------------------------------------------------------------------
// The cache under test
// ---------------------------------------------------------------------------------------------------------
const cache = createCache({
  store: url,
  namespace: NAMESPACE,
  ttl: '5m',
  l1: { max: L1_MAX, maxBytes: L1_MAX_BYTES, ttl: '10s' },
})
cache.on('error', () => events.storeErrors++)
cache.on('failover', ({ detail }) => cap(events.failovers, { at: Date.now(), detail }, 10))
cache.on('resync', () => events.resyncs++)
cache.on('circuit', ({ state }) => {
  if (state === 'open') events.circuitOpen++
})
cache.on('hit', ({ tier }) => {
  if (tier === 'l1') events.hitsL1++
  else events.hitsRemote++
})
cache.on('miss', () => events.misses++)
cache.on('invalidationReplayed', ({ outcome }) => {
  if (outcome === 'applied') invalidations.replayedApplied++
  else invalidations.replayedDropped++
})
await cache.ready()

const heap = () => {
  gc()
  const m = process.memoryUsage()
  return {
    at: Date.now(),
    heapUsed: m.heapUsed,
    rss: m.rss,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  }
}

// ---------------------------------------------------------------------------------------------------------
// The callers. Each owns its keys (one call at a time per caller), so it knows, per key:
//   db[k]    – the database's version (bumped by set/setMany, and by delete/invalidateTags: the database
//              changes first, then the cache is invalidated — cache-aside);
//   floor[k] – the version the database had when the caller's last invalidation of k was awaited.
// A value read for k must be k's own, never newer than db[k] (invented) and never older than floor[k]
// (an awaited invalidation undone). Older than db[k] but not than floor[k] is a write that failed open or
// was lost in the failover: allowed (cache-aside), counted as `behind`. A getOrSet whose loader ran
// returns exactly db[k]. Shared keys only ever hold version 0.
// ---------------------------------------------------------------------------------------------------------
const started = Date.now()
const deadline = started + LOAD_MS
const stopped = false
let calls = 0

const HISTORY = 8
const bad = (caller, op, key, got, db, floor, ack, history = []) => {
  wrongCount++
  cap(wrong, {
    seed: SEED,
    caller,
    op,
    key,
    got,
    db,
    floor,
    invalidatedAt: ack,
    at: Date.now(),
    readAtMs: Date.now() - started,
    history: [...history],
  })
}

async function caller(w) {
  const random = prng(SEED + w)
  const keys = Array.from({ length: KEYS_PER_CALLER }, (_, i) => `c${w}:k${i}`)
  const tagged = KEYS_PER_CALLER / 2
  const tagOf = (i) => (i < tagged ? `c${w}:t${i % TAGS_PER_CALLER}` : undefined)
  const db = new Int32Array(KEYS_PER_CALLER)
  const floor = new Int32Array(KEYS_PER_CALLER)
  /** When the last awaited invalidation of each key resolved (for the report of a violation). */
  const invalidatedAt = new Float64Array(KEYS_PER_CALLER)
  /**
   * The last HISTORY operations on each key (ms since start, what, version, outcome), printed with a
   * violation so it says which write the wrong value came from and which invalidation it outlived.
   */
  const history = Array.from({ length: KEYS_PER_CALLER }, () => [])
  const note = (i, what, version, outcome) => {
    const h = history[i]
    if (h.length >= HISTORY) h.shift()
    h.push(`${Date.now() - started}ms ${what} v${version}${outcome ? ` ${outcome}` : ''}`)
  }
  const value = (i) => ({ k: keys[i], v: db[i], p: pad(keys[i]) })
  const opts = (i) => (tagOf(i) ? { tags: [tagOf(i)] } : undefined)
  const check = (op, i, got) => {
    if (got === undefined) return
    const v = got?.v
    if (got?.k !== keys[i] || typeof v !== 'number' || v > db[i] || v < floor[i])
      bad(w, op, keys[i], { k: got?.k, v }, db[i], floor[i], invalidatedAt[i], history[i])
    else if (v < db[i]) behind++
  }
  const pick = () => Math.floor(random() * KEYS_PER_CALLER)

  while (!stopped && Date.now() < deadline) {
    const roll = random()
    const op =
      roll < 0.3
        ? 'getOrSet'
        : roll < 0.4
          ? 'getOrSetShared'
          : roll < 0.62
            ? 'get'
            : roll < 0.72
              ? 'set'
              : roll < 0.77
                ? 'setMany'
                : roll < 0.87
                  ? 'getMany'
                  : roll < 0.96
                    ? 'delete'
                    : 'invalidateTags'
    const t0 = performance.now()
    try {
      if (op === 'getOrSet') {
        const i = pick()
        const fails = random() < 0.03
        let ran = false
        let thrown
        try {
          const got = await cache.getOrSet(
            keys[i],
            async () => {
              ran = true
              loaderCalls++
              if (fails) {
                thrown = new SoakLoaderError(`loader of ${keys[i]} fails on purpose`)
                throw thrown
              }
              return value(i)
            },
            opts(i),
          )
          if (ran) note(i, 'loaded', db[i], `returned v${got?.v}`)
          if (ran && (got?.k !== keys[i] || got?.v !== db[i]))
            bad(w, 'getOrSet(loaded)', keys[i], got, db[i], floor[i], invalidatedAt[i], history[i])
          else check(op, i, got)
        } catch (error) {
          // Only this caller touches the key, so the error must be the one its own loader just threw.
          if (thrown === undefined || error !== thrown) throw error
          loaderErrors++
        }
      } else if (op === 'getOrSetShared') {
        const key = `shared:s${Math.floor(random() * SHARED_KEYS)}`
        try {
          // A short ttl so that loaders keep running, and concurrent callers join them (single-flight).
          const got = await cache.getOrSet(
            key,
            async () => {
              loaderCalls++
              await new Promise((resolve) => setTimeout(resolve, 2))
              if (Math.random() < 0.05) throw new SoakLoaderError(`loader of ${key} fails on purpose`)
              return { k: key, v: 0, p: pad(key) }
            },
            { ttl: '2s' },
          )
          if (got?.k !== key || got?.v !== 0) bad(w, op, key, got, 0, 0, 0)
        } catch (error) {
          if (!(error instanceof SoakLoaderError)) throw error
          loaderErrors++
        }
      } else if (op === 'get') {
        const i = pick()
        check(op, i, await cache.get(keys[i]))
      } else if (op === 'set') {
        const i = pick()
        db[i]++
        await cache.set(keys[i], value(i), opts(i))
        note(i, 'set', db[i])
      } else if (op === 'setMany') {
        const picked = [...new Set([pick(), pick(), pick(), pick()])]
        for (const i of picked) db[i]++
        await cache.setMany(picked.map((i) => ({ key: keys[i], value: value(i), ...opts(i) })))
        for (const i of picked) note(i, 'setMany', db[i])
      } else if (op === 'getMany') {
        const picked = [...new Set(Array.from({ length: 8 }, pick))]
        const got = await cache.getMany(picked.map((i) => keys[i]))
        for (let n = 0; n < picked.length; n++) check(op, picked[n], got[n])
      } else if (op === 'delete') {
        const i = pick()
        db[i]++
        const result = await cache.delete(keys[i])
        invalidations[result.status === 'applied' ? 'applied' : 'queued']++
        floor[i] = db[i]
        invalidatedAt[i] = Date.now()
        note(i, 'delete', db[i], result.status)
      } else {
        const group = Math.floor(random() * TAGS_PER_CALLER)
        const members = []
        for (let i = 0; i < tagged; i++) if (i % TAGS_PER_CALLER === group) members.push(i)
        for (const i of members) db[i]++
        const result = await cache.invalidateTags(`c${w}:t${group}`)
        invalidations[result.status === 'applied' ? 'applied' : 'queued']++
        const at = Date.now()
        for (const i of members) {
          floor[i] = db[i]
          invalidatedAt[i] = at
          note(i, `invalidateTags(c${w}:t${group})`, db[i], result.status)
        }
      }
    } catch (error) {
      callerErrorCount++
      cap(callerErrors, { seed: SEED, caller: w, op, error: String(error?.stack ?? error), at: Date.now() })
    }
    record(performance.now() - t0)
    opCounts[op] = (opCounts[op] ?? 0) + 1
    calls++
    perSecond[Math.floor((Date.now() - started) / 1_000)]++
    if (THINK_MS > 0) await new Promise((resolve) => setTimeout(resolve, THINK_MS))
    else await new Promise((resolve) => setImmediate(resolve))
  }
}

emit({ type: 'started', at: started, seed: SEED, loadMs: LOAD_MS, callers: CALLERS, pid: process.pid })
const running = Promise.all(Array.from({ length: CALLERS }, (_, w) => caller(w)))

// Heap samples: the first at the end of the warm-up (the steady state), then every 5 s.
const samples = []
await new Promise((resolve) => setTimeout(resolve, WARMUP_MS))
const steady = heap()
samples.push(steady)
emit({ type: 'steady', at: steady.at, heapUsed: steady.heapUsed })
const sampler = setInterval(() => samples.push(heap()), 5_000)
await running
clearInterval(sampler)
const loadEndedAt = Date.now()

// Let the store finish what the failover left in flight (queued invalidations, background writes), so the
// final sample measures what stays, not what is on its way out.
const settleStarted = Date.now()
let settled = false
while (Date.now() - settleStarted < 15_000) {
  const h = cache.health()
  const d = h.detail ?? {}
  if (!h.queuedInvalidations && !d.pendingWrites && !d.invalidationsInFlight && !d.reinvalidating) {
    settled = true
    break
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
}
const settleMs = Date.now() - settleStarted
const healthAtEnd = cache.health()
const end = heap()
const closeStarted = performance.now()
await cache.close()
const closeMs = performance.now() - closeStarted
const afterClose = heap()

const loadSeconds = (loadEndedAt - started) / 1_000
emit({
  type: 'report',
  seed: SEED,
  startedAt: started,
  callers: CALLERS,
  loadMs: loadEndedAt - started,
  calls,
  opsPerSec: Math.round(calls / loadSeconds),
  ops: opCounts,
  perSecond: Array.from(perSecond.slice(0, Math.ceil(loadSeconds))),
  latencyMs: { p50: percentile(0.5), p99: percentile(0.99), p999: percentile(0.999), max: Math.round(maxMs) },
  callerErrors,
  callerErrorCount,
  wrong,
  wrongCount,
  behind,
  loaderCalls,
  loaderErrors,
  invalidations,
  events,
  unhandledRejections: unhandled,
  l1: { max: L1_MAX, maxBytes: L1_MAX_BYTES, instances: l1Stats },
  memory: { warmupMs: WARMUP_MS, steady, end, afterClose, samples },
  settled,
  settleMs,
  health: healthAtEnd,
  closeMs: Math.round(closeMs),
  // What is still alive right after close() (informational: the parent's check is that the process exits).
  resourcesAfterClose: process.getActiveResourcesInfo(),
})

// Fires only if something keeps the process alive: the parent then prints this and fails the test.
setTimeout(() => {
  process.stderr.write(
    `${JSON.stringify({ type: 'still-alive', resources: process.getActiveResourcesInfo() })}\n`,
  )
}, 3_000).unref()
