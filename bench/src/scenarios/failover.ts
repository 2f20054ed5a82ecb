import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Cache, createCache } from '@tiercache/core'
import { keySlot, type RedisNode, startCluster, startSentinel } from '@tiercache/testkit'
import { keys, user } from '../fixtures.js'
import { type Section, table } from '../harness/report.js'
import { formatMs, quantile, sleep } from '../harness/stats.js'
import { type FailoverPanel, failoverSvg } from '../harness/svg-chart.js'

const WORKERS = 32
const KEY_COUNT = 1_000
const MAX_OPS = 5_000_000

export interface FailoverSettings {
  /** Seconds of load before the kill. */
  readonly beforeS: number
  /** Seconds of load after the new master is seen. */
  readonly afterS: number
  /** Where failover.svg / failover.png go. */
  readonly chartDir: string
}

interface Second {
  ops: number
  errors: number
  misses: number
  latencies: number[]
}

interface Run {
  readonly name: string
  readonly seconds: Second[]
  readonly killAt: number
  readonly failoverAt: number
  readonly storeErrors: number
}

/**
 * Failover under load: 32 callers (90% get, 10% set, L1 off so every read reaches the remote tier) run
 * through a SIGKILL of the master — Sentinel (1 master, 1 replica, 3 sentinels) and Cluster (3 masters,
 * 1 replica each; the killed master owns part of the keys). Per second: completed operations, p99 latency,
 * errors thrown at callers (expected 0: reads fail open to a miss) and such fail-open misses.
 */
export async function failover(settings: FailoverSettings): Promise<Section> {
  const runs: Run[] = []
  {
    const topo = await startSentinel({ replicas: 1, sentinels: 3 })
    try {
      runs.push(
        await underLoad('Sentinel: master SIGKILL', topo.url, settings, async () => {
          const old = await topo.master()
          await topo.kill(old)
          return () => topo.waitForFailover({ from: old, timeoutMs: 20_000 })
        }),
      )
    } finally {
      await topo.stop()
    }
  }
  {
    const topo = await startCluster({ masters: 3, replicasPerMaster: 1 })
    try {
      runs.push(
        await underLoad('Cluster: master SIGKILL', topo.url, settings, async () => {
          const old: RedisNode = await topo.masterForSlot(keySlot('fo:user:0'))
          await topo.kill(old)
          return () => topo.waitForFailover({ from: old, timeoutMs: 20_000 })
        }),
      )
    } finally {
      await topo.stop()
    }
  }

  const panels: FailoverPanel[] = runs.map((run) => ({
    title: run.name,
    seconds: run.seconds.map((_, i) => i),
    opsPerSecond: run.seconds.map((s) => s.ops),
    p99Ms: run.seconds.map((s) => quantile(s.latencies, 0.99)),
    errors: run.seconds.map((s) => s.errors),
    misses: run.seconds.map((s) => s.misses),
    markers: [
      { at: run.killAt, label: 'kill' },
      { at: run.failoverAt, label: 'new master' },
    ],
  }))
  mkdirSync(settings.chartDir, { recursive: true })
  const svgPath = join(settings.chartDir, 'failover.svg')
  const pngPath = join(settings.chartDir, 'failover.png')
  writeFileSync(svgPath, failoverSvg(panels))
  let chart = `chart: ${svgPath}`
  try {
    execFileSync('rsvg-convert', ['-f', 'png', '-o', pngPath, svgPath], { timeout: 30_000 })
    chart = `chart: ${pngPath}`
  } catch {
    chart += ' (rsvg-convert not found: apt-get install librsvg2-bin for the PNG)'
  }

  const tables = runs.map((run) => {
    const rows = run.seconds.map((s, i) => {
      const notes = [
        i === Math.floor(run.killAt) ? `kill at ${run.killAt.toFixed(1)} s` : '',
        i === Math.floor(run.failoverAt) ? `new master at ${run.failoverAt.toFixed(1)} s` : '',
      ].filter(Boolean)
      return [
        String(i),
        String(s.ops),
        formatMs(quantile(s.latencies, 0.99)),
        String(s.errors),
        String(s.misses),
        notes.join(', '),
      ]
    })
    const total = run.seconds.reduce((n, s) => n + s.errors, 0)
    return `**${run.name}** — errors thrown at callers: ${total}; store errors reported (failed open): ${run.storeErrors}\n\n${table(['second', 'ops', 'p99', 'errors', 'fail-open misses', ''], rows)}`
  })
  const errors = runs.map((run) => run.seconds.reduce((n, s) => n + s.errors, 0))
  return {
    id: 'failover',
    title: 'Failover under load (32 callers, 90% get / 10% set, L1 off)',
    markdown: `${tables.join('\n\n')}\n\n${chart}`,
    bars: runs.map((run, i) => ({
      name: `${run.name}: 0 errors at callers`,
      actual: errors[i]!,
      target: 0,
      op: '<=',
      unit: 'count',
    })),
    data: { runs, chart: pngPath },
  }
}

async function underLoad(
  name: string,
  url: string,
  settings: FailoverSettings,
  kill: () => Promise<() => Promise<RedisNode>>,
): Promise<Run> {
  const cache: Cache = createCache({ store: url, namespace: 'fo', ttl: '1h', l1: false })
  let storeErrors = 0
  cache.on('error', () => {
    storeErrors++
  })
  try {
    const names = keys('user:', KEY_COUNT)
    await cache.setMany(names.map((key, i) => ({ key, value: user(i) })))
    await sleep(300) // let the replicas catch up, so a miss after the failover means fail-open, not lost data
    const seconds: Second[] = []
    const started = performance.now()
    const elapsed = () => (performance.now() - started) / 1000
    const bucket = (at: number): Second => {
      const i = Math.floor(at)
      while (seconds.length <= i) seconds.push({ ops: 0, errors: 0, misses: 0, latencies: [] })
      return seconds[i]!
    }
    let stopAt = Number.POSITIVE_INFINITY
    const hardStop = settings.beforeS + 20 + settings.afterS
    let total = 0
    let seed = 1
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const worker = async () => {
      while (elapsed() < Math.min(stopAt, hardStop) && total < MAX_OPS) {
        const i = Math.floor(random() * KEY_COUNT)
        const write = random() < 0.1
        const t0 = performance.now()
        let error = false
        let miss = false
        try {
          if (write) await cache.set(names[i]!, user(i))
          else miss = (await cache.get(names[i]!)) === undefined
        } catch {
          error = true
        }
        const second = bucket(elapsed())
        second.ops++
        second.latencies.push(performance.now() - t0)
        if (error) second.errors++
        if (miss) second.misses++
        total++
      }
    }
    const workers = Array.from({ length: WORKERS }, worker)
    await sleep(settings.beforeS * 1000)
    const killAt = elapsed()
    const waitForFailover = await kill()
    await waitForFailover()
    const failoverAt = elapsed()
    stopAt = failoverAt + settings.afterS
    await Promise.all(workers)
    // The last bucket is partial: drop it so it does not read as a throughput drop.
    if (seconds.length > 1) seconds.pop()
    return { name, seconds, killAt, failoverAt, storeErrors }
  } finally {
    await cache.close()
  }
}
