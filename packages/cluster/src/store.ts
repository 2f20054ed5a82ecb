import type {
  Fence,
  FencedRead,
  InvalidationResult,
  RemoteStore,
  StoreConfig,
  StoreEntry,
  StoreEvent,
  StoreHealth,
  StoreListener,
} from '@tiercache/core'
import { APPLIED, isFatalError, isTierCacheError, TierCacheError, UNAVAILABLE } from '@tiercache/core'
import {
  CircuitBreaker,
  classifyRedisError,
  clearOp,
  defineFenceCommands,
  type FenceCommands,
  fencedSetArgs,
  guardStreams,
  isNodeFailure,
  parseFencedRead,
  type QueuedInvalidation,
  ReplayQueue,
  retryWithDeadline,
  toFatalError,
} from '@tiercache/redis'
import { Cluster, Command, type Redis } from 'ioredis'
import { ClusterBus } from './cluster-bus.js'
import { diagnoseCluster, reason } from './diagnose.js'
import { type ResolvedClusterOptions, resolveClusterOptions, toIoredisOptions } from './options.js'
import { groupBySlot, SlotBatcher, type SlotCommand, slotOf } from './slot-batcher.js'
import { TopologyWatch } from './topology-watch.js'

const SCAN_COUNT = 1000
/** Replay attempts of queued invalidations while the queue is not empty. */
const REPLAY_INTERVAL_MS = 500
/** At most one forced slot refresh per this many ms (every failing call asks for one). */
const REFRESH_THROTTLE_MS = 100
/** How long a diagnosis of an unreachable cluster is served before it is refreshed (in the background). */
const DIAGNOSIS_TTL_MS = 2000
/** Fence bumps per pipeline when a clear bumps its fences (16,384 on a cluster). */
const FENCE_BUMP_CHUNK = 512

/**
 * The Redis/Valkey Cluster remote tier (`redis+cluster://h1:7000,h2:7001`).
 *
 * - Routing is ioredis's (slot map, MOVED/ASK, TRYAGAIN); multi-key work is grouped by slot and node by
 *   {@link SlotBatcher}: one pipeline per node, one MGET/UNLINK per slot.
 * - Every call is bounded by its deadline (reads and writes 1 s, invalidations 3 s by default) and retried
 *   by the resilience kit of `@tiercache/redis` (classification, full-jitter backoff, deadline), after a
 *   topology refresh, for errors a retry can fix (lost connection, timeout, CLUSTERDOWN, MOVED storms…).
 * - One circuit breaker per master: a dead or paused master makes calls for its slots fail fast while
 *   the other masters keep serving.
 * - Invalidations that cannot be applied within their deadline are queued ({@link ReplayQueue}) and replayed
 *   when the cluster answers again.
 * - Start-up and connection problems are diagnosed (`no seed node answered`, AUTH_FAILED,
 *   CLUSTER_NOT_READY) instead of ioredis's "Failed to refresh slots cache".
 * - No stale sets: the engine lays every fence key of a value key in that key's slot (`slotted`), so the
 *   fenced read is one MGET and the fenced write and delete one script each, on the key's master.
 * - `consistency: 'replicated'`: every invalidation is followed, on each master connection that carried
 *   part of it, by `WAIT`; too few replica acknowledgements make it retry (re-sending that master's share),
 *   then queue and replay ({@link #replicated}).
 */
