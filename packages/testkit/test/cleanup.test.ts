import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { redisBinary } from '@tiercache/testkit'
import { beforeAll, describe, expect, it } from 'vitest'
import { isAlive } from './helpers.js'

const bin = redisBinary()
const pkg = fileURLToPath(new URL('..', import.meta.url))
const dist = pathToFileURL(`${pkg}dist/index.js`).href

interface Started {
  pid: number
  dir: string
  child: ReturnType<typeof spawn>
}

/** A separate node process that starts a standalone (paused if asked) and then waits, or exits without stop(). */
async function startChild(mode: 'wait' | 'exit'): Promise<Started> {
  const script = `
    const { startStandalone } = await import(${JSON.stringify(dist)})
    const r = await startStandalone()
    r.pause(r.node)
    console.log(JSON.stringify({ pid: r.node.pid, dir: r.node.dir }))
    if (${JSON.stringify(mode)} === 'exit') process.exit(0)
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)))
  })
  return { ...(JSON.parse(line) as { pid: number; dir: string }), child }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return !isAlive(pid)
}

describe.skipIf(!bin.available)(
  `cleanup when the test process dies (${bin.available ? bin.binary : bin.reason})`,
  () => {
    // The child runs the built package (plain node cannot import the .ts sources).
    beforeAll(() => {
      execFileSync(process.execPath, [fileURLToPath(import.meta.resolve('typescript/bin/tsc')), '-b', pkg], {
        stdio: 'inherit',
      })
    })

    it('the watchdog kills a paused server once its parent is SIGKILLed', async () => {
      const { pid, dir, child } = await startChild('wait')
      expect(isAlive(pid)).toBe(true)
      const t0 = Date.now()
      child.kill('SIGKILL')
      expect(await gone(pid, 5_000)).toBe(true)
      console.log(`watchdog cleanup after SIGKILL: ${Date.now() - t0} ms`)
      await expect.poll(() => existsSync(dir), { timeout: 3_000 }).toBe(false)
    })

    it('the exit hook kills servers the process forgot to stop', async () => {
      const { pid, dir, child } = await startChild('exit')
      await new Promise((resolve) =>
        child.exitCode === null ? child.once('exit', resolve) : resolve(undefined),
      )
      expect(await gone(pid, 1_000)).toBe(true)
      expect(existsSync(dir)).toBe(false)
    })
  },
)
