import { rmSync } from 'node:fs'
import type { ManagedNode, RedisNode } from './process.js'

/** Maps a node handed to NodeControl back to the managed process of this topology. */
export function asManaged(node: RedisNode, nodes: readonly ManagedNode[]): ManagedNode {
  const found = nodes.find((n) => n === node || (n.host === node.host && n.port === node.port))
  if (!found) throw new Error(`@tiercache/testkit: ${node.id} does not belong to this topology`)
  return found
}

export function redisUrl(node: { host: string; port: number }, password?: string, tls = false): string {
  const auth = password !== undefined ? `:${encodeURIComponent(password)}@` : ''
  return `${tls ? 'rediss' : 'redis'}://${auth}${node.host}:${node.port}`
}

/** stop() for a multi-node topology: all nodes killed in parallel, then the folder removed; idempotent. */
export function stopper(nodes: () => readonly ManagedNode[], dir: string): () => Promise<void> {
  let stopped: Promise<void> | undefined
  return () => {
    stopped ??= Promise.all(nodes().map((n) => n.kill())).then(() =>
      rmSync(dir, { recursive: true, force: true }),
    )
    return stopped
  }
}
