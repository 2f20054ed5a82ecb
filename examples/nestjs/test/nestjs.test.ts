import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { redisBinary, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The example compiles with experimentalDecorators + emitDecoratorMetadata, which the test runner's
// transformer does not apply the way tsc does: build it with tsc and run the output with node.
const run = promisify(execFile)
const example = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(example, '..', '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

const expected = [
  'profile(1)            → Ada (pro), queries so far: 1',
  'profile(1) × 2 more   → cached, queries so far: 1',
  "byPlan('pro')         → [1], queries so far: 2",
  "byPlan('pro') again   → cached, queries so far: 2",
  "changePlan(2, 'pro')  → Grace is pro; tags user:2 and plans invalidated",
  "byPlan('pro')         → [1, 2], queries so far: 4",
  'closed.',
]

async function runExample(env: Record<string, string>): Promise<string[]> {
  const { stdout } = await run(process.execPath, [join(example, 'dist', 'main.js')], {
    cwd: root,
    timeout: 20_000,
    env: { ...process.env, ...env },
  })
  return stdout.trim().split('\n')
}

beforeAll(async () => {
  // The redis run loads @tiercache/redis from its dist/ (core imports the adapter at run time): build it too.
  await run(process.execPath, [tsc, '-b', example, join(root, 'packages/redis')], { cwd: root })
}, 90_000)

describe('examples/nestjs (experimentalDecorators, NestJS-style providers)', () => {
  it('caches and invalidates through the injected cache on memory://', async () => {
    expect(await runExample({ TIERCACHE_URL: 'memory://' })).toEqual(expected)
  })

  const bin = redisBinary()
  describe.skipIf(!bin.available)(`on a real Redis (${bin.reason ?? bin.binary})`, () => {
    let redis: Awaited<ReturnType<typeof startStandalone>> | undefined
    beforeAll(async () => {
      redis = await startStandalone()
    })
    afterAll(async () => {
      await redis?.stop()
    })

    it('gives the same answers on redis:// (TIERCACHE_URL)', async () => {
      expect(await runExample({ TIERCACHE_URL: redis!.url })).toEqual(expected)
    })
  })
})
