import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'

/**
 * The parent half of the soak (issue 10): runs test/soak/child.mjs — the load, on the built packages — in
 * its own node process, triggers the failover in the middle of the load, and checks what the child
 * reports and that it exits by itself after `close()`.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url))
const childScript = fileURLToPath(new URL('../child.mjs', import.meta.url))

/** Load duration: 36 s by default (CI); TIERCACHE_SOAK_MS=600000 for a 10-minute local soak. */
export const SOAK_MS = Number(process.env.TIERCACHE_SOAK_MS ?? 36_000)
/** The vitest timeout of one soak: the load, start-up, settling after it, and the exit check. */
export const SOAK_TEST_TIMEOUT_MS = SOAK_MS + 90_000
/** After its report (printed once close() resolved) the child must be gone within this. */
const EXIT_WITHIN_MS = 5_000
/**
 * Heap growth allowed between the steady-state sample (end of warm-up: L1 already full, connections
 * warm) and the end of the load (after the store settled, both after a forced full GC):
 * - twice L1's byte bound — L1 counts encoded bytes, the heap holds the decoded values (a ≤ 900-char
 *   string per value, as in msgpack, plus the object and the L1 entry around it, < 2× the encoded size).
 *   L1 is full at both samples, so this is a worst case, not an expectation;
 * - 32 MiB of slack for everything bounded that is not L1: V8's own variance after a full GC (a few MiB),
 *   ioredis buffers and reconnect state, the store's bounded bookkeeping (failover journal, replay queue,
 *   breaker windows), the child's fixed-size counters.
 * What it catches: anything that grows per call. At the ≈ 10⁶ calls of a default run, a leak of a few
 * tens of bytes per call crosses it (the report prints the exact per-call figure).
 */
export const HEAP_SLACK_BYTES = 32 * 1024 * 1024

export interface FailoverRecord {
  readonly victim: string
  readonly promoted: string
  /** Epoch ms of the kill. */
  readonly at: number
  /** From the kill to the topology agreeing on the new master (testkit's waitForFailover). */
  readonly ms: number
}

interface HeapSample {
  at: number
  heapUsed: number
  rss: number
  external: number
  arrayBuffers: number
}

/** What the child prints as its last stdout line (see child.mjs). */
export interface SoakReport {
  seed: number
  startedAt: number
  callers: number
  loadMs: number
  calls: number
  opsPerSec: number
  ops: Record<string, number>
  perSecond: number[]
  latencyMs: { p50: number; p99: number; p999: number; max: number }
  callerErrors: Array<{ seed: number; caller: number; op: string; error: string; at: number }>
  callerErrorCount: number
  wrong: Array<Record<string, unknown>>
  wrongCount: number
  behind: number
  loaderCalls: number
  loaderErrors: number
  invalidations: { applied: number; queued: number; replayedApplied: number; replayedDropped: number }
  events: {
    storeErrors: number
    failovers: Array<{ at: number; detail: unknown }>
    resyncs: number
    circuitOpen: number
    hitsL1: number
    hitsRemote: number
    misses: number
  }
  unhandledRejections: string[]
  l1: {
    max: number
    maxBytes: number
    instances: Array<{
      max: number
      maxSize: number
      sets: number
      peakEntries: number
      peakBytes: number
      overBound: number
    }>
  }
  memory: {
    warmupMs: number
    steady: HeapSample
    end: HeapSample
    afterClose: HeapSample
    samples: HeapSample[]
  }
  settled: boolean
  settleMs: number
  health: unknown
  closeMs: number
  resourcesAfterClose: string[]
}

export interface SoakResult {
  readonly report: SoakReport | undefined
  readonly failover: FailoverRecord | undefined
  readonly failoverError: unknown
  /** Exit code, or undefined when the child had to be killed. */
  readonly exitCode: number | null | undefined
  /** ms from the report (close() done) to the exit; undefined when it did not exit by itself. */
  readonly exitMs: number | undefined
  readonly stderr: string
}

