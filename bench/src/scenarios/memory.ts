import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type Section, table } from '../harness/report.js'
import { MEMORY_LIBRARIES } from './memory-child.js'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('./memory-child.js', import.meta.url))

/**
 * Memory: heap bytes per L1 entry after `count` small entries, one child process per library with
 * --expose-gc (heapUsed after forced GCs, before vs after the fill). Key strings are built before the
 * baseline, so no row pays for them; the value objects are in every row and 'raw data' is their own cost,
 * so 'overhead' is what the cache adds per entry (map slot, recency links, entry record).
 */
export async function memory(count: number): Promise<Section> {
  const results = new Map<string, number>()
  for (const library of MEMORY_LIBRARIES) {
    const { stdout } = await run(process.execPath, ['--expose-gc', CHILD, library, String(count)], {
      timeout: 60_000,
    })
    const line = JSON.parse(stdout.trim().split('\n').pop()!) as { bytesPerEntry: number }
    results.set(library, line.bytesPerEntry)
  }
  const raw = results.get('raw data')!
  const tier = results.get('tiercache')!
  const rows = MEMORY_LIBRARIES.map((library) => {
    const bytes = results.get(library)!
    return [
      library,
      bytes.toFixed(0),
      library === 'raw data' ? '–' : (bytes - raw).toFixed(0),
      (bytes / tier).toFixed(2),
    ]
  })
  return {
    id: 'memory',
    title: `Memory: heap bytes per L1 entry (${count.toLocaleString('en-US')} small entries)`,
    markdown: table(['library', 'bytes / entry', 'overhead over raw data', 'vs tiercache'], rows),
    bars: [],
    data: Object.fromEntries(results),
  }
}
