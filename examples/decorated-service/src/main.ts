// Runs the service: `CACHE_URL=redis://127.0.0.1:6379 PORT=3000 node dist/main.js` (memory:// by default).
import { startServer } from './server.js'

const server = await startServer({
  port: Number(process.env.PORT ?? 3000),
  ...(process.env.CACHE_URL ? { cacheUrl: process.env.CACHE_URL } : {}),
})
console.log(
  `users service on ${server.url} (cache: ${process.env.CACHE_URL ?? process.env.TIERCACHE_URL ?? 'memory://'})`,
)
console.log(
  `try: curl ${server.url}/users/1 ; curl -X PUT -d '{"name":"Ada"}' ${server.url}/users/1 ; curl ${server.url}/stats`,
)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
