import type { StoreEvent } from '@tiercache/core'
import type { Cluster } from 'ioredis'

const SLOTS = 16384

/**
 * Watches the client's slot map and reports how it changed: `failover` when slots moved to a node that
 * was not a master before (a replica was promoted — the old master failed), `topology` when slots moved
 * between existing masters (resharding) or masters appeared/disappeared otherwise.
 */
export class TopologyWatch {
  readonly #cluster: Cluster
  readonly #emit: (event: StoreEvent) => void
  #owners: string[] | undefined

  constructor(cluster: Cluster, emit: (event: StoreEvent) => void) {
    this.#cluster = cluster
    this.#emit = emit
  }

  /** A cheap fingerprint of slot ownership (master of each slot range). */
  signature(): string {
    return ranges(this.#current())
  }

  /** Compares the client's slot map with the last one seen and reports the difference. */
  check(): void {
    const owners = this.#current()
    const previous = this.#owners
    this.#owners = owners
    if (previous === undefined) return
    const moved = new Map<string, number>()
    const oldMasters = new Set(previous.filter((owner) => owner !== ''))
    for (let slot = 0; slot < SLOTS; slot++) {
      const from = previous[slot]!
      const to = owners[slot]!
      if (from === to || to === '') continue
      const pair = `${from}>${to}`
      moved.set(pair, (moved.get(pair) ?? 0) + 1)
    }
    for (const [pair, slots] of moved) {
      const [from, to] = pair.split('>') as [string, string]
      if (!oldMasters.has(to)) this.#emit({ type: 'failover', detail: { from, to, slots } })
      else this.#emit({ type: 'topology', detail: { change: 'slots-moved', from, to, slots } })
    }
  }

  #current(): string[] {
    const slots = (this.#cluster as unknown as { slots: string[][] }).slots
    const owners = new Array<string>(SLOTS)
    for (let slot = 0; slot < SLOTS; slot++) owners[slot] = slots[slot]?.[0] ?? ''
    return owners
  }
}

function ranges(owners: readonly string[]): string {
  const parts: string[] = []
  let start = 0
  for (let slot = 1; slot <= owners.length; slot++) {
    if (slot === owners.length || owners[slot] !== owners[start]) {
      parts.push(`${start}-${slot - 1}=${owners[start]}`)
      start = slot
    }
  }
  return parts.join(',')
}
