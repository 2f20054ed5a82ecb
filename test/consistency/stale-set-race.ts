import type { Cache, CacheOptions, GetOrSetOptions, RemoteStore } from '@tiercache/core'
import { heldLoader } from '@tiercache/testkit'
import { describe, expect, it } from 'vitest'

/**
 * The stale-set race (issue "No stale sets"), forced on any store: instance A misses a key and its loader
 * reads the "database" (old value); while the loader waits on a latch, instance B updates the database and
 * invalidates (delete / tag / clear), and only once that invalidation has resolved is the latch released.
 * A's caller may get the old value back; no instance (A's L1, B, a fresh instance reading the remote tier)
 * may serve it afterwards. Controls prove that values are still cached when nothing, or something
 * unrelated, was invalidated.
 */
export interface RaceTarget {
  /** A new cache instance on the shared store (its own L1, like another process); `options.store` wins. */
  cache(options?: CacheOptions): Cache
  /** A new store (connection) to the same server, for a cache whose bus messages are held back. */
  store(): RemoteStore
}

/**
 * A store whose invalidation-bus messages never reach anyone: models a bus message still on its way when
 * the loader finishes. The loader's own process would otherwise drop its value on hearing of the
 * invalidation, and the remote tier's fences would not be what is under test.
 */
export function withoutBus(store: RemoteStore): RemoteStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'bus') return undefined
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** A getOrSet whose loader reads `db.value`, says it `entered`, then waits until `release()`. */
export function latchedLoad(
  cache: Cache,
  key: string,
  db: { value: string },
  options?: GetOrSetOptions,
): { entered: Promise<void>; release: () => void; loading: Promise<string> } {
  const held = heldLoader(() => db.value)
  return { entered: held.entered, release: held.release, loading: cache.getOrSet(key, held.loader, options) }
}

/**
 * The forced race with a failover in the middle: A's loader reads the old value, B — whose bus is held back,
 * so only the remote tier can refuse A's write — deletes the key, then `failover` moves the key's master
 * (after making sure the delete reached the replicas), then A's loader finishes. A's caller gets the old
 * value; neither A, B nor a fresh instance may serve it, and the next load is the new value.
 */
export async function raceAcrossFailover(setup: {
  cache(namespace: string, store?: RemoteStore): Cache
  /** The invalidator's own store (a new connection). */
  invalidatorStore(): RemoteStore
  /** Kills the master of `fullKey` and waits for its replacement; `a` is the loader's cache. */
  failover(fullKey: string, a: Cache): Promise<void>
}): Promise<void> {
  const namespace = `failover-race-${process.pid}`
  const a = setup.cache(namespace)
  const bStore = setup.invalidatorStore()
  const b = setup.cache(namespace, withoutBus(bStore))
  const caches: Cache[] = [a, b]
  try {
    const key = freshKey('failover')
    const db = { value: 'old' }
    const load = latchedLoad(a, key, db, { ttl: '5m' })
    await load.entered
    db.value = 'new'
    expect(await b.delete(key)).toEqual({ status: 'applied' })
    await setup.failover(`${namespace}:${key}`, a)
    load.release()
    expect(await load.loading).toBe('old')

    const fresh = setup.cache(namespace)
    caches.push(fresh)
    expect(await fresh.get(key)).toBeUndefined()
    expect(await b.get(key)).toBeUndefined()
    expect(await a.get(key)).toBeUndefined()
    expect(await fresh.getOrSet(key, () => db.value)).toBe('new')
  } finally {
    await Promise.all(caches.map((cache) => cache.close()))
    await bStore.close()
  }
}

let counter = 0
/** A fresh key per test (the stores are shared by the whole file). */
export function freshKey(label: string): string {
  return `${label}-${process.pid}-${++counter}`
}

type Invalidation = 'delete' | 'tag' | 'clear' | 'clear-root'

/**
 * Runs the forced race once. Returns what the loader's caller got and what each instance reads afterwards.
 * `unrelated` invalidates something else instead (control).
 */
async function race(
  target: RaceTarget,
  invalidation: Invalidation,
  options: { unrelated?: boolean; silent?: boolean } = {},
) {
  const namespace = `ns${++counter}`
  const a = target.cache({ namespace })
  // createCache does not close a store it is handed: closed below.
  const silentStore = options.silent === true ? target.store() : undefined
  const b =
    silentStore === undefined
      ? target.cache({ namespace })
      : target.cache({ namespace, store: withoutBus(silentStore) })
  const closers = [a, b]
  try {
    const aUsers = a.namespace('users')
    const bUsers = b.namespace('users')
    const key = freshKey('k')
    const tag = `t-${key}`
    const db = { value: 'old' }
    const { entered, release, loading } = latchedLoad(aUsers, key, db, { tags: [tag], ttl: '1m' })
    await entered
    db.value = 'new'
    const unrelated = options.unrelated === true
    if (invalidation === 'delete') await bUsers.delete(unrelated ? `${key}-other` : key)
    else if (invalidation === 'tag') await bUsers.invalidateTags(unrelated ? `${tag}-other` : tag)
    else if (invalidation === 'clear') await (unrelated ? b.namespace('orders') : bUsers).clear()
    else await (unrelated ? target.cache({ namespace: `${namespace}-other` }) : b).clear()
    release()
    const returned = await loading
    const fresh = target.cache({ namespace })
    closers.push(fresh)
    const seen = {
      returned,
      a: await aUsers.get(key),
      b: await bUsers.get(key),
      fresh: await fresh.namespace('users').get(key),
      reload: await aUsers.getOrSet(key, () => db.value, { tags: [tag] }),
    }
    return seen
  } finally {
    await Promise.all(closers.map((c) => c.close()))
    await silentStore?.close()
  }
}

