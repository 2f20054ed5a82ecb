import type { Cache } from '@tiercache/core'
import { command } from '@tiercache/testkit'
import type { DemoTopology } from './demo-topology.js'

export interface WriteProbeOptions {
  cache: Cache
  topology: DemoTopology
  /** The cache's namespace: the probe checks the Redis key `<namespace>:<key>` on the node directly. */
  namespace: string
  /** When the master was killed (Date.now()). */
  killedAt: number
  deadlineMs: number
  /** A rejected probe write is a caller error like any other. */
  onCallerError: (error: unknown) => void
  stopped: () => boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Time from the kill to the first write made through the cache that is on the new master: every 100 ms a
 * fresh key (on the victim's slots) is written with `cache.set`, then asked for with EXISTS on the node the
 * topology names as master, as long as that is not the dead one. A `set` that resolved is not enough — the
 * cache fails open, so a write can resolve without reaching Redis. Resolves undefined past the deadline.
 */
export async function timeToFirstWrite(options: WriteProbeOptions): Promise<number | undefined> {
  const { cache, topology } = options
  for (let n = 0; Date.now() - options.killedAt < options.deadlineMs && !options.stopped(); n++) {
    const key = `probe:{${topology.probeTag}}:${n}`
    try {
      await cache.set(key, n, { ttl: '1m' })
    } catch (error) {
      options.onCallerError(error)
    }
    const master = await topology.currentMaster()
    if (master !== undefined && master.port !== topology.victim.port) {
      const found = await command(master.host, master.port, ['EXISTS', `${options.namespace}:${key}`], {
        timeoutMs: 500,
      }).catch(() => 0)
      if (found === 1) return Date.now() - options.killedAt
    }
    await sleep(100)
  }
  return undefined
}
