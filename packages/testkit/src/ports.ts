import { createServer } from 'node:net'

// Ports handed out by this process; the OS may give a just-closed port 0 again, so never reuse one here.
const handedOut = new Set<number>()

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(undefined))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address ? address.port : undefined
      server.close(() => resolve(bound))
    })
  })
}

export function isPortFree(port: number): Promise<boolean> {
  return tryListen(port).then((p) => p !== undefined)
}

/**
 * A free loopback port, found by binding port 0 on 127.0.0.1. With `busOffset` (cluster: 10000) the port
 * plus that offset must be free too and still a valid port.
 */
export async function freePort(opts: { busOffset?: number } = {}): Promise<number> {
  const offset = opts.busOffset ?? 0
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await tryListen(0)
    if (port === undefined || handedOut.has(port)) continue
    if (offset) {
      if (port + offset > 65535) continue
      if (handedOut.has(port + offset) || !(await isPortFree(port + offset))) continue
      handedOut.add(port + offset)
    }
    handedOut.add(port)
    return port
  }
  throw new Error('@tiercache/testkit: could not find a free loopback port')
}
