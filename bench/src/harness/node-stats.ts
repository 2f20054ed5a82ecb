import { command } from '@tiercache/testkit'

/** What one Redis node has processed so far: socket read events (≈ request round trips) and commands. */
export interface NodeCounters {
  readonly reads: number
  readonly commands: Readonly<Record<string, number>>
}

/**
 * `INFO stats` + `INFO commandstats` of one node, over a fresh connection. `total_reads_processed` counts
 * read events on client sockets: a pipelined batch that arrives in one read is one, so it stands for the
 * round trips a client made. The INFO call itself adds one read and one `info` command (subtracted by
 * `delta`'s caller through a calibration with no traffic).
 */
export async function nodeCounters(host: string, port: number): Promise<NodeCounters> {
  const reply = await command(host, port, ['INFO', 'everything'])
  const text = String(reply)
  const reads = Number(/total_reads_processed:(\d+)/.exec(text)?.[1] ?? Number.NaN)
  const commands: Record<string, number> = {}
  for (const match of text.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) commands[match[1]!] = Number(match[2])
  return { reads, commands }
}

/** Differences between two snapshots, leaving out the commands the measurement itself sends. */
export function delta(
  before: NodeCounters,
  after: NodeCounters,
): { reads: number; commands: Record<string, number> } {
  const commands: Record<string, number> = {}
  for (const [name, calls] of Object.entries(after.commands)) {
    if (name === 'info') continue
    const diff = calls - (before.commands[name] ?? 0)
    if (diff > 0) commands[name] = diff
  }
  return { reads: after.reads - before.reads, commands }
}
