import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')

/**
 * pnpm as this test was started: `pnpm test` sets npm_execpath to pnpm's own script; run directly (e.g.
 * `npx vitest`) on a machine without a global pnpm, the pinned pnpm through npx, as the README does.
 */
const pnpm: readonly [string, readonly string[]] = /pnpm/.test(process.env.npm_execpath ?? '')
  ? [process.execPath, [process.env.npm_execpath!]]
  : ['npx', ['-y', 'pnpm@10.34.9']]
const PACKAGES = ['core', 'redis', 'sentinel', 'cluster', 'testkit']

/**
 * Users install tiercache from the registry, not from this workspace: this packs every package with
 * `pnpm pack` (which rewrites `workspace:` ranges), installs the tarballs with plain `npm install` into a
 * fresh app outside the workspace, compiles a strict NodeNext TypeScript consumer and runs it — on the
 * embedded store, and on a real Redis so the adapter is found by core's dynamic import in npm's layout.
 */
describe.skipIf(!redisBinary().available)('packed tarballs install and run in a fresh npm app', () => {
  let app: string
  let redis: StandaloneTopology

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'tiercache-consumer-'))
    const tarballs = join(app, 'tarballs')
    await mkdir(tarballs)
    for (const name of PACKAGES) {
      await run(pnpm[0], [...pnpm[1], 'pack', '--pack-destination', tarballs], {
        cwd: join(root, 'packages', name),
      })
    }
    const files = await readdir(tarballs)
    const dependencies: Record<string, string> = {}
    for (const name of PACKAGES) {
      const file = files.find((f) => f.startsWith(`tiercache-${name}-`))
      if (!file) throw new Error(`no tarball for ${name} in ${files.join(', ')}`)
      dependencies[`@tiercache/${name}`] = `file:./tarballs/${file}`
    }
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2),
    )
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'dist',
        },
        include: ['app.ts'],
      }),
    )
    await writeFile(join(app, 'app.ts'), CONSUMER)
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      timeout: 240_000,
    })
    // Types for node come from the workspace (no extra download); the compiler is the workspace's.
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `@types/node@20`], {
      cwd: app,
      timeout: 120_000,
    })
    redis = await startStandalone()
  }, 300_000)

  afterAll(async () => {
    await redis?.stop()
    if (app) await rm(app, { recursive: true, force: true })
  })

  it('compiles under strict NodeNext and runs against memory:// and redis://', async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 })
    const { stdout } = await run(process.execPath, ['dist/app.js', redis.url], { cwd: app, timeout: 60_000 })
    expect(stdout).toContain('memory: hit alice, loader calls 1')
    expect(stdout).toContain('redis: remote hit alice')
    expect(stdout).toContain('error code: UNKNOWN_SCHEME')
  }, 180_000)
})

const CONSUMER = `
import { createCache, TierCacheError, type Cache } from '@tiercache/core'
import { createStore } from '@tiercache/redis'

interface User { name: string; since: Date }

async function main(redisUrl: string): Promise<void> {
  const cache: Cache = createCache({ namespace: 'consumer', ttl: '1m' })
  let calls = 0
  const load = async (): Promise<User> => { calls++; return { name: 'alice', since: new Date(0) } }
  await cache.getOrSet<User>('user:1', load)
  const user = await cache.getOrSet<User>('user:1', load)
  console.log(\`memory: hit \${user.name}, loader calls \${calls}\`)
  await cache.close()

  const writer = createCache({ store: redisUrl, namespace: 'consumer' })
  const reader = createCache({ store: redisUrl, namespace: 'consumer', l1: false })
  await writer.set('user:1', { name: 'alice', since: new Date(0) })
  const remote = await reader.get<User>('user:1')
  console.log(\`redis: remote hit \${remote?.name}\`)
  await writer.close()
  await reader.close()
  if (typeof createStore !== 'function') throw new Error('createStore missing')

  try {
    createCache({ store: 'nope://x' })
  } catch (error) {
    if (error instanceof TierCacheError) console.log(\`error code: \${error.code}\`)
  }
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
`
