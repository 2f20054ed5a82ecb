import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { RedisNode } from '@tiercache/testkit'
import { expect } from 'vitest'

/** Alive and not a zombie (a killed orphan stays a zombie until init reaps it, which can take a while). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return true // no procfs (macOS): kill(0) is all we have
  }
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port }, () => server.close(() => resolve(true)))
  })
}

/**
 * SIGKILLs `victim` (its process must be gone at once), waits for the topology (`what`: 'sentinel' or
 * 'cluster') to fail over to another node, logs how long that took, and returns the new master.
 */
export async function killAndAwaitFailover(
  topo: {
    kill(node: RedisNode): Promise<void>
    waitForFailover(opts: { from: RedisNode; timeoutMs?: number }): Promise<RedisNode>
  },
  victim: RedisNode,
  what: string,
): Promise<RedisNode> {
  const pid = victim.pid!
  const t0 = Date.now()
  await topo.kill(victim)
  expect(isAlive(pid)).toBe(false)
  const next = await topo.waitForFailover({ from: victim, timeoutMs: 20_000 })
  console.log(`${what} failover after kill: ${Date.now() - t0} ms`)
  expect(next).not.toBe(victim)
  return next
}