export function describeStaleSetRace(name: string, target: () => RaceTarget): void {
  describe(`no stale sets on ${name}`, () => {
    for (const invalidation of ['delete', 'tag', 'clear', 'clear-root'] as const) {
      it(`a ${invalidation} that resolves while the loader runs: the old value is returned to its caller but served by no instance, not even the loader's own`, async () => {
        const seen = await race(target(), invalidation)
        expect(seen.returned).toBe('old')
        expect(seen.a).toBeUndefined()
        expect(seen.b).toBeUndefined()
        expect(seen.fresh).toBeUndefined()
        expect(seen.reload).toBe('new')
      })
      it(`a ${invalidation} whose bus message has not reached the loader's instance yet: the remote tier refuses the loader's write`, async () => {
        const seen = await race(target(), invalidation, { silent: true })
        expect(seen.returned).toBe('old')
        expect(seen.fresh).toBeUndefined()
        expect(seen.b).toBeUndefined()
        expect(seen.reload).toBe('new')
        // ...and the loader's instance did not keep it either (it learned from the refused write).
        expect(seen.a).toBeUndefined()
      })
      it(`control: a ${invalidation} of something unrelated while the loader runs does not stop the value being cached`, async () => {
        const seen = await race(target(), invalidation, { unrelated: true })
        expect(seen.returned).toBe('old')
        expect(seen.a).toBe('old')
        expect(seen.fresh).toBe('old')
        expect(seen.reload).toBe('old')
      })
    }

    it('control: with no invalidation the loaded value is cached for every instance', async () => {
      const t = target()
      const a = t.cache({ namespace: `ns${++counter}` })
      const fresh = t.cache({ namespace: a.namespacePath })
      try {
        const key = freshKey('plain')
        expect(await a.getOrSet(key, () => 'v')).toBe('v')
        expect(await fresh.get(key)).toBe('v')
      } finally {
        await Promise.all([a.close(), fresh.close()])
      }
    })

    it('a loader that started after the invalidation resolved is cached normally', async () => {
      const t = target()
      const a = t.cache({ namespace: `ns${++counter}` })
      const b = t.cache({ namespace: a.namespacePath })
      try {
        const key = freshKey('after')
        await b.delete(key)
        await b.invalidateTags('t-after')
        expect(await a.getOrSet(key, () => 'v', { tags: ['t-after'] })).toBe('v')
        expect(await b.get(key)).toBe('v')
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })

    it('randomized timing: after every trial no instance serves a value older than the last awaited invalidation', async () => {
      const t = target()
      const namespace = `ns${++counter}`
      const a = t.cache({ namespace })
      const b = t.cache({ namespace })
      const violations: string[] = []
      try {
        for (let trial = 0; trial < 40; trial++) {
          const key = freshKey('rnd')
          const tag = `t-${key}`
          const db = { version: 0 }
          const kind = (['delete', 'tag', 'clear'] as const)[trial % 3]!
          const loaderDelay = Math.floor(Math.random() * 8)
          const invalidateDelay = Math.floor(Math.random() * 8)
          const load = a.getOrSet(
            key,
            async () => {
              const version = db.version
              await new Promise((r) => setTimeout(r, loaderDelay))
              return version
            },
            { tags: [tag] },
          )
          await new Promise((r) => setTimeout(r, invalidateDelay))
          db.version = 1
          if (kind === 'delete') await b.delete(key)
          else if (kind === 'tag') await b.invalidateTags(tag)
          else await b.clear()
          await load
          const fresh = t.cache({ namespace })
          const check = async (who: string, cache: Cache) => {
            const value = await cache.get<number>(key)
            if (value !== undefined && value !== 1)
              violations.push(
                `trial ${trial} (${kind}, loader ${loaderDelay} ms, invalidation after ${invalidateDelay} ms): ${who} served version ${value}`,
              )
          }
          // The remote tier and the invalidating instance: at once.
          await check('fresh', fresh)
          await check('b', b)
          // A may have cached version 0 before the invalidation (a load that finished first): its L1 copy
          // goes when the bus message arrives — the ordinary L1 lag, not the race. Give the bus a moment.
          await new Promise((r) => setTimeout(r, 50))
          await check('a', a)
          await fresh.close()
        }
      } finally {
        await Promise.all([a.close(), b.close()])
      }
      expect(violations).toEqual([])
    })
  })
}