export class ClusterStore implements RemoteStore {
  readonly kind = 'cluster'
  /** Keys live in hash slots: the engine keeps each key's fences in the key's slot. */
  readonly slotted = true
  readonly bus: ClusterBus
  readonly options: ResolvedClusterOptions
  readonly #cluster: Cluster
  /** The same client, with the fence scripts of "no stale sets" defined on it (and its pipelines). */
  readonly #fenced: Cluster & FenceCommands
  readonly #batcher: SlotBatcher
  readonly #queue: ReplayQueue
  readonly #listeners = new Set<StoreListener>()
  readonly #breakers = new Map<string, CircuitBreaker>()
  readonly #watch: TopologyWatch
  /** Wakes `ready()` waiters as soon as a fatal error is known. */
  readonly #onFatal = new Set<() => void>()
  #connecting: Promise<void> | undefined
  #fatal: TierCacheError | undefined
  #diagnosis: TierCacheError | undefined
  #diagnosedAt = 0
  #diagnosing: Promise<TierCacheError> | undefined
  #lastClientError: unknown
  #lastRefresh = 0
  #replayTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(config: StoreConfig) {
    this.options = resolveClusterOptions(config)
    this.#cluster = new Cluster(
      this.options.nodes.map((node) => ({ host: node.host, port: node.port })),
      toIoredisOptions(this.options),
    )
    this.#fenced = defineFenceCommands(this.#cluster)
    this.#batcher = new SlotBatcher(this.#cluster)
    this.#queue = new ReplayQueue({
      onOverflow: (dropped) => this.#emit({ type: 'invalidation-overflow', dropped }),
    })
    this.bus = new ClusterBus(this.#cluster, this.options, (event) => this.#emit(event))
    this.#watch = new TopologyWatch(this.#cluster, (event) => this.#emit(event))
    this.#wireClient()
  }

  /** The underlying ioredis Cluster (diagnostics, tests). Do not send commands around the store. */
  get client(): Cluster {
    return this.#cluster
  }

  /** Pipelines sent and commands re-sent after redirects (per-node batching, for tests and telemetry). */
  get batchStats() {
    return this.#batcher.stats
  }

  #wireClient(): void {
    const cluster = this.#cluster
    // Errors are diagnosed and reported through observe(); without a listener ioredis would print them.
    cluster.on('error', (error: unknown) => this.#onClientError(error))
    cluster.on('node error', (error: unknown, node: string) => this.#onClientError(error, node))
    // Node connections are created lazily: guard each one before it opens its first socket.
    cluster.on('+node', (redis: Redis) => guardStreams(redis))
    cluster.on('ready', () => {
      this.#diagnosis = undefined
      this.#watch.check()
      this.bus.poke()
      this.#scheduleReplay(0)
    })
    cluster.on('refresh', () => {
      this.#watch.check()
      if (this.#queue.size > 0) this.#scheduleReplay(0)
    })
  }

  #onClientError(error: unknown, node?: string): void {
    const unwrapped = (error as { lastNodeError?: unknown })?.lastNodeError ?? error
    this.#lastClientError =
      node === undefined
        ? unwrapped
        : Object.assign(new Error(`${node}: ${reason(unwrapped)}`), { cause: unwrapped })
    const fatal = toFatalError(unwrapped, node === undefined ? 'the cluster' : `cluster node ${node}`)
    if (fatal !== undefined && this.#fatal === undefined) {
      // Wrong credentials do not heal by retrying: stop reconnecting and reject every call with it.
      this.#fatal = fatal
      this.#emit({ type: 'error', operation: 'connect', error: fatal })
      this.#cluster.disconnect()
      for (const wake of this.#onFatal) wake()
      return
    }
    // A failed connection attempt: find out why now, so a wrong password is known before any timeout.
    if (fatal === undefined && this.#cluster.status !== 'ready' && this.#diagnosing === undefined) {
      if (Date.now() - this.#diagnosedAt > 1000) this.#diagnose().catch(() => undefined)
    }
  }

  #emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch {
        // A listener's bug must not break the store.
      }
    }
  }

  observe(listener: StoreListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  // ── Connection and readiness ─────────────────────────────────────────────────────────────────────

  #connect(): void {
    if (this.#connecting !== undefined || this.#closed) return
    this.#connecting = this.#cluster.connect().catch(() => {
      // ioredis keeps reconnecting (clusterRetryStrategy); the reason is diagnosed on demand.
    })
  }

  ready(): Promise<void> {
    return this.#awaitReady(this.options.readyTimeoutMs, false)
  }

  /**
   * Resolves when the client has a topology; rejects with the fatal error or the diagnosis otherwise.
   * With `failFast`, a store already known to be unreachable rejects at once (a dead tier costs a fast
   * miss, not a wait per call) until the client reconnects; the diagnosis is refreshed in the background.
   */
  async #awaitReady(budgetMs: number, failFast: boolean): Promise<void> {
    if (this.#fatal) throw this.#fatal
    if (this.#closed) throw new TierCacheError('CLOSED', 'the cluster store was closed')
    if (this.#cluster.status === 'ready') return
    this.#connect()
    if (failFast && this.#diagnosis !== undefined) {
      if (Date.now() - this.#diagnosedAt > DIAGNOSIS_TTL_MS) this.#diagnose().catch(() => undefined)
      throw this.#diagnosis
    }
    const ok = await new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer)
        this.#cluster.off('ready', onReady)
        this.#onFatal.delete(onFatal)
        resolve(value)
      }
      const onReady = () => done(true)
      const onFatal = () => done(false)
      const timer = setTimeout(() => done(false), Math.max(0, budgetMs))
      this.#cluster.once('ready', onReady)
      this.#onFatal.add(onFatal)
    })
    if (ok && (this.#cluster.status as string) === 'ready') return
    if (this.#fatal) throw this.#fatal
    throw await this.#diagnose()
  }

  /** Finds out why the client is not ready (one diagnosis at a time); kept until the client is ready. */
  #diagnose(): Promise<TierCacheError> {
    this.#diagnosing ??= diagnoseCluster(this.options, this.#lastClientError)
      .then((diagnosis) => {
        if (diagnosis.fatal) this.#onClientError(diagnosis)
        if ((this.#cluster.status as string) !== 'ready') {
          const changed = diagnosis.message !== this.#diagnosis?.message
          this.#diagnosis = diagnosis
          this.#diagnosedAt = Date.now()
          if (changed) this.#emit({ type: 'error', operation: 'connect', error: diagnosis })
        }
        return this.#fatal ?? diagnosis
      })
      .finally(() => {
        this.#diagnosing = undefined
      })
    return this.#diagnosing
  }

  // ── Resilience ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Runs `attempt` with retries (kit: classification, full jitter, deadline) and a hard cap at the deadline.
   * Every retryable failure asks for a (throttled) topology refresh: after a failover, resharding or
   * CLUSTERDOWN the slot map is what needs fixing.
   */
  async #withRetry<T>(
    operation: string,
    deadlineMs: number,
    attempt: (remainingMs: number, attempt: number) => Promise<T>,
  ) {
    const deadline = Date.now() + deadlineMs
    try {
      return await withTimeout(
        retryWithDeadline(
          async ({ remainingMs, attempt: n }) => {
            await this.#awaitReady(Math.min(remainingMs, this.options.connectTimeoutMs), true)
            return attempt(remainingMs, n)
          },
          {
            deadlineMs,
            shouldRetry: (error) =>
              error !== this.#diagnosis &&
              !isTierCacheError(error, 'CIRCUIT_OPEN') &&
              !isTierCacheError(error, 'CLUSTER_NOT_READY') &&
              classifyRedisError(error) === 'retryable',
            onRetry: ({ attempt: n, error }) => {
              this.#refreshSoon()
              this.#emit({ type: 'retry', operation, attempt: n, error })
            },
          },
        ),
        deadline - Date.now(),
        operation,
      )
    } catch (error) {
      const fatal = toFatalError(error)
      if (fatal) {
        this.#onClientError(fatal)
        throw fatal
      }
      if (classifyRedisError(error) === 'retryable') this.#refreshSoon()
      throw error
    }
  }

  #refreshSoon(): void {
    const now = Date.now()
    if (now - this.#lastRefresh < REFRESH_THROTTLE_MS || this.#cluster.status !== 'ready') return
    this.#lastRefresh = now
    this.#cluster.refreshSlotsCache()
  }

  /** The breaker of the master serving `slot` (per master, so one sick master fails fast alone). */
  #breakerFor(slot: number): CircuitBreaker {
    const master = this.#masterOf(slot)
    let breaker = this.#breakers.get(master)
    if (breaker === undefined) {
      // Only sickness of that master counts; redirects and refused pipelines during a reshard do not.
      breaker = new CircuitBreaker({ isFailure: isNodeFailure })
      breaker.onStateChange((state) => this.#emit({ type: 'circuit', state }))
      this.#breakers.set(master, breaker)
    }
    return breaker
  }

  /**
   * Runs slot commands in per-node pipelines; a retry re-sends only the commands still unanswered. With
   * `invalidation` under `consistency: 'replicated'`, a command counts as answered only once its master's
   * replicas acknowledged it ({@link #replicated}); one that was not is re-sent with the retry.
   */
  async #batch(
    operation: string,
    deadlineMs: number,
    commands: SlotCommand[],
    invalidation = false,
  ): Promise<unknown[]> {
    const replies = new Array<unknown>(commands.length)
    const done = new Array<boolean>(commands.length).fill(false)
    if (commands.length === 0) return replies
    // The connection each command was sent on (null: none known), until WAIT confirmed it ('replicated').
    const carriers =
      invalidation && this.#waits ? new Array<Redis | null | undefined>(commands.length) : undefined
    await this.#withRetry(operation, deadlineMs, async () => {
      // One breaker check per master involved: a sick master fails the batch fast.
      const masters = new Set<CircuitBreaker>()
      for (let i = 0; i < commands.length; i++) if (!done[i]) masters.add(this.#breakerFor(commands[i]!.slot))
      const [first, ...others] = [...masters]
      const run = () => this.#batcher.run(commands, replies, done)
      if (first !== undefined) {
        if (others.some((breaker) => breaker.state !== 'closed')) {
          throw new TierCacheError('CIRCUIT_OPEN', 'a master of this batch is failing; its circuit is open')
        }
        if (carriers !== undefined) {
          const connections = this.#nodeConnections()
          for (let i = 0; i < commands.length; i++)
            if (!done[i]) carriers[i] = connections.get(this.#masterOf(commands[i]!.slot)) ?? null
        }
        await first.execute(run)
      }
      if (carriers !== undefined) await this.#replicated(commands, done, carriers)
    })
    return replies
  }

  /** `consistency: 'replicated'` with at least one replica to wait for. */
  get #waits(): boolean {
    return this.options.consistency === 'replicated' && this.options.waitReplicas > 0
  }

  /**
   * The pool connection of every node, by its slot-map key (`host:port`): the one ioredis sends a slot's
   * commands on. All roles: the pool may still list a just-promoted master as a replica.
   */
  #nodeConnections(): Map<string, Redis> {
    const connections = new Map<string, Redis>()
    for (const node of this.#cluster.nodes('all')) connections.set(nodeKey(node), node)
    return connections
  }

  /**
   * WAIT on every connection that carried an answered, not yet confirmed command of `commands` — WAIT counts
   * the writes of its own connection, so it must be the one the command went out on: `carriers[i]`, noted
   * before sending, and also the master the slot map names now, where a MOVED sent it. Masters side by side.
   * Commands of a connection whose WAIT fell short (or failed, or whose connection is gone or unknown) are
   * marked unanswered again, and the first such error is thrown: retryable, so the retry re-sends them and
   * waits again; past the deadline the invalidation is queued, and its replay runs all of this again.
   */
  async #replicated(
    commands: readonly SlotCommand[],
    done: boolean[],
    carriers: Array<Redis | null | undefined>,
  ): Promise<void> {
    const byConnection = new Map<Redis | string, number[]>()
    const add = (connection: Redis | string, i: number) => {
      const list = byConnection.get(connection)
      if (list === undefined) byConnection.set(connection, [i])
      else list.push(i)
    }
    const connections = this.#nodeConnections()
    for (let i = 0; i < commands.length; i++) {
      const carrier = carriers[i]
      if (!done[i] || carrier === undefined) continue
      const master = this.#masterOf(commands[i]!.slot)
      const now = connections.get(master)
      if (carrier !== null) add(carrier, i)
      if (now !== undefined && now !== carrier) add(now, i)
      // No connection known at all: it cannot be confirmed, only re-sent (the WAIT on the name fails).
      if (carrier === null && now === undefined) add(master, i)
    }
    const failed = await this.#waitOn(byConnection.keys())
    for (const [connection, indexes] of byConnection) {
      for (const i of indexes) {
        carriers[i] = undefined
        if (failed.has(connection)) done[i] = false
      }
    }
    const [error] = failed.values()
    if (error !== undefined) throw error
  }

  /** WAIT on each connection, side by side; the ones that fell short or failed, with their errors. */
  async #waitOn(connections: Iterable<Redis | string>): Promise<Map<Redis | string, unknown>> {
    const failed = new Map<Redis | string, unknown>()
    await Promise.all(
      [...connections].map((connection) =>
        this.#wait(connection).catch((error: unknown) => {
          failed.set(connection, error ?? new Error('WAIT failed'))
        }),
      ),
    )
    return failed
  }

  /**
   * `WAIT waitReplicas waitTimeoutMs` on one master connection. It may block on the server for
   * `waitTimeoutMs`, so its client-side bound is that plus the command timeout (not the command timeout
   * alone, which would abandon a WAIT that is still within its time). A master named without a connection
   * (`host:port`) cannot be asked: retryable STORE_UNAVAILABLE.
   */
  async #wait(connection: Redis | string): Promise<void> {
    const { waitReplicas, waitTimeoutMs, commandTimeoutMs } = this.options
    if (typeof connection === 'string') {
      throw new TierCacheError(
        'STORE_UNAVAILABLE',
        `no connection to master ${connection} to confirm the invalidation on (WAIT)`,
      )
    }
    const wait = new Command('wait', [waitReplicas, waitTimeoutMs], { replyEncoding: 'utf8' })
    wait.setTimeout(waitTimeoutMs + commandTimeoutMs)
    const acked = Number(await connection.sendCommand(wait))
    if (acked < waitReplicas) {
      throw new TierCacheError(
        'STORE_UNAVAILABLE',
        `only ${acked} of ${waitReplicas} replica(s) of master ${nodeKey(connection)} acknowledged the invalidation within ${waitTimeoutMs} ms (WAIT)`,
      )
    }
  }

  /**
   * Like {@link #batch}, but each master's share runs on its own — its own breaker, its own retries within
   * the deadline — so a dead or failing-over master costs only its own commands. Their replies stay
   * `undefined` and their indexes are listed in `failed`. Rejects with a fatal error, or (with the first
   * error) when no command at all could be answered: then there is nothing partial to return.
   */
  async #batchPerMaster(
    operation: string,
    deadlineMs: number,
    commands: SlotCommand[],
  ): Promise<{ replies: unknown[]; failed: number[] }> {
    const replies = new Array<unknown>(commands.length)
    const byMaster = new Map<string, number[]>()
    for (let i = 0; i < commands.length; i++) {
      const master = this.#masterOf(commands[i]!.slot)
      let indexes = byMaster.get(master)
      if (indexes === undefined) {
        indexes = []
        byMaster.set(master, indexes)
      }
      indexes.push(i)
    }
    const failed: number[] = []
    const errors: unknown[] = []
    await Promise.all(
      [...byMaster.values()].map(async (indexes) => {
        try {
          const answers = await this.#batch(
            operation,
            deadlineMs,
            indexes.map((i) => commands[i]!),
          )
          for (let j = 0; j < indexes.length; j++) replies[indexes[j]!] = answers[j]
        } catch (error) {
          errors.push(error)
          for (const i of indexes) failed.push(i)
        }
      }),
    )
    const fatal = errors.find((error) => isFatalError(error))
    if (fatal !== undefined) throw fatal
    if (failed.length === commands.length && errors.length > 0) throw errors[0]
    return { replies, failed }
  }

  /** The master serving `slot` in the client's current map ('?' when the map does not cover it). */
  #masterOf(slot: number): string {
    return (this.#cluster as unknown as { slots: string[][] }).slots[slot]?.[0] ?? '?'
  }

  // ── Reads and writes ─────────────────────────────────────────────────────────────────────────────

  get(key: string): Promise<Uint8Array | undefined> {
    const slot = slotOf(key)
    return this.#withRetry('get', this.options.readDeadlineMs, (_, attempt) =>
      this.#breakerFor(slot).execute(() =>
        attempt === 1
          ? this.#cluster.getBuffer(key)
          : (this.#batcher.send({ slot, args: ['GET', key] }) as Promise<Buffer | null>),
      ),
    ).then((value) => value ?? undefined)
  }

  /**
   * One MGET per slot group, one pipeline per master, each master on its own: while a master is down (until
   * its replica is promoted) its keys answer UNAVAILABLE and the other masters' keys their values. Rejects
   * only when no master could be read (or with a fatal error).
   */
  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined | typeof UNAVAILABLE>> {
    const out = new Array<Uint8Array | undefined | typeof UNAVAILABLE>(keys.length)
    if (keys.length === 0) return out
    const groups = groupBySlot(keys, this.options.maxKeysPerCommand)
    const { replies, failed } = await this.#batchPerMaster(
      'getMany',
      this.options.readDeadlineMs,
      groups.map((group) => ({ slot: group.slot, args: ['MGET', ...group.keys] })),
    )
    for (const g of failed) for (const index of groups[g]!.indexes) out[index] = UNAVAILABLE
    groups.forEach((group, g) => {
      const values = replies[g] as Array<Buffer | null> | undefined
      if (values === undefined) return
      group.indexes.forEach((index, j) => {
        out[index] = values[j] ?? undefined
      })
    })
    return out
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    const slot = slotOf(key)
    await this.#withRetry('set', this.options.writeDeadlineMs, (_, attempt) =>
      this.#breakerFor(slot).execute(() =>
        attempt === 1
          ? this.#cluster.set(key, toBuffer(value), 'PX', ttlMs)
          : this.#batcher.send({ slot, args: ['SET', key, toBuffer(value), 'PX', ttlMs] }),
      ),
    )
  }

  /**
   * The value and its fences in one MGET (they share the key's slot): one round trip to the key's master,
   * routed, retried and bounded like {@link get}.
   */
  getFenced(key: string, fence: readonly string[]): Promise<FencedRead> {
    const slot = slotOf(key)
    return this.#withRetry('get', this.options.readDeadlineMs, (_, attempt) =>
      this.#breakerFor(slot).execute(
        () =>
          (attempt === 1
            ? this.#cluster.mgetBuffer(key, ...fence)
            : this.#batcher.send({ slot, args: ['MGET', key, ...fence] })) as Promise<Array<Buffer | null>>,
      ),
    ).then(parseFencedRead)
  }

  /**
   * One FENCED_SET script on the key's master: written only while every fence holds its `expected`
   * generation. Retried like {@link set} on errors a retry can fix (each run checks the fences atomically, so
   * a retry can never write past an invalidation); a refusal (0) is an answer, resolved false, not retried.
   */
  setFenced(entry: StoreEntry, fence: readonly string[], expected: readonly number[]): Promise<boolean> {
    const slot = slotOf(entry.key)
    const px = Math.max(1, Math.ceil(entry.ttlMs))
    const args = fencedSetArgs(entry.key, toBuffer(entry.value), px, fence, expected)
    return this.#withRetry('set', this.options.writeDeadlineMs, () =>
      this.#breakerFor(slot).execute(() => this.#fenced.tiercacheFencedSet(...args)),
    ).then((written) => Number(written) === 1)
  }

  /**
   * Each master's share on its own (like {@link getMany}): while one master is down or failing over, the
   * other masters' entries are still written; then it rejects with STORE_UNAVAILABLE saying how many were
   * not and listing their keys in `unwritten` — the engine reports it as an error event and deletes those
   * keys instead (their master may still hold the values being replaced), not the ones that were written.
   */
  async setMany(entries: readonly StoreEntry[]): Promise<void> {
    const { failed } = await this.#batchPerMaster(
      'setMany',
      this.options.writeDeadlineMs,
      entries.map((entry) => ({
        slot: slotOf(entry.key),
        args: ['SET', entry.key, toBuffer(entry.value), 'PX', Math.max(1, Math.ceil(entry.ttlMs))],
      })),
    )
    if (failed.length > 0) {
      const error = new TierCacheError(
        'STORE_UNAVAILABLE',
        `${failed.length} of ${entries.length} entries could not be written: their master is down or failing over`,
      )
      throw Object.assign(error, { unwritten: failed.map((i) => entries[i]!.key) })
    }
  }

  /**
   * Whole batch, not per master: a tag whose generation cannot be read cannot be verified, and an
   * unverifiable tag must never count as valid (0 would mean "never invalidated"). The engine treats the
   * rejection as "entries with these tags are misses".
   */
  async getGenerations(keys: readonly string[]): Promise<number[]> {
    const out = new Array<number>(keys.length).fill(0)
    if (keys.length === 0) return out
    const groups = groupBySlot(keys, this.options.maxKeysPerCommand)
    const replies = await this.#batch(
      'getGenerations',
      this.options.readDeadlineMs,
      groups.map((group) => ({ slot: group.slot, args: ['MGET', ...group.keys] })),
    )
    groups.forEach((group, g) => {
      const values = replies[g] as Array<Buffer | null>
      group.indexes.forEach((index, j) => {
        const raw = values[j]
        out[index] = raw == null ? 0 : Number(raw.toString())
      })
    })
    return out
  }

  // ── Invalidations ────────────────────────────────────────────────────────────────────────────────

  /** With a fence, each key goes in one FENCED_DELETE script that also bumps `fence.keys[i]` (same slot). */
  delete(keys: readonly string[], fence?: Fence): Promise<InvalidationResult> {
    return this.#invalidate(
      fence === undefined ? { kind: 'delete', keys: [...keys] } : { kind: 'delete', keys: [...keys], fence },
    )
  }

  async bumpGenerations(keys: readonly string[]): Promise<InvalidationResult & { generations?: number[] }> {
    const op: QueuedInvalidation = { kind: 'bumpGenerations', keys: [...keys] }
    try {
      const generations = await this.#bump(op.keys, this.options.invalidationDeadlineMs)
      this.#scheduleReplay(0)
      return { status: 'applied', generations }
    } catch (error) {
      return this.#queueOrThrow('bumpGenerations', op, error)
    }
  }

  /** With a fence, every fence key is bumped (per node, pipelined) before the scan removes anything. */
  clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence): Promise<InvalidationResult> {
    return this.#invalidate(clearOp(prefix, keepPrefix, fence))
  }

  async #invalidate(op: QueuedInvalidation): Promise<InvalidationResult> {
    try {
      await this.#apply(op, this.options.invalidationDeadlineMs)
      if (this.#queue.size > 0) this.#scheduleReplay(0)
      return APPLIED
    } catch (error) {
      return this.#queueOrThrow(op.kind, op, error)
    }
  }

  #queueOrThrow(operation: string, op: QueuedInvalidation, error: unknown): InvalidationResult {
    if (this.#fatal || (error instanceof TierCacheError && error.fatal)) throw this.#fatal ?? error
    if (classifyRedisError(error) !== 'retryable') throw error
    const replayed = this.#queue.enqueue(op)
    this.#emit({ type: 'invalidation-queued', operation, queueSize: this.#queue.size })
    this.#scheduleReplay(REPLAY_INTERVAL_MS)
    return { status: 'queued', replayed }
  }

  #apply(op: QueuedInvalidation, deadlineMs: number): Promise<unknown> {
    switch (op.kind) {
      case 'delete': {
        if (op.fence !== undefined) return this.#fencedDelete(op.keys, op.fence, deadlineMs)
        const groups = groupBySlot(op.keys, this.options.maxKeysPerCommand)
        return this.#batch(
          'delete',
          deadlineMs,
          groups.map((group) => ({ slot: group.slot, args: ['UNLINK', ...group.keys] })),
          true,
        )
      }
      case 'bumpGenerations':
        return this.#bump(op.keys, deadlineMs)
      case 'clearPrefix':
        return this.#clear(op.prefix, op.keepPrefix, op.fence, deadlineMs)
    }
  }

  /**
   * One FENCED_DELETE per key (UNLINK + INCR of its fence, atomically), batched per node. A retry re-sends
   * only unanswered scripts; one whose reply was lost may bump twice (a higher generation only refuses more).
   */
  #fencedDelete(keys: readonly string[], fence: Fence, deadlineMs: number): Promise<unknown[]> {
    const px = Math.max(1, Math.ceil(fence.ttlMs))
    return this.#batch(
      'delete',
      deadlineMs,
      keys.map((key, i) => ({
        slot: slotOf(key),
        script: true,
        args: ['tiercacheFencedDelete', key, fence.keys[i]!, px],
      })),
      true,
    )
  }

  /**
   * FENCE_BUMP of every fence key (a clear's: one per slot on a cluster; after a replay queue overflow, also
   * key fences). Masters side by side, each master's share in pipelines of {@link FENCE_BUMP_CHUNK} one after
   * another: 16,384 scripts built at once would block the event loop long enough for their own replies'
   * command timeouts to fire before the replies are read.
   */
  async #bumpFences(fence: Fence, deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs
    const px = Math.max(1, Math.ceil(fence.ttlMs))
    const byMaster = new Map<string, SlotCommand[]>()
    for (const key of fence.keys) {
      const slot = slotOf(key)
      const master = this.#masterOf(slot)
      let list = byMaster.get(master)
      if (list === undefined) {
        list = []
        byMaster.set(master, list)
      }
      list.push({ slot, script: true, args: ['tiercacheFenceBump', key, px] })
    }
    await Promise.all(
      [...byMaster.values()].map(async (commands) => {
        for (let i = 0; i < commands.length; i += FENCE_BUMP_CHUNK) {
          await this.#batch('clear', deadline - Date.now(), commands.slice(i, i + FENCE_BUMP_CHUNK), true)
        }
      }),
    )
  }

  async #bump(keys: readonly string[], deadlineMs: number): Promise<number[]> {
    // INCR per key, batched per node; a retry re-sends only unanswered INCRs (an INCR whose reply was lost
    // may count twice: a higher generation only invalidates more, never less).
    const replies = await this.#batch(
      'bumpGenerations',
      deadlineMs,
      keys.map((key) => ({ slot: slotOf(key), args: ['INCR', key] })),
      true,
    )
    return replies.map((reply) => Number(reply))
  }

  /**
   * SCAN every master for `prefix*` (glob characters escaped) and UNLINK what it finds, one UNLINK per slot
   * through the batcher (so a key whose slot moved meanwhile is followed by MOVED/ASK). When the slot map
   * changed during the pass (resharding, failover), keys may have moved behind the scan: scan again.
   */
  async #clear(
    prefix: string,
    keepPrefix: string | undefined,
    fence: Fence | undefined,
    deadlineMs: number,
  ): Promise<void> {
    const deadline = Date.now() + deadlineMs
    // Fences first: a load that read them before this clear can no longer write what the scan removes.
    if (fence !== undefined) await this.#bumpFences(fence, deadlineMs)
    const pattern = `${escapeGlob(prefix)}*`
    // 'replicated': the connections that carried this clear's UNLINKs and have not been confirmed by WAIT.
    // Kept across retries: a rescan finds nothing left to delete, yet the deletions must still reach the
    // replicas. A connection that is gone fails its WAIT until the clear is queued; the replay starts over.
    const unconfirmed = this.#waits ? new Set<Redis | string>() : undefined
    await this.#withRetry('clear', Math.max(0, deadline - Date.now()), async () => {
      for (let pass = 0; pass < 3; pass++) {
        const before = this.#watch.signature()
        const masters = this.#cluster.nodes('master')
        if (masters.length === 0) throw new TierCacheError('STORE_UNAVAILABLE', 'no master is known')
        await Promise.all(
          masters.map(async (master) => {
            let cursor = '0'
            do {
              const [next, found] = (await master.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)) as [
                string,
                string[],
              ]
              cursor = next
              const keys =
                keepPrefix === undefined ? found : found.filter((key) => !key.startsWith(keepPrefix))
              if (keys.length > 0) {
                const groups = groupBySlot(keys, this.options.maxKeysPerCommand)
                const replies = new Array<unknown>(groups.length)
                const done = new Array<boolean>(groups.length).fill(false)
                // Where the UNLINKs go (noted before they are sent) and, after, where a MOVED sent them; a
                // master with no connection known either time is noted by name (its WAIT fails: retried).
                const known = new Set<string>()
                const noteCarriers = (after: boolean) => {
                  if (unconfirmed === undefined) return
                  const connections = this.#nodeConnections()
                  for (const group of groups) {
                    const master = this.#masterOf(group.slot)
                    const connection = connections.get(master)
                    if (connection !== undefined) {
                      unconfirmed.add(connection)
                      known.add(master)
                    } else if (after && !known.has(master)) unconfirmed.add(master)
                  }
                }
                noteCarriers(false)
                await this.#batcher.run(
                  groups.map((group) => ({ slot: group.slot, args: ['UNLINK', ...group.keys] })),
                  replies,
                  done,
                )
                noteCarriers(true)
              }
            } while (cursor !== '0')
          }),
        )
        this.#watch.check()
        if (this.#watch.signature() === before) break
      }
      if (unconfirmed === undefined || unconfirmed.size === 0) return
      const failed = await this.#waitOn(unconfirmed)
      unconfirmed.clear()
      for (const connection of failed.keys()) unconfirmed.add(connection)
      const [error] = failed.values()
      if (error !== undefined) throw error
    })
  }

  #scheduleReplay(delayMs: number): void {
    if (this.#closed || this.#queue.size === 0 || this.#replayTimer !== undefined) return
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined
      if (this.#closed || this.#queue.size === 0) return
      this.#queue
        .replay((op) => this.#apply(op, this.options.invalidationDeadlineMs).then(() => undefined))
        .then(
          (count) => {
            if (count > 0) this.#emit({ type: 'invalidation-replayed', count })
          },
          () => undefined,
        )
        .finally(() => this.#scheduleReplay(REPLAY_INTERVAL_MS))
    }, delayMs)
    this.#replayTimer.unref()
  }

  // ── Health and shutdown ──────────────────────────────────────────────────────────────────────────

  health(): StoreHealth {
    const status = this.#cluster.status
    const open = [...this.#breakers.values()].filter((breaker) => breaker.state !== 'closed')
    const state = this.#closed
      ? 'closed'
      : this.#fatal
        ? 'down'
        : status === 'ready'
          ? open.length > 0 || this.#queue.size > 0
            ? 'degraded'
            : 'ready'
          : status === 'connecting' || status === 'connect' || status === 'wait'
            ? 'connecting'
            : 'down'
    return {
      state,
      circuit: open.some((breaker) => breaker.state === 'open')
        ? 'open'
        : open.length > 0
          ? 'half-open'
          : 'closed',
      queuedInvalidations: this.#queue.size,
      detail: {
        status,
        masters: this.#cluster.nodes('master').map(nodeKey),
        busNode: this.bus.node,
        consistency: this.options.consistency,
        ...(this.options.consistency === 'replicated'
          ? { waitReplicas: this.options.waitReplicas, waitTimeoutMs: this.options.waitTimeoutMs }
          : {}),
        ...(this.#fatal ? { error: this.#fatal.message } : {}),
        ...(this.#diagnosis ? { diagnosis: this.#diagnosis.message } : {}),
      },
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // Give queued invalidations one short chance to land before giving up on them.
    if (this.#queue.size > 0 && this.#cluster.status === 'ready') {
      await withTimeout(
        this.#queue.replay((op) => this.#apply(op, this.options.writeDeadlineMs).then(() => undefined)),
        this.options.writeDeadlineMs,
        'close',
      ).catch(() => undefined)
    }
    this.#closed = true
    clearTimeout(this.#replayTimer)
    this.#queue.close()
    this.bus.close()
    this.#cluster.disconnect()
  }
}

/** Rejects with COMMAND_TIMEOUT when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TierCacheError('COMMAND_TIMEOUT', `${operation} did not finish within ${ms} ms`)),
      Math.max(0, ms),
    )
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** A node connection's slot-map key, `host:port` (as ioredis names the node in its slot map). */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/** Escapes the glob characters of SCAN MATCH (`* ? [ ] \`) so a prefix matches literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}
