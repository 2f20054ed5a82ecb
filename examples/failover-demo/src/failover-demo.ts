import { type Cache, createCache } from '@tiercache/core'
import type { RedisNode } from '@tiercache/testkit'
import { type DemoTopology, startDemoTopology } from './demo-topology.js'
import { describeEvents, type EventCounts, EventTally } from './event-tally.js'
import { type FailoverDemoOptions, resolveDemoOptions, type TopologyKind } from './options.js'
import { runTraffic } from './traffic.js'
import { hitRate, percentile, TrafficStats, type WindowStats } from './traffic-stats.js'
import { timeToFirstWrite } from './write-probe.js'

/** What the run measured; also printed as the closing summary. */
export interface FailoverDemoSummary {
  topology: TopologyKind
  /** Seconds of traffic. */
  seconds: number
  requests: number
  /** Calls that rejected at the caller: the cache fails open, so this should be 0. */
  errors: number
  /** The first few caller errors, described. */
  errorSamples: string[]
  hitRate: number
  p99LatencyMs: number
  maxLatencyMs: number
  loaderCalls: number
  /** `host:port` of the SIGKILLed master (undefined when stopped before the kill). */
  killed: string | undefined
  /** `host:port` of the node promoted in its place, once the topology agreed on it. */
  promoted: string | undefined
  /** Kill → the topology agrees on the new master. */
  failoverMs: number | undefined
  /** Kill → the first write made through the cache that is on the new master. */
  firstWriteMs: number | undefined
  /** Cache events over the run (`failover` counts what the cache itself noticed). */
  events: EventCounts
}

const NAMESPACE = 'failover-demo'
/** However the failover goes, the demo ends: traffic stops this long after the planned end at the latest. */
const OVERTIME_MS = 30_000
const address = (node: RedisNode) => `${node.host}:${node.port}`

/**
 * Starts a Sentinel or Cluster topology, drives bounded traffic through a cache on it, SIGKILLs the master
 * after `killAfterSeconds` and prints one line per second until the failover is over and `seconds` have
 * passed; then a summary. Stops the topology in every case. Resolves with the summary (never rejects for
 * caller errors — they are counted; it rejects only when the topology cannot start).
 */
export async function runFailoverDemo(options: FailoverDemoOptions = {}): Promise<FailoverDemoSummary> {
  const o = resolveDemoOptions(options)
  o.log(`starting a ${o.topology} topology with the testkit …`)
  const topology = await startDemoTopology(o.topology, NAMESPACE)
  let cache: Cache | undefined
  try {
    cache = createCache({
      store: topology.url,
      namespace: NAMESPACE,
      ttl: '3s',
      // Past its ttl a value may still be served while the remote tier or the loader fails.
      grace: '1m',
      // A short L1 ttl, so most reads go to the remote tier and the failover shows.
      l1: { max: 1_000, ttl: '200ms' },
    })
    return await drive(o, topology, cache)
  } finally {
    await cache?.close()
    await topology.stop()
  }
}

