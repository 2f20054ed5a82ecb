import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { redisBinary, startStandalone } from '@tiercache/testkit'
import { describe, expect, it } from 'vitest'
import { runDemo } from '../src/demo.js'

const run = promisify(execFile)
const example = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(example, '..', '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

const expectedLines = [
  /^tiercache quickstart \(store: (memory:\/\/|redis:\/\/127\.0\.0\.1:\d+), namespace: demo\)$/,
  /^miss +user:1 → Ada Lovelace, loaded from the database in [\d.]+ ms$/,
  /^hit +user:1 → served from memory in [\d.]+ ms$/,
  /^hit +user:1 → served from memory in [\d.]+ ms$/,
  /^hit +user:1 → served from memory in [\d.]+ ms$/,
  /^tags +invalidateTags\('org:7'\) → user:1 is gone$/,
  /^single-flight 100 concurrent calls → 1 loader call, all got the same value$/,
  /^grace +price:eur expired and its loader failed \(price service down\) → served the stale value 42$/,
  /^totals +3 hits, 5 misses, 1 stale served, 1 database query$/,
  /^closed\.$/,
]

function expectDemoOutput(lines: string[]): void {
  expect(lines).toHaveLength(expectedLines.length)
  for (const [i, line] of lines.entries()) expect(line).toMatch(expectedLines[i]!)
}

describe('examples/quickstart', () => {
  it('shows a miss, hits, tags, single-flight (100 calls → 1 load) and grace', async () => {
    const lines: string[] = []
    const result = await runDemo((line) => lines.push(line))
    expectDemoOutput(lines)
    expect(result).toMatchObject({ queries: 1, reportLoads: 1, price: 42 })
  })

  it.skipIf(!redisBinary().available)(
    'tells the same story on a real Redis (CACHE_URL), twice in a row on the same server',
    async () => {
      const redis = await startStandalone()
      try {
        for (let run = 0; run < 2; run++) {
          const lines: string[] = []
          const result = await runDemo((line) => lines.push(line), redis.url)
          expectDemoOutput(lines)
          expect(lines[0]).toContain(redis.url)
          expect(result).toMatchObject({ queries: 1, reportLoads: 1, price: 42 })
        }
      } finally {
        await redis.stop()
      }
    },
    30_000,
  )

  it('`pnpm demo` (node on the built dist) prints the same and exits 0 on its own, quickly', async () => {
    await run(process.execPath, [tsc, '-b', example], { cwd: root })
    const started = Date.now()
    const { stdout } = await run(process.execPath, [join(example, 'dist', 'main.js')], {
      cwd: root,
      timeout: 15_000,
    })
    expect(Date.now() - started).toBeLessThan(5_000)
    expectDemoOutput(stdout.trim().split('\n'))
  }, 90_000)
})
