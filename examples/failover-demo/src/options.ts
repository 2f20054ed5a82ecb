import { parseArgs } from 'node:util'

export type TopologyKind = 'sentinel' | 'cluster'

/** What `runFailoverDemo` accepts; every field has a default. */
export interface FailoverDemoOptions {
  /** Which topology the testkit starts (default 'sentinel'). */
  topology?: TopologyKind
  /** How long the traffic runs, in seconds (default 15); it runs longer while the failover is not over. */
  seconds?: number
  /** When the master is SIGKILLed, in seconds after the traffic started (default 3, or a third of `seconds` when shorter). */
  killAfterSeconds?: number
  /** Concurrent callers (default 4). */
  workers?: number
  /** Size of the key space (default 500). */
  keys?: number
  /** Where the live lines go (default console.log). */
  log?: (line: string) => void
  /** Stops the traffic early (Ctrl-C); the summary is still printed and the topology stopped. */
  signal?: AbortSignal
}

export type ResolvedDemoOptions = Required<Omit<FailoverDemoOptions, 'signal'>> & { signal?: AbortSignal }

export function resolveDemoOptions(options: FailoverDemoOptions): ResolvedDemoOptions {
  const seconds = options.seconds ?? 15
  const resolved = {
    topology: options.topology ?? 'sentinel',
    seconds,
    // Early enough that a short run still sees the failover through.
    killAfterSeconds: options.killAfterSeconds ?? Math.min(3, seconds / 3),
    workers: options.workers ?? 4,
    keys: options.keys ?? 500,
    log: options.log ?? console.log,
    ...(options.signal ? { signal: options.signal } : {}),
  }
  if (resolved.topology !== 'sentinel' && resolved.topology !== 'cluster')
    throw new Error(`--topology must be 'sentinel' or 'cluster', got '${String(resolved.topology)}'`)
  for (const name of ['seconds', 'killAfterSeconds', 'workers', 'keys'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] <= 0)
      throw new Error(`${name} must be a positive number, got ${resolved[name]}`)
  }
  if (resolved.killAfterSeconds >= resolved.seconds)
    throw new Error(
      `the kill (at ${resolved.killAfterSeconds} s) must come before the end (${resolved.seconds} s)`,
    )
  // Shared cores: a handful of callers shows the failover as well as a hundred would.
  if (resolved.workers > 32) throw new Error(`workers must be at most 32, got ${resolved.workers}`)
  return resolved
}

export const USAGE = `usage: failover-demo [--topology sentinel|cluster] [--seconds N] [--kill-after N] [--workers N] [--keys N]

  --topology    sentinel (default: 1 master, 2 replicas, 3 sentinels) or cluster (3 masters, 3 replicas)
  --seconds     how long the traffic runs (default 15); it keeps running until the failover is over
  --kill-after  when the master is SIGKILLed, in seconds after the traffic started (default 3, or a third of --seconds)
  --workers     concurrent callers (default 4, at most 32)
  --keys        size of the key space (default 500)`

/** The command line → options; `--help` gives `undefined`. Throws on unknown flags or bad values. */
export function parseDemoArgs(argv: readonly string[]): FailoverDemoOptions | undefined {
  // `pnpm start -- --topology cluster` passes the `--` through.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv]
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      topology: { type: 'string' },
      seconds: { type: 'string' },
      'kill-after': { type: 'string' },
      workers: { type: 'string' },
      keys: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return undefined
  const options: FailoverDemoOptions = {}
  if (values.topology !== undefined) options.topology = values.topology as TopologyKind
  if (values.seconds !== undefined) options.seconds = Number(values.seconds)
  if (values['kill-after'] !== undefined) options.killAfterSeconds = Number(values['kill-after'])
  if (values.workers !== undefined) options.workers = Number(values.workers)
  if (values.keys !== undefined) options.keys = Number(values.keys)
  resolveDemoOptions(options) // validate now, so a bad flag fails before any server starts
  return options
}
