import { redisBinary } from '@tiercache/testkit'
import { describe, expect, it } from 'vitest'
import { runFailoverDemo } from '../src/failover-demo.js'

const bin = redisBinary()

// The demo's own main function, run in-process (no spawn): it starts and stops its topology itself.
// Short runs (8 s of traffic, kill at 2 s, 3 workers) keep the two shared cores usable for others.
describe.skipIf(!bin.available)(`examples/failover-demo (${bin.reason ?? bin.binary})`, () => {
  for (const topology of ['cluster', 'sentinel'] as const) {
    it(`${topology}: a SIGKILLed master fails over with zero caller errors, and writes resume`, async () => {
      const lines: string[] = []
      const started = Date.now()
      const summary = await runFailoverDemo({
        topology,
        seconds: 8,
        killAfterSeconds: 2,
        workers: 3,
        log: (line) => lines.push(line),
      })
      const output = lines.join('\n')
      console.info(`${topology} demo run: ${((Date.now() - started) / 1000).toFixed(1)} s in all\n${output}`)

      expect(summary.errors, output).toBe(0)
      expect(summary.errorSamples).toEqual([])
      expect(summary.requests).toBeGreaterThan(500)
      // A failover was seen: by the topology (a replica promoted) and by the cache itself (its event).
      expect(summary.killed).toBeDefined()
      expect(summary.promoted).toBeDefined()
      expect(summary.promoted).not.toBe(summary.killed)
      expect(summary.events.failover, output).toBeGreaterThan(0)
      // Writes resumed: a write made through the cache was found on the new master.
      expect(summary.firstWriteMs, output).toBeDefined()
      expect(summary.firstWriteMs!).toBeLessThan(summary.failoverMs! + 5_000)
      // The live lines and the summary a person reads.
      expect(output).toMatch(/SIGKILL master 127\.0\.0\.1:\d+/)
      expect(output).toMatch(/promoted \([\d.]+ s after the kill\)/)
      expect(output).toMatch(/^OK: zero caller errors$/m)
    }, 60_000)
  }
})
