import { Bench } from 'tinybench'

/** One contender in a throughput comparison: `run` performs `batch` operations. */
export interface Contender {
  readonly name: string
  /** Operations performed by one call of `run` (loops are batched so timer overhead does not dominate). */
  readonly batch: number
  readonly run: () => Promise<unknown> | unknown
}

export interface ThroughputOptions {
  /** Time budget per contender per round, ms. */
  readonly timeMs: number
  /** Rounds; contenders are interleaved round by round so a noisy neighbour hits everyone alike. */
  readonly rounds: number
}

/**
 * Operations per second of each contender, the best round of each. On a shared machine noise only ever
 * slows a contender down, so the fastest of several interleaved rounds is the least disturbed estimate.
 * Each round is a fresh tinybench `Bench` (warm-up included) over all contenders in the given order.
 */
export async function measureThroughput(
  contenders: readonly Contender[],
  options: ThroughputOptions,
): Promise<Map<string, number>> {
  const best = new Map<string, number>()
  for (let round = 0; round < options.rounds; round++) {
    const bench = new Bench({
      time: options.timeMs,
      iterations: 8,
      warmupTime: Math.min(200, options.timeMs / 2),
      warmupIterations: 4,
      throws: true,
    })
    for (const contender of contenders) bench.add(contender.name, contender.run)
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result
      if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`)
      const contender = contenders.find((c) => c.name === task.name)!
      // Median batch latency (ms) → operations per second.
      const opsPerSecond = (contender.batch * 1000) / result.latency.p50
      best.set(task.name, Math.max(best.get(task.name) ?? 0, opsPerSecond))
    }
  }
  return best
}
