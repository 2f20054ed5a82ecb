import calculateSlot from 'cluster-key-slot'
import { type Cluster, Command } from 'ioredis'

/** Keys of one hash slot, with their positions in the caller's array. */
export interface SlotGroup {
  readonly slot: number
  readonly keys: string[]
  readonly indexes: number[]
}

/** The hash slot of a key (`{hash tag}` aware) — the same function ioredis routes with. */
export function slotOf(key: string): number {
  return calculateSlot(key)
}

/**
 * Groups keys by hash slot, splitting a slot's keys into chunks of at most `maxPerGroup` (one huge MGET
 * would block its node). Groups come in first-seen order; `indexes` map replies back to key order.
 */
export function groupBySlot(keys: readonly string[], maxPerGroup = Number.POSITIVE_INFINITY): SlotGroup[] {
  const open = new Map<number, SlotGroup>()
  const groups: SlotGroup[] = []
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const slot = calculateSlot(key)
    let group = open.get(slot)
    if (group === undefined || group.keys.length >= maxPerGroup) {
      group = { slot, keys: [], indexes: [] }
      open.set(slot, group)
      groups.push(group)
    }
    group.keys.push(key)
    group.indexes.push(i)
  }
  return groups
}

/** One command whose keys all live in `slot`: `[name, ...args]`. */
export interface SlotCommand {
  readonly slot: number
  readonly args: readonly [string, ...Array<string | Buffer | Uint8Array | number>]
  /**
   * `args[0]` names a Lua script defined on the cluster client (`defineCommand`), called with the rest:
   * ioredis sends it as EVALSHA (EVAL on a connection that has not loaded it, or after NOSCRIPT).
   */
  readonly script?: boolean
}

/** A defined script, as ioredis adds it to the cluster client and its pipelines. */
type ScriptCall = (...args: Array<string | Buffer | number>) => Promise<unknown>

/** What one `run` did: for tests and telemetry. */
export interface BatchStats {
  /** Pipelines sent, one per node (allocation group) in the first pass. */
  pipelines: number
  /** Commands re-sent singly after a redirect or a transient error inside a pipeline. */
  resent: number
}

type Reply = [error: Error | null, result: unknown]

/**
 * Sends slot-scoped commands grouped by node: one ioredis pipeline per node (its slots' commands
 * together), so N keys over M masters cost about M round trips.
 *
 * ioredis only accepts a cluster pipeline whose keys are all served by one "allocation group" (the same
 * master + replicas), and when its commands fail with different errors (MOVED for one slot, OK for the
 * others — the normal case during resharding) it resolves the pipeline with per-command errors instead
 * of following them. So the batcher groups by the client's current slot map, and every command that came
 * back with an error (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, lost connection, or a pipeline ioredis refused
 * because the map changed under it) is re-sent on its own through the normal cluster routing, which
 * follows MOVED/ASK (with ASKING) and TRYAGAIN. Replies are returned in command order; the first error
 * that survives the re-send rejects the run (the store decides whether to retry it).
 */
export class SlotBatcher {
  readonly #cluster: Cluster
  readonly #stats: BatchStats = { pipelines: 0, resent: 0 }

  constructor(cluster: Cluster) {
    this.#cluster = cluster
  }

  /** Counters since creation (pipelines sent, commands re-sent). */
  get stats(): Readonly<BatchStats> {
    return this.#stats
  }

