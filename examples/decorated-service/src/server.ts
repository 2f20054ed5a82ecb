import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Cache, cacheOptionsFromEnv, createCache } from '@tiercache/core'
import { UserDatabase } from './user-database.js'
import { UserRepository } from './user-repository.js'

export interface ServerOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number
  host?: string
  /** Backend URL: memory:// (default), redis://…, redis+sentinel://…, redis+cluster://… */
  cacheUrl?: string
  /** Namespace of the service's keys (default 'users-service'). */
  namespace?: string
  /** Simulated database latency per query (default 20 ms). */
  dbLatencyMs?: number
}

export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly cache: Cache
  readonly db: UserDatabase
  close(): Promise<void>
}

/**
 * Starts the service: GET /users/:id, PUT /users/:id (JSON body { name?, email? }), GET /stats.
 * Configuration comes from the options, then from TIERCACHE_* variables (see cacheOptionsFromEnv).
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const cache = createCache({
    namespace: options.namespace ?? 'users-service',
    ttl: '5m',
    ...cacheOptionsFromEnv(),
    ...(options.cacheUrl === undefined ? {} : { store: options.cacheUrl }),
  })
  // Fail at start-up, not on the first request, when the backend is misconfigured (missing adapter, bad password).
  await cache.ready()
  const db = new UserDatabase(options.dbLatencyMs)
  const users = new UserRepository(cache, db)
  const stats = { hits: 0, misses: 0 }
  cache.on('hit', () => stats.hits++)
  cache.on('miss', () => stats.misses++)

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      send(res, 500, { error: String((error as Error)?.message ?? error) }),
    )
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost')
    const match = /^\/users\/([^/]+)$/.exec(pathname)
    if (match && req.method === 'GET') {
      const user = await users.findById(decodeURIComponent(match[1]!))
      return user === null ? send(res, 404, { error: 'not found' }) : send(res, 200, user)
    }
    if (match && req.method === 'PUT') {
      const body = await readJson(req)
      if (body === undefined) return send(res, 400, { error: 'expected a JSON object { name?, email? }' })
      const user = await users.update(decodeURIComponent(match[1]!), body)
      return user === null ? send(res, 404, { error: 'not found' }) : send(res, 200, user)
    }
    if (pathname === '/stats' && req.method === 'GET') {
      return send(res, 200, { dbQueries: db.queries, ...stats, store: cache.health().state })
    }
    send(res, 404, { error: 'no such route' })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  })
  const { port, address } = server.address() as AddressInfo
  return {
    url: `http://${address}:${port}`,
    port,
    cache,
    db,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await cache.close()
    },
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function readJson(req: IncomingMessage): Promise<{ name?: string; email?: string } | undefined> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
    const { name, email } = body as Record<string, unknown>
    if (
      (name !== undefined && typeof name !== 'string') ||
      (email !== undefined && typeof email !== 'string')
    )
      return undefined
    return { ...(name === undefined ? {} : { name }), ...(email === undefined ? {} : { email }) }
  } catch {
    return undefined
  }
}
