import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { redisBinary, startStandalone } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The repository uses standard decorators, which the test runner's transformer cannot lower: the example is
// built with tsc and its dist/ imported (its `@tiercache/core` import still resolves to core's sources).
const run = promisify(execFile)
const example = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(example, '..', '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

type ServerModule = typeof import('../src/server.js')
let startServer: ServerModule['startServer']

beforeAll(async () => {
  await run(process.execPath, [tsc, '-b', example], { cwd: root })
  const module = (await import(pathToFileURL(join(example, 'dist', 'server.js')).href)) as ServerModule
  startServer = module.startServer
}, 90_000)

async function call(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** Waits (bounded) until `check` passes: another instance's L1 drops an entry when the bus message lands. */
async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 3_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  for (let i = 0; i < 300 && !ok(value) && Date.now() < deadline; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    value = await read()
  }
  return value
}

/** One scripted session; returns what a client saw, so two backends can be compared answer for answer. */
async function session(cacheUrl: string, namespace: string) {
  const server = await startServer({ cacheUrl, namespace, dbLatencyMs: 5 })
  try {
    const seen: unknown[] = []
    const stats = async () => (await call(server.url, 'GET', '/stats')).body.dbQueries
    seen.push(await call(server.url, 'GET', '/users/1'))
    seen.push(await call(server.url, 'GET', '/users/1'))
    seen.push({ dbQueries: await stats() }) // 1: the second read was a hit
    seen.push(await call(server.url, 'PUT', '/users/1', { name: 'Augusta Ada King' }))
    seen.push(await call(server.url, 'GET', '/users/1')) // invalidated by the PUT: loads the new name
    seen.push({ dbQueries: await stats() }) // 3
    seen.push(await call(server.url, 'GET', '/users/404'))
    seen.push(await call(server.url, 'GET', '/users/404'))
    seen.push({ dbQueries: await stats() }) // 5: `when` keeps "not found" out of the cache
    seen.push(await call(server.url, 'PUT', '/users/2', '{"name": 7}'))
    seen.push(await call(server.url, 'GET', '/nowhere'))
    return seen
  } finally {
    await server.close()
  }
}

const expectedSession = [
  { status: 200, body: { id: '1', name: 'Ada Lovelace', email: 'ada@example.com' } },
  { status: 200, body: { id: '1', name: 'Ada Lovelace', email: 'ada@example.com' } },
  { dbQueries: 1 },
  { status: 200, body: { id: '1', name: 'Augusta Ada King', email: 'ada@example.com' } },
  { status: 200, body: { id: '1', name: 'Augusta Ada King', email: 'ada@example.com' } },
  { dbQueries: 3 },
  { status: 404, body: { error: 'not found' } },
  { status: 404, body: { error: 'not found' } },
  { dbQueries: 5 },
  { status: 400, body: { error: 'expected a JSON object { name?, email? }' } },
  { status: 404, body: { error: 'no such route' } },
]

/** Two instances of the service on one backend: an update through B is seen through A. */
async function twoInstances(cacheUrl: string, namespace: string) {
  const a = await startServer({ cacheUrl, namespace, dbLatencyMs: 1 })
  const b = await startServer({ cacheUrl, namespace, dbLatencyMs: 1 })
  try {
    expect((await call(a.url, 'GET', '/users/3')).body.name).toBe('Edsger Dijkstra')
    expect((await call(b.url, 'GET', '/users/3')).body.name).toBe('Edsger Dijkstra')
    expect(b.db.queries).toBe(0) // B read A's entry from the shared tier
    // Each instance has its own "database" in this example; update both, invalidate through B only.
    await a.db.update('3', { name: 'E. W. Dijkstra' })
    await call(b.url, 'PUT', '/users/3', { name: 'E. W. Dijkstra' })
    const seen = await eventually(
      async () => (await call(a.url, 'GET', '/users/3')).body.name,
      (name) => name === 'E. W. Dijkstra',
    )
    expect(seen).toBe('E. W. Dijkstra')
  } finally {
    await a.close()
    await b.close()
  }
}

describe('examples/decorated-service', () => {
  it('answers GET/PUT /users/:id through @Cached/@Invalidate on memory://', async () => {
    expect(await session(`memory://decorated-service-${process.pid}`, 'svc')).toEqual(expectedSession)
  })

  it('two instances on one memory:// store see each other’s invalidations', async () => {
    await twoInstances(`memory://decorated-service-shared-${process.pid}`, 'svc')
  })

  const bin = redisBinary()
  const adapter = existsSync(join(root, 'packages/redis/src/index.ts'))
  const skip = !bin.available
    ? `skipped: no redis-server (${bin.reason})`
    : !adapter
      ? 'skipped: @tiercache/redis is not written yet'
      : `redis-server ${bin.version ?? ''}`.trim()
  describe.skipIf(!bin.available || !adapter)(`on a real Redis (${skip})`, () => {
    let redis: Awaited<ReturnType<typeof startStandalone>> | undefined
    beforeAll(async () => {
      redis = await startStandalone()
    })
    afterAll(async () => {
      await redis?.stop()
    })

    it('gives the same answers on redis:// as on memory://', async () => {
      expect(await session(redis!.url, 'svc-redis')).toEqual(expectedSession)
    })

    it('two instances on one Redis see each other’s invalidations (bus)', async () => {
      await twoInstances(redis!.url, 'svc-redis-pair')
    })
  })
})