  /**
   * Runs `commands`; `done[i]` marks commands already answered by an earlier attempt (a retry re-sends only
   * what is missing) and `replies[i]` receives each answer. Resolves when every command has an answer.
   */
  async run(commands: readonly SlotCommand[], replies: unknown[], done: boolean[]): Promise<void> {
    const byNode = new Map<string, number[]>()
    for (let i = 0; i < commands.length; i++) {
      if (done[i]) continue
      const node = this.#nodeOf(commands[i]!.slot)
      let list = byNode.get(node)
      if (list === undefined) {
        list = []
        byNode.set(node, list)
      }
      list.push(i)
    }
    if (byNode.size === 0) return
    const retry: number[] = []
    const failures: Error[] = []
    await Promise.all(
      [...byNode.values()].map(async (indexes) => {
        const outcomes = await this.#pipeline(indexes.map((i) => commands[i]!))
        for (let j = 0; j < indexes.length; j++) {
          const [error, result] = outcomes[j]!
          const i = indexes[j]!
          if (error === null) {
            replies[i] = result
            done[i] = true
          } else if (isRedirect(error)) retry.push(i)
          else failures.push(error)
        }
      }),
    )
    // A timeout or a lost connection is not re-sent here: the store retries it after backoff and a
    // topology refresh, within its deadline (re-sending at once would only pay the timeout twice).
    if (failures.length > 0) throw failures[0]
    if (retry.length === 0) return
    this.#stats.resent += retry.length
    // Re-sent singly through the cluster's routing (which follows MOVED/ASK/TRYAGAIN); auto-pipelining
    // still groups them per node.
    const errors: Error[] = []
    await Promise.all(
      retry.map(async (i) => {
        try {
          replies[i] = await this.#single(commands[i]!)
          done[i] = true
        } catch (error) {
          errors.push(error as Error)
        }
      }),
    )
    if (errors.length > 0) throw errors[0]
  }

  /** The allocation group (master;replicas) that serves `slot` in the client's current map. */
  #nodeOf(slot: number): string {
    const nodes = (this.#cluster as unknown as { slots: string[][] }).slots[slot]
    return nodes === undefined || nodes.length === 0 ? '?' : nodes.join(';')
  }

  async #pipeline(commands: readonly SlotCommand[]): Promise<Reply[]> {
    this.#stats.pipelines++
    if (commands.length === 1) {
      // One command: the normal path already follows redirects, no pipeline needed.
      try {
        return [[null, await this.#single(commands[0]!)]]
      } catch (error) {
        return [[error as Error, undefined]]
      }
    }
    if (commands.length > 1 && this.#nodeOf(commands[0]!.slot) === '?') {
      return commands.map(() => [new Error('slot not covered in the client map'), undefined])
    }
    const pipeline = this.#cluster.pipeline()
    for (const command of commands) {
      const [name, ...args] = command.args
      if (command.script) scriptOf(pipeline, name)(...(args as Array<string | Buffer | number>))
      else pipeline.callBuffer(name, ...(args as Array<string | Buffer | number>))
    }
    try {
      const replies = (await pipeline.exec()) as Reply[] | null
      if (replies === null) throw new Error('pipeline returned no replies')
      return replies
    } catch (error) {
      // Refused as a whole (the slot map changed between grouping and exec, or the cluster went away):
      // every command is re-sent singly.
      return commands.map(() => [error as Error, undefined])
    }
  }

  /** Sends one command straight into the cluster routing (no auto-pipelining), replies as Buffers. */
  send(command: SlotCommand): Promise<unknown> {
    return this.#single(command)
  }

  #single(command: SlotCommand): Promise<unknown> {
    const [name, ...args] = command.args
    // Straight into the cluster's routing too: the store keeps its scripts out of auto-pipelining
    // (toIoredisOptions), where a MOVED for one command of a mixed batch would come back as an error.
    if (command.script) return scriptOf(this.#cluster, name)(...(args as Array<string | Buffer | number>))
    // Straight into the cluster's routing (MOVED/ASK/TRYAGAIN handling). Not `callBuffer`: with
    // auto-pipelining on, ioredis 6 drops the command name of `callBuffer` (it only re-adds it for `call`).
    const sent = new Command(name.toLowerCase(), args as Array<string | Buffer | number>, {
      replyEncoding: null,
    })
    return this.#cluster.sendCommand(sent) as Promise<unknown>
  }
}

/** The script `name` defined on `client` (a cluster or one of its pipelines), bound to it. */
function scriptOf(client: object, name: string): ScriptCall {
  const call = (client as Record<string, unknown>)[name]
  if (typeof call !== 'function') throw new Error(`script ${name} is not defined on the cluster client`)
  return (call as ScriptCall).bind(client)
}

/**
 * Errors after which a command is re-sent at once through the cluster routing: redirects, a half-migrated
 * slot, and pipelines that ioredis refused because the slot map changed between grouping and exec.
 */
function isRedirect(error: Error): boolean {
  const message = String(error?.message ?? '')
  return (
    /^(MOVED|ASK|TRYAGAIN) /.test(message) ||
    /same slots allocation group|same slot|not covered/.test(message)
  )
}
