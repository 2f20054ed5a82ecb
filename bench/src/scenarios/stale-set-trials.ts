import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import KeyvRedis from '@keyv/redis'
import { createCache as createTierCache } from '@tiercache/core'
import { heldLoader, startStandalone } from '@tiercache/testkit'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { createCache as createCacheManager } from 'cache-manager'
import { Cacheable, CacheableMemory } from 'cacheable'
import Keyv from 'keyv'
import { type Section, table } from '../harness/report.js'
import { sleep } from '../harness/stats.js'

const TRIALS = 50
/** Time for a bus (pub/sub) message to reach the other instance before the views are read. */
const SETTLE_MS = 100
/** A trial that has not settled by then is counted as an error, not waited on. */
const TRIAL_DEADLINE_MS = 10_000
const TTL_MS = 60_000

type Variant = 'delete' | 'tag'

/** One cache instance as the trial drives it; every library is adapted to this. */
interface Instance {
  /** The library's getOrSet-equivalent, with `tag` attached where the variant uses tags. */
  getOrSet(key: string, loader: () => Promise<string>, tag?: string): Promise<unknown>
  get(key: string): Promise<unknown>
  delete(key: string): Promise<unknown>
  invalidateTag?(tag: string): Promise<unknown>
  close(): Promise<void>
}

interface Contender {
  readonly library: string
  /** The package whose package.json gives the version. */
  readonly pkg: string
  /** How A and B are set up and called, for the table. */
  readonly setup: string
  readonly variants: readonly Variant[]
  /** A full two-tier instance as a service process would create it (A and B). */
  open(variant: Variant): Instance
  /** A fresh instance reading the remote tier only: a third process (C). */
  openRemote(variant: Variant): Instance
}

/** The version in a dependency's package.json, found by walking up from its entry point (some packages do not export ./package.json). */
function versionOf(pkg: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(pkg)))
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (json.name === pkg && json.version !== undefined) return json.version
    } catch {
      // no package.json here: keep walking up
    }
    const parent = dirname(dir)
    if (parent === dir) return 'unknown'
    dir = parent
  }
}

