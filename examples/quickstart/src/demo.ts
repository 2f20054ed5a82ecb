import { createCache, redactUrl } from '@tiercache/core'

interface User {
  id: number
  name: string
}

/** The embedded store, under a name of its own so the demo shares nothing with other caches. */
const DEFAULT_STORE = 'memory://quickstart'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The README demo, on the embedded `memory://` store unless `CACHE_URL` names another: a miss, hits, tags,
 * single-flight and grace, each printed as one readable line through `log`. Returns the numbers it printed,
 * for the tests.
 */
export async function runDemo(
  log: (line: string) => void = console.log,
  store: string = process.env.CACHE_URL || DEFAULT_STORE,
) {
  const cache = createCache({ store, namespace: 'demo', ttl: '5m' })
  // Start from an empty namespace, so a second run against the same Redis shows the same story.
  await cache.clear()
  const counts = { hit: 0, miss: 0, stale: 0 }
  cache.on('hit', () => counts.hit++)
  cache.on('miss', () => counts.miss++)
  cache.on('stale', () => counts.stale++)

  // A "database" that takes 25 ms per query and counts its calls.
  let queries = 0
  const loadUser = async (id: number): Promise<User> => {
    queries++
    await sleep(25)
    return { id, name: 'Ada Lovelace' }
  }

  const shown = store === DEFAULT_STORE ? 'memory://' : redactUrl(store)
  log(`tiercache quickstart (store: ${shown}, namespace: demo)`)

  // 1. Cache-aside: the first read misses and calls the loader, the next ones are hits.
  let started = performance.now()
  const user = await cache.getOrSet('user:1', () => loadUser(1), { tags: ['org:7'] })
  log(`miss          user:1 → ${user.name}, loaded from the database in ${ms(started)}`)
  for (let i = 0; i < 3; i++) {
    started = performance.now()
    await cache.getOrSet('user:1', () => loadUser(1), { tags: ['org:7'] })
    log(`hit           user:1 → served from memory in ${ms(started)}`)
  }

  // 2. Tags: invalidating org:7 drops every entry tagged with it.
  await cache.invalidateTags('org:7')
  const afterTag = await cache.get('user:1')
  log(`tags          invalidateTags('org:7') → user:1 is ${afterTag === undefined ? 'gone' : 'still there'}`)

  // 3. Single-flight: 100 concurrent misses on one key make one loader call.
  let reportLoads = 0
  const loadReport = async () => {
    reportLoads++
    await sleep(50)
    return { total: 1234 }
  }
  const reports = await Promise.all(
    Array.from({ length: 100 }, () => cache.getOrSet('report:2024', loadReport)),
  )
  const allSame = reports.every((report) => report.total === 1234)
  log(
    `single-flight 100 concurrent calls → ${reportLoads} loader call, ${allSame ? 'all got the same value' : 'values differ!'}`,
  )

  // 4. Grace: an expired value is kept for `grace` and served when the loader fails.
  await cache.getOrSet('price:eur', async () => 42, { ttl: '50ms', grace: '1h' })
  await sleep(80)
  const price = await cache.getOrSet(
    'price:eur',
    async (): Promise<number> => {
      throw new Error('price service down')
    },
    { ttl: '50ms', grace: '1h' },
  )
  log(
    `grace         price:eur expired and its loader failed (price service down) → served the stale value ${price}`,
  )

  log(
    `totals        ${counts.hit} hits, ${counts.miss} misses, ${counts.stale} stale served, ${queries} database ${queries === 1 ? 'query' : 'queries'}`,
  )
  await cache.close()
  log('closed.')
  return { queries, reportLoads, price, counts }
}

function ms(since: number): string {
  return `${(performance.now() - since).toFixed(2)} ms`
}
