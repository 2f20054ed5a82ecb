import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { barHolds, type Section, table } from './harness/report.js'
import { formatRatio } from './harness/stats.js'
import type { ThroughputOptions } from './harness/throughput.js'
import { clusterGetMany } from './scenarios/cluster-get-many.js'
import { failover } from './scenarios/failover.js'
import { l1Hit } from './scenarios/l1-hit.js'
import { memory } from './scenarios/memory.js'
import { remoteHit } from './scenarios/remote-hit.js'
import { serializers } from './scenarios/serializer.js'
import { staleSetCost } from './scenarios/stale-set-cost.js'
import { staleSetTrials } from './scenarios/stale-set-trials.js'
import { stampede } from './scenarios/stampede.js'

/** Scenario settings; `--quick` shrinks every time budget so a try-out ends in under a minute. */
export interface RunSettings {
  readonly quick: boolean
  readonly throughput: ThroughputOptions
}

// A full run refreshes the chart embedded in docs/benchmarks.md; a --quick try-out leaves docs alone.
const DOCS_CHART_DIR = fileURLToPath(new URL('../../docs/img/', import.meta.url))
const QUICK_CHART_DIR = fileURLToPath(new URL('../.tmp/', import.meta.url))

type Scenario = (settings: RunSettings) => Promise<Section>

const SCENARIOS: ReadonlyArray<readonly [string, Scenario]> = [
  ['l1-hit', (s) => l1Hit(s.throughput)],
  ['remote-hit', (s) => remoteHit(s.throughput)],
  ['cluster-get-many', (s) => clusterGetMany(s.throughput)],
  ['stampede', (s) => stampede(s.quick ? 1 : 3)],
  ['stale-set-cost', (s) => staleSetCost(s.throughput)],
  ['stale-set-trials', () => staleSetTrials()],
  ['memory', (s) => memory(s.quick ? 20_000 : 100_000)],
  ['serializer', (s) => serializers(s.throughput)],
  [
    'failover',
    (s) =>
      failover({
        beforeS: s.quick ? 2 : 4,
        afterS: s.quick ? 2 : 5,
        chartDir: s.quick ? QUICK_CHART_DIR : DOCS_CHART_DIR,
      }),
  ],
]

/**
 * Runs a scenario with a deadline, holding the event loop open meanwhile: the testkit's server processes
 * are unref'ed, and a wait on one of them alone (its exit in `stop()`) must not let node end the run
 * mid-scenario (exit code 13, "unsettled top-level await"). A scenario stuck past the deadline fails.
 */
async function bounded<T>(id: string, run: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`scenario ${id} did not finish within ${deadlineMs / 1000} s`)),
      deadlineMs,
    )
  })
  try {
    return await Promise.race([run, deadline])
  } finally {
    clearTimeout(timer)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
    },
  })
  const quick = values.quick === true
  const settings: RunSettings = {
    quick,
    throughput: quick ? { timeMs: 150, rounds: 1 } : { timeMs: 500, rounds: 5 },
  }
  const only = values.only?.split(',').map((s) => s.trim())
  const unknown = only?.filter((id) => !SCENARIOS.some(([name]) => name === id)) ?? []
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`)

  const started = Date.now()
  const sections: Section[] = []
  for (const [id, scenario] of SCENARIOS) {
    if (only !== undefined && !only.includes(id)) continue
    const t0 = Date.now()
    process.stderr.write(`▶ ${id}…\n`)
    const section = await bounded(id, scenario(settings), quick ? 120_000 : 600_000)
    sections.push(section)
    process.stderr.write(`  ${id} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
    process.stdout.write(`\n### ${section.title}\n\n${section.markdown}\n`)
  }

  const bars = sections.flatMap((s) => s.bars)
  const barTable = table(
    ['bar', 'measured', 'target', 'holds'],
    bars.map((bar) => [
      bar.name,
      bar.unit === 'ratio' ? formatRatio(bar.actual) : bar.actual.toFixed(2),
      `${bar.op} ${bar.unit === 'ratio' ? formatRatio(bar.target) : bar.target}`,
      barHolds(bar) ? 'yes' : '**NO**',
    ]),
  )
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`
  const footer = `\n### Bars\n\n${barTable}\n\n${machine}; ${quick ? 'quick, ' : ''}${((Date.now() - started) / 1000).toFixed(0)} s, ${new Date().toISOString()}\n`
  process.stdout.write(footer)
  if (values.out) {
    const body = sections.map((s) => `### ${s.title}\n\n${s.markdown}\n`).join('\n')
    writeFileSync(values.out, `${body}${footer}`)
  }
  if (values.json) {
    const report = {
      date: new Date().toISOString(),
      machine,
      quick,
      sections: sections.map((s) => ({ id: s.id, data: s.data, bars: s.bars })),
    }
    writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`)
  }
  // A full run is the check (non-zero when a bar fails); --quick numbers are only indicative.
  process.exitCode = quick || bars.every(barHolds) ? 0 : 1
}

await main()
