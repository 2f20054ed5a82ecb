import { keySlot, type RedisNode, startCluster, startSentinel } from '@tiercache/testkit'
import type { TopologyKind } from './options.js'

/**
 * One face for both topologies: what the demo needs is "the master that will be killed", "who is master of
 * its data now" and a key that lives on it. For Cluster that is one master's slots (the other masters are
 * not touched by the failover); for Sentinel it is the whole data set.
 */
export interface DemoTopology {
  readonly kind: TopologyKind
  readonly url: string
  readonly description: string
  /** The master that will be killed. */
  readonly victim: RedisNode
  /** A hash tag whose keys live on the victim's slots (Cluster) — any key does for Sentinel. */
  readonly probeTag: string
  /** The node that is master of the victim's data right now; undefined while nobody is. */
  currentMaster(): Promise<RedisNode | undefined>
  kill(node: RedisNode): Promise<void>
  /** Resolves with the promoted node once the topology agrees on it. */
  waitForFailover(timeoutMs: number): Promise<RedisNode>
  stop(): Promise<void>
}

export async function startDemoTopology(kind: TopologyKind, namespace: string): Promise<DemoTopology> {
  return kind === 'cluster' ? startClusterTopology(namespace) : startSentinelTopology()
}

async function startSentinelTopology(): Promise<DemoTopology> {
  const topology = await startSentinel({ replicas: 2, sentinels: 3 })
  try {
    const victim = await topology.master()
    return {
      kind: 'sentinel',
      url: topology.url,
      description: `sentinel (1 master, 2 replicas, 3 sentinels, master '${topology.masterName}')`,
      victim,
      probeTag: 'probe',
      currentMaster: () => topology.master().catch(() => undefined),
      kill: (node) => topology.kill(node),
      waitForFailover: (timeoutMs) => topology.waitForFailover({ from: victim, timeoutMs }),
      stop: () => topology.stop(),
    }
  } catch (error) {
    await topology.stop()
    throw error
  }
}

async function startClusterTopology(namespace: string): Promise<DemoTopology> {
  const topology = await startCluster({ masters: 3, replicasPerMaster: 1 })
  try {
    const victim = (await topology.masters())[0]!
    // A hash tag on the victim's slots, so the write probe measures exactly the slots that fail over.
    let probeTag: string | undefined
    let probeSlot = 0
    for (let i = 0; i < 1000 && probeTag === undefined; i++) {
      const slot = keySlot(`${namespace}:probe:{p${i}}`)
      if ((await topology.masterForSlot(slot)).port === victim.port) {
        probeTag = `p${i}`
        probeSlot = slot
      }
    }
    if (probeTag === undefined)
      throw new Error(`no hash tag found on the slots of ${victim.host}:${victim.port}`)
    return {
      kind: 'cluster',
      url: topology.url,
      description: 'cluster (3 masters, 1 replica each)',
      victim,
      probeTag,
      // While the victim's slots have no master, the testkit says so by throwing.
      currentMaster: () => topology.masterForSlot(probeSlot).catch(() => undefined),
      kill: (node) => topology.kill(node),
      waitForFailover: (timeoutMs) => topology.waitForFailover({ from: victim, timeoutMs }),
      stop: () => topology.stop(),
    }
  } catch (error) {
    await topology.stop()
    throw error
  }
}