async function drive(
  o: ReturnType<typeof resolveDemoOptions>,
  topology: DemoTopology,
  cache: Cache,
): Promise<FailoverDemoSummary> {
  const log = o.log
  const aborted = () => o.signal?.aborted === true
  const stats = new TrafficStats()
  const tally = new EventTally(cache)
  cache.on('hit', () => stats.read('hits'))
  cache.on('miss', () => stats.read('misses'))
  cache.on('stale', () => stats.read('stale'))
  await cache.ready()

  log(
    `${topology.description}, store ${topology.url}\n` +
      `${o.workers} workers on ${o.keys} keys (getOrSet/get/set/delete), ` +
      `SIGKILL of master ${address(topology.victim)} at ${o.killAfterSeconds} s, traffic for ${o.seconds} s\n`,
  )
  log(row('t', 'requests', 'errors', 'hits', 'p99 ms', 'master', 'events'))

  const started = Date.now()
  let killedAt: number | undefined
  let killed = false
  let promoted: RedisNode | undefined
  let failoverMs: number | undefined
  let firstWriteMs: number | undefined
  let done = false
  /** Things that happened (kill, promotion, first write), printed on the next line with their time. */
  const markers: string[] = []
  const at = (time: number) => `[${((time - started) / 1000).toFixed(1)} s]`

  // Who is master, asked of the topology twice a second (never blocking the printed lines).
  let master = address(topology.victim)
  let polling = false
  const monitor = setInterval(() => {
    if (polling) return
    polling = true
    topology
      .currentMaster()
      .then((node) => {
        if (node === undefined) master = '(none)'
        else master = address(node) + (killed && node.port === topology.victim.port ? ' (dead)' : '')
      })
      .finally(() => {
        polling = false
      })
  }, 500)

  const printWindow = (elapsedMs: number, window: WindowStats, events: EventCounts) => {
    const described = [...markers.splice(0), describeEvents(events)].filter(Boolean).join('; ')
    log(
      row(
        `${(elapsedMs / 1000).toFixed(0)}s`,
        String(window.requests),
        String(window.errors),
        window.requests === 0 ? '-' : `${(hitRate(window) * 100).toFixed(1)}%`,
        window.requests === 0 ? '-' : percentile(window.latencies, 99).toFixed(1),
        master,
        described,
      ),
    )
  }
  const ticker = setInterval(
    () => printWindow(Date.now() - started, stats.takeWindow(), tally.takeWindow()),
    1_000,
  )

  let loaderCalls = 0
  const traffic = runTraffic({
    cache,
    stats,
    workers: o.workers,
    keys: o.keys,
    until: () => done || aborted(),
    deadlineMs: o.seconds * 1_000 + OVERTIME_MS,
    maxRequests: 2_000_000,
  }).then((result) => {
    loaderCalls = result.loaderCalls
  })

  try {
    await sleepUnless(o.killAfterSeconds * 1_000, aborted)
    if (!aborted()) {
      const killTime = Date.now()
      killedAt = killTime
      await topology.kill(topology.victim)
      killed = true
      markers.push(`${at(killTime)} SIGKILL master ${address(topology.victim)}`)
      const failover = topology.waitForFailover(OVERTIME_MS).then(
        (node) => {
          promoted = node
          failoverMs = Date.now() - killTime
          markers.push(`${at(Date.now())} ${address(node)} promoted (${seconds(failoverMs)} after the kill)`)
        },
        (error: unknown) =>
          markers.push(`no failover: ${error instanceof Error ? error.message : String(error)}`),
      )
      const probe = timeToFirstWrite({
        cache,
        topology,
        namespace: NAMESPACE,
        killedAt: killTime,
        deadlineMs: OVERTIME_MS,
        onCallerError: (error) => stats.record(0, error),
        stopped: aborted,
      }).then((ms) => {
        firstWriteMs = ms
        if (ms !== undefined)
          markers.push(`${at(Date.now())} writes land on the new master (${seconds(ms)} after the kill)`)
      })
      // Ctrl-C does not wait for the failover to finish.
      const abort = new Promise((resolve) => {
        if (aborted()) resolve(undefined)
        else o.signal?.addEventListener('abort', resolve, { once: true })
      })
      await Promise.race([Promise.all([failover, probe]), abort])
    }
    await sleepUnless(started + o.seconds * 1_000 - Date.now(), aborted)
  } finally {
    done = true
    await traffic
    clearInterval(ticker)
    clearInterval(monitor)
  }
  const rest = stats.takeWindow()
  if (rest.requests > 0 || markers.length > 0) printWindow(Date.now() - started, rest, tally.takeWindow())
  const summary: FailoverDemoSummary = {
    topology: topology.kind,
    seconds: (Date.now() - started) / 1000,
    requests: stats.total.requests,
    errors: stats.total.errors,
    errorSamples: stats.callerErrors,
    hitRate: hitRate(stats.total),
    p99LatencyMs: percentile(stats.total.latencies, 99),
    maxLatencyMs: stats.maxLatencyMs,
    loaderCalls,
    killed: killedAt === undefined ? undefined : address(topology.victim),
    promoted: promoted === undefined ? undefined : address(promoted),
    failoverMs,
    firstWriteMs,
    events: tally.total,
  }
  for (const line of describeSummary(summary)) log(line)
  return summary
}

function describeSummary(s: FailoverDemoSummary): string[] {
  const lines = [
    '',
    `summary (${s.topology}, ${s.seconds.toFixed(1)} s of traffic)`,
    `  requests        ${s.requests} (${s.loaderCalls} database loads)`,
    `  caller errors   ${s.errors}`,
    ...s.errorSamples.map((error) => `    ${error}`),
    `  hit rate        ${(s.hitRate * 100).toFixed(1)}%`,
    `  latency         p99 ${s.p99LatencyMs.toFixed(1)} ms, max ${s.maxLatencyMs.toFixed(1)} ms`,
    `  killed master   ${s.killed ?? '(not killed: stopped early)'}`,
    `  new master      ${s.promoted === undefined ? '(none)' : `${s.promoted}, ${seconds(s.failoverMs!)} after the kill`}`,
    `  writes resumed  ${s.firstWriteMs === undefined ? '(not seen)' : `${seconds(s.firstWriteMs)} after the kill (a write through the cache found on the new master)`}`,
    `  events          ${describeEvents(s.events, 'summary') || '(none)'}`,
    s.errors === 0 ? 'OK: zero caller errors' : `FAILED: ${s.errors} caller errors`,
  ]
  return lines
}

/** Fixed-width columns; the last one (events) runs free. */
function row(...cells: [string, string, string, string, string, string, string]): string {
  const [t, requests, errors, hits, p99, master, events] = cells
  return `${t.padStart(4)} ${requests.padStart(8)} ${errors.padStart(6)} ${hits.padStart(6)} ${p99.padStart(8)}  ${master.padEnd(24)} ${events}`.trimEnd()
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until && !stop())
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())))
}