function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${TRIAL_DEADLINE_MS} ms`)),
      TRIAL_DEADLINE_MS,
    )
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

function contenders(host: string, port: number, url: string): Contender[] {
  const connection = { host, port }
  const bento = (layers: 'full' | 'remote'): Instance => {
    let store = bentostore()
    if (layers === 'full') store = store.useL1Layer(memoryDriver({ maxSize: '10mb' }))
    store = store.useL2Layer(redisDriver({ connection }))
    if (layers === 'full') store = store.useBus(redisBusDriver({ connection }))
    const cache = new BentoCache({ default: 'cache', stores: { cache: store } })
    return {
      getOrSet: (key, loader, tag) =>
        cache.getOrSet({ key, factory: loader, ttl: TTL_MS, ...(tag === undefined ? {} : { tags: [tag] }) }),
      get: (key) => cache.get({ key }),
      delete: (key) => cache.delete({ key }),
      invalidateTag: (tag) => cache.deleteByTag({ tags: [tag] }),
      close: () => cache.disconnectAll(),
    }
  }
  const cacheManager = (layers: 'full' | 'remote'): Instance => {
    // The README's two-tier example: CacheableMemory in a Keyv in front of @keyv/redis.
    const stores = [new Keyv({ store: new KeyvRedis(url) })]
    if (layers === 'full')
      stores.unshift(new Keyv({ store: new CacheableMemory({ ttl: TTL_MS, lruSize: 5000 }) }))
    const cache = createCacheManager({ stores })
    return {
      getOrSet: (key, loader) => cache.wrap(key, loader, TTL_MS),
      get: (key) => cache.get(key),
      delete: (key) => cache.del(key),
      close: () => cache.disconnect().then(() => undefined),
    }
  }
  const cacheable = (variant: Variant): Instance => {
    // Default in-memory primary, @keyv/redis secondary; the tag service is off unless the variant uses it
    // (its README: enable it on every instance sharing the store).
    const cache = new Cacheable({ secondary: new KeyvRedis(url), ttl: TTL_MS, tags: variant === 'tag' })
    return {
      getOrSet: async (key, loader, tag) => {
        if (tag === undefined) return cache.getOrSet(key, loader)
        // getOrSet takes no tags: the tagged cache-aside is written by hand, get then set with tags.
        const cached = await cache.get<string>(key)
        if (cached !== undefined) return cached
        const value = await loader()
        await cache.set(key, value, { ttl: TTL_MS, tags: [tag] })
        return value
      },
      get: (key) => cache.get(key),
      delete: (key) => cache.delete(key),
      invalidateTag: (tag) => cache.tags.invalidateTag(tag),
      close: () => cache.disconnect(),
    }
  }
  const tiercache = (layers: 'full' | 'remote'): Instance => {
    const cache = createTierCache({
      store: url,
      namespace: 'sst',
      ttl: TTL_MS,
      ...(layers === 'remote' ? { l1: false as const } : {}),
    })
    return {
      getOrSet: (key, loader, tag) =>
        cache.getOrSet(key, loader, tag === undefined ? undefined : { tags: [tag] }),
      get: (key) => cache.get(key),
      delete: (key) => cache.delete(key),
      invalidateTag: (tag) => cache.invalidateTags(tag),
      close: () => cache.close(),
    }
  }
  return [
    {
      library: 'tiercache',
      pkg: '@tiercache/core',
      setup:
        'createCache({ store: url, namespace }) (L1 + Redis + its invalidation bus); getOrSet; delete / invalidateTags',
      variants: ['delete', 'tag'],
      open: () => tiercache('full'),
      openRemote: () => tiercache('remote'),
    },
    {
      library: 'bentocache',
      pkg: 'bentocache',
      setup:
        'memoryDriver L1 + redisDriver L2 + redisBusDriver bus; getOrSet({ key, factory, tags }); delete / deleteByTag',
      variants: ['delete', 'tag'],
      open: () => bento('full'),
      openRemote: () => bento('remote'),
    },
    {
      library: 'cache-manager',
      pkg: 'cache-manager',
      setup: 'stores: [Keyv(CacheableMemory), Keyv(@keyv/redis)]; wrap(key, fn, ttl); del (no tags)',
      variants: ['delete'],
      open: () => cacheManager('full'),
      openRemote: () => cacheManager('remote'),
    },
    {
      library: 'cacheable',
      pkg: 'cacheable',
      setup:
        'new Cacheable({ secondary: @keyv/redis }) (in-memory primary); getOrSet; delete / tags.invalidateTag (tag variant: get + set with tags, getOrSet takes none)',
      variants: ['delete', 'tag'],
      open: (variant) => cacheable(variant),
      // A fresh instance's in-memory primary is empty: its reads go to the secondary (Redis).
      openRemote: (variant) => cacheable(variant),
    },
  ]
}

interface TrialCounts {
  library: string
  version: string
  variant: Variant
  trials: number
  staleC: number
  staleA: number
  stale: number
  errors: number
  firstError?: string
  /** Whether C and A both read a value loaded with no invalidation: proves the views can see a set at all. */
  controlSeen: boolean
}

/** Runs the forced race `TRIALS` times for one library and variant, each trial on a fresh key. */
async function runTrials(contender: Contender, variant: Variant, version: string): Promise<TrialCounts> {
  const counts: TrialCounts = {
    library: contender.library,
    version,
    variant,
    trials: 0,
    staleC: 0,
    staleA: 0,
    stale: 0,
    errors: 0,
    controlSeen: false,
  }
  const a = contender.open(variant)
  const b = contender.open(variant)
  try {
    // Control: with nothing invalidated, C and A must read the loaded value (else 0 stale would mean nothing).
    const controlKey = `sst:${contender.library}:${variant}:${process.pid}:control`
    await withDeadline(
      a.getOrSet(controlKey, async () => 'v', variant === 'tag' ? `t:${controlKey}` : undefined),
      'the control getOrSet',
    )
    await sleep(SETTLE_MS)
    const control = contender.openRemote(variant)
    try {
      counts.controlSeen =
        (await withDeadline(control.get(controlKey), "C's control get")) === 'v' &&
        (await withDeadline(a.get(controlKey), "A's control get")) === 'v'
    } finally {
      await control.close()
    }
    for (let trial = 0; trial < TRIALS; trial++) {
      const key = `sst:${contender.library}:${variant}:${process.pid}:${trial}`
      const tag = `t:${key}`
      const db = { value: 'old' }
      const held = heldLoader(() => db.value)
      let c: Instance | undefined
      counts.trials++
      try {
        const loading = a.getOrSet(key, held.loader, variant === 'tag' ? tag : undefined)
        // If getOrSet fails before calling the loader, do not wait on the loader forever.
        const settled = loading.then(
          () => undefined,
          () => undefined,
        )
        await withDeadline(Promise.race([held.entered, settled]), 'the loader')
        db.value = 'new'
        await withDeadline(variant === 'tag' ? b.invalidateTag!(tag) : b.delete(key), 'the invalidation')
        held.release()
        await withDeadline(loading, "A's getOrSet")
        await sleep(SETTLE_MS)
        c = contender.openRemote(variant)
        const seenC = await withDeadline(c.get(key), "C's get")
        const seenA = await withDeadline(a.get(key), "A's get")
        if (seenC === 'old') counts.staleC++
        if (seenA === 'old') counts.staleA++
        if (seenC === 'old' || seenA === 'old') counts.stale++
      } catch (error) {
        held.release()
        counts.errors++
        counts.firstError ??= error instanceof Error ? error.message : String(error)
      } finally {
        await c?.close()
      }
    }
  } finally {
    await Promise.all([a.close(), b.close()])
  }
  return counts
}

/**
 * The stale-set race of issue 11, forced on tiercache and its peers as their users would set them up:
 * two instances A and B (each with its own client, L1 and bus where the library has them) on one local
 * redis-server. A's getOrSet misses and its loader reads the "database" ('old'), then waits on a latch;
 * B writes 'new' to the database and awaits its delete (or tag invalidation) of the key; the latch opens.
 * After A's call returns and 100 ms for any bus, the key is read through a fresh instance C (the remote
 * tier, as a third process sees it) and through A. A trial is stale if either returns 'old'.
 */
export async function staleSetTrials(): Promise<Section> {
  const server = await startStandalone()
  try {
    const results: TrialCounts[] = []
    for (const contender of contenders(server.host, server.port, server.url)) {
      const version = versionOf(contender.pkg)
      for (const variant of contender.variants) results.push(await runTrials(contender, variant, version))
    }
    const rows = results.map((r) => [
      `${r.library} ${r.version}`,
      r.variant,
      `${r.stale} / ${r.trials}`,
      `${r.staleC} / ${r.trials}`,
      `${r.staleA} / ${r.trials}`,
      r.errors === 0 ? '0' : `${r.errors} (${r.firstError})`,
      r.controlSeen ? 'yes' : '**no**',
    ])
    const tier = results.filter((r) => r.library === 'tiercache')
    const setups = contenders(server.host, server.port, server.url)
      .map((c) => `- **${c.library}**: ${c.setup}.`)
      .join('\n')
    return {
      id: 'stale-set-trials',
      title: `No stale sets: the forced race, ${TRIALS} trials per library, 2 instances on one local redis-server`,
      markdown: [
        table(
          [
            'library',
            'invalidation',
            'stale trials',
            'stale in C (fresh instance, Redis)',
            'stale in A',
            'errors',
            'control (C and A see an uninvalidated set)',
          ],
          rows,
        ),
        '',
        'Setups (documented defaults otherwise; ttl 1 min):',
        '',
        setups,
        '',
        "A trial is stale when, after A's getOrSet returned and 100 ms passed, C or A reads the value the loader " +
          'read before the invalidation. None of the peers documents an option that makes the write conditional on ' +
          "no invalidation having happened meanwhile: their stampede protection (bentocache's per-key lock and " +
          "lockTimeout, cache-manager's and cacheable's coalescing) joins callers inside one process only. " +
          'cache-manager has no cross-instance invalidation, so A keeps whatever its memory store got. ' +
          "cacheable's CacheableSync (pub/sub via @qified/redis, not a bench dependency) is not set up; it would " +
          "carry A's own write to other instances' memory, not stop it. bentocache's tags are timestamps: an entry " +
          'counts as invalidated when its createdAt (Date.now() when it is written, after the factory) is <= the ' +
          "tag's invalidation time in ms, so its tag trials come out clean only when A's write lands in the same " +
          'millisecond as the invalidation (with 2 ms between the invalidation and the loader returning, a manual ' +
          'run gave 50 / 50 stale).',
      ].join('\n'),
      bars: [
        {
          name: 'stale-set trials of tiercache (delete and tag)',
          // Errors and a failed control count against the bar: a trial that did not run proves nothing.
          actual: tier.reduce((sum, r) => sum + r.stale + r.errors + (r.controlSeen ? 0 : 1), 0),
          target: 0,
          op: '<=',
          unit: 'count',
        },
      ],
      data: { trials: TRIALS, settleMs: SETTLE_MS, results },
    }
  } finally {
    await server.stop()
  }
}