/** The built packages the child imports; `pnpm test` builds them (`tsc -b`) before vitest runs. */
function assertBuilt(): void {
  for (const pkg of ['core', 'redis', 'sentinel', 'cluster']) {
    if (!existsSync(`${root}packages/${pkg}/dist/index.js`))
      throw new Error(
        `packages/${pkg}/dist is missing: the soak runs the built packages, run \`npx tsc -b\` first`,
      )
  }
}

/**
 * Runs one soak: spawns the child on `url`, calls `failover` half-way through the load, waits for the
 * report and for the child to exit by itself. Never throws for what it measures — the caller asserts.
 */
export async function runSoak(options: {
  name: string
  url: string
  failover: () => Promise<FailoverRecord>
}): Promise<SoakResult> {
  assertBuilt()
  const { NODE_OPTIONS: _ignored, ...env } = process.env
  const child = spawn(process.execPath, ['--expose-gc', childScript], {
    cwd: root,
    env: {
      ...env,
      TIERCACHE_SOAK_URL: options.url,
      TIERCACHE_SOAK_MS: String(SOAK_MS),
      TIERCACHE_SOAK_NAMESPACE: `soak-${options.name}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk
  })
  let report: SoakReport | undefined
  let reportAt = 0
  let failover: Promise<FailoverRecord> | undefined
  let failoverTimer: NodeJS.Timeout | undefined
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: Date.now() })),
  )
  const lines = createInterface({ input: child.stdout! })
  lines.on('line', (line) => {
    let message: { type?: string; at?: number }
    try {
      message = JSON.parse(line)
    } catch {
      stderr += `[stdout] ${line}\n`
      return
    }
    if (message.type === 'started') {
      // The failover in the middle of the load (the steady-state heap sample is taken before it).
      failoverTimer = setTimeout(() => {
        failover = options.failover()
        failover.catch(() => undefined)
      }, SOAK_MS / 2)
    } else if (message.type === 'report') {
      report = message as unknown as SoakReport
      reportAt = Date.now()
    }
  })

  // Whole-run bound: the child is killed (by its own pid) if it hangs before or after its report.
  const hardLimit = setTimeout(() => kill(child), SOAK_MS + 75_000)
  const waitExit = async () => {
    while (child.exitCode === null && child.signalCode === null) {
      if (report !== undefined && Date.now() - reportAt > EXIT_WITHIN_MS) {
        // The child's own unref'd timer prints its live handles after 3 s: give it a moment to land.
        kill(child)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return exited
  }
  const exit = await waitExit()
  clearTimeout(hardLimit)
  clearTimeout(failoverTimer)
  lines.close()
  let failoverRecord: FailoverRecord | undefined
  let failoverError: unknown
  try {
    failoverRecord = await failover
  } catch (error) {
    failoverError = error
  }
  const byItself = report !== undefined && exit.code !== null
  return {
    report,
    failover: failoverRecord,
    failoverError: failover === undefined ? new Error('the load ended before the failover') : failoverError,
    exitCode: byItself ? exit.code : undefined,
    exitMs: byItself ? exit.at - reportAt : undefined,
    stderr,
  }
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL')
}

const MiB = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

/** One line for the test log. */
export function summarize(name: string, result: SoakResult): string {
  const r = result.report
  if (!r) return `[soak ${name}] no report; exit ${result.exitCode}; stderr: ${result.stderr.slice(-2000)}`
  const growth = r.memory.end.heapUsed - r.memory.steady.heapUsed
  const l1 = r.l1.instances.find((i) => i.maxSize === r.l1.maxBytes)
  const fo = result.failover
  const dip = Math.min(...r.perSecond.slice(1, -1))
  return (
    `[soak ${name}] seed=${r.seed} callers=${r.callers} load=${(r.loadMs / 1000).toFixed(1)}s calls=${r.calls} ` +
    `(${r.opsPerSec}/s, slowest second ${dip}/s) p50=${r.latencyMs.p50}ms p99=${r.latencyMs.p99}ms ` +
    `max=${r.latencyMs.max}ms callerErrors=${r.callerErrorCount} wrong=${r.wrongCount} behind=${r.behind} ` +
    `loaderErrors=${r.loaderErrors}/${r.loaderCalls} invalidations=${JSON.stringify(r.invalidations)} ` +
    `storeErrors=${r.events.storeErrors} failoverEvents=${r.events.failovers.length} resyncs=${r.events.resyncs} ` +
    `failover=${fo ? `${fo.victim}→${fo.promoted} in ${fo.ms}ms (kill ${fo.at - r.startedAt} ms into the load)` : `none (${String(result.failoverError)})`} ` +
    `heapUsed steady=${MiB(r.memory.steady.heapUsed)}MiB end=${MiB(r.memory.end.heapUsed)}MiB ` +
    `growth=${MiB(growth)}MiB (${(growth / r.calls).toFixed(1)} B/call) afterClose=${MiB(r.memory.afterClose.heapUsed)}MiB ` +
    `rss end=${MiB(r.memory.end.rss)}MiB L1 peak=${l1?.peakEntries} entries/${l1?.peakBytes} B ` +
    `(bound ${r.l1.max}/${r.l1.maxBytes}) close=${r.closeMs}ms exit=${result.exitMs}ms after close` +
    r.wrong
      .map(
        (w) =>
          `\n  wrong: caller ${w.caller} ${w.op} ${w.key} got v${(w.got as { v?: number })?.v} ` +
          `(db v${w.db}, floor v${w.floor}); invalidation awaited ${relative(w.invalidatedAt, fo)}, read ${relative(w.at, fo)}` +
          ` (${w.readAtMs} ms into the load); its last operations: ${(w.history as string[]).join(' | ')}`,
      )
      .join('')
  )
}

const relative = (at: unknown, fo: FailoverRecord | undefined) =>
  typeof at !== 'number' || at === 0
    ? 'never'
    : fo
      ? `${at - fo.at >= 0 ? '+' : ''}${at - fo.at} ms from the kill`
      : new Date(at).toISOString()

/** The checks every soak makes; `name` labels the failure messages. */
export function expectHealthySoak(result: SoakResult): void {
  const r = result.report
  expect(r, `the child printed no report; stderr:\n${result.stderr}`).toBeDefined()
  if (!r) return
  // The process exits by itself after close(): no socket, timer or listener left behind.
  expect(
    result.exitMs,
    `the child was still alive ${EXIT_WITHIN_MS} ms after close(); live resources right after close: ` +
      `${JSON.stringify(r.resourcesAfterClose)}; child stderr:\n${result.stderr}`,
  ).toBeDefined()
  expect(result.exitCode, `child stderr:\n${result.stderr}`).toBe(0)
  // The failover happened in the middle of the load.
  expect(result.failoverError).toBeUndefined()
  expect(result.failover).toBeDefined()
  // Fail-open: nothing but the loaders' own errors reached the callers, and those did.
  expect(r.callerErrors).toEqual([])
  expect(r.unhandledRejections).toEqual([])
  expect(r.loaderErrors).toBeGreaterThan(0)
  // No value from another key, from the future, or from before an awaited invalidation.
  expect(r.wrong).toEqual([])
  expect(r.calls).toBeGreaterThan(1_000)
  // L1 stays within its bounds (checked on every insert), and the check saw the real L1.
  const l1 = r.l1.instances.find((i) => i.maxSize === r.l1.maxBytes && i.max === r.l1.max)
  expect(l1, `no lru-cache with the soak's L1 bounds was seen: ${JSON.stringify(r.l1)}`).toBeDefined()
  expect(l1!.sets).toBeGreaterThan(1_000)
  for (const instance of r.l1.instances) expect(instance.overBound).toBe(0)
  expect(l1!.peakBytes).toBeLessThanOrEqual(r.l1.maxBytes)
  expect(l1!.peakEntries).toBeLessThanOrEqual(r.l1.max)
  // Memory: bounded growth from the steady state to the end (see HEAP_SLACK_BYTES).
  const growth = r.memory.end.heapUsed - r.memory.steady.heapUsed
  expect(growth).toBeLessThan(2 * r.l1.maxBytes + HEAP_SLACK_BYTES)
  // The store finished what the failover left in flight (nothing queued forever).
  expect(r.settled, `store health at the end: ${JSON.stringify(r.health)}`).toBe(true)
}
