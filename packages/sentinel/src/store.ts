import { setMaxListeners } from 'node:events'
import {
  type BusMessage,
  type Fence,
  type FencedRead,
  type InvalidationResult,
  type StoreEntry,
  type StoreHealth,
  TierCacheError,
} from '@tiercache/core'
import {
  baseClientOptions,
  clearOp,
  guardStreams,
  haltOnAuthFailure,
  isRetryableRedisError,
  type QueuedInvalidation,
  RedisStore,
  type RedisTuning,
  retryWithDeadline,
  toFatalError,
} from '@tiercache/redis'
import { Redis, type RedisOptions } from 'ioredis'
import { rewindSentinelSearch, sentinelConnectionOptions } from './connection.js'
import { FailoverDetector, type FailoverNotice } from './failover-detector.js'
import { FailoverJournal } from './failover-journal.js'
import type { ResolvedSentinelOptions } from './options.js'
import { type PendingWrite, PendingWrites } from './pending-writes.js'
import { ReplicaReadGuard } from './replica-read-guard.js'

/**
 * The Redis store over Sentinel-managed connections, failover-aware.
 *
 * What it adds to `RedisStore` (whose reads, invalidations, replay queue, breaker and bus it reuses):
 * - **Master discovery and re-resolution.** Every connection resolves the master through the sentinels,
 *   follows `+switch-master`, and treats READONLY / connection loss as "master moved" (see connection.ts).
 * - **Writes survive the failover.** `set`/`setMany` return to the caller after at most `writeWaitMs`; the
 *   write keeps retrying (backoff + full jitter) until the new master takes it or `writeDeadlineMs` passes.
 *   Meanwhile reads of the key see the pending value; a later write or invalidation of the key supersedes
 *   it. A write that cannot land within its deadline is turned into an invalidation of the key (queued and
 *   replayed if need be), so the master can never keep serving the value it was meant to replace.
 * - **`consistency: 'replicated'`**: invalidations are followed by `WAIT` and count as applied only once
 *   enough replicas have them, so a promoted replica cannot resurrect an invalidated value.
 * - **`role: 'replica'`**: reads from a replica, falling back to the master when none is connected.
 * - **Failover events**: `{ type: 'failover', detail: { from, to, via, master } }` through `observe`.
 */
export class SentinelStore extends RedisStore {
  readonly options: ResolvedSentinelOptions
  readonly #pending = new PendingWrites()
  readonly #journal: FailoverJournal
  /** `role: 'replica'` only: keys a replica may not have caught up with yet. */
  readonly #guard: ReplicaReadGuard | undefined
  readonly #detector: FailoverDetector
  readonly #clients: Redis[]
  /** Aborts every pending retry sleep on close; one listener per pending write, so no listener limit. */
  readonly #abort = unlimitedAbortController()
  readonly #writeWaitMs: number
  readonly #invalidationWaitMs: number
  readonly #baseOptions: RedisOptions
  /** Which master each connection (ioredis stream) talks to; see `#link`. */
  readonly #nodes = new WeakMap<object, string>()
  #anonymousNodes = 0
  #replica: Redis | undefined
  #failovers = 0
  /** Invalidations still retrying in the Redis store (not yet applied or queued). */
  #invalidating = 0
  #lastFailover: FailoverNotice | undefined
  #sentinelsDown = false
  /** Sentinels whose last connection attempt failed on configuration (TLS refused, credentials refused). */
  readonly #misconfiguredSentinels = new Map<string, TierCacheError>()
  /** The data connection found no sentinel to answer since it was last ready. */
  #sentinelsUnreachable = false
  /** That a misconfigured sentinel made the store fatal was reported since it was last ready. */
  #misconfigurationReported = false

  constructor(options: ResolvedSentinelOptions, tuning: RedisTuning, extra: SentinelExtras = {}) {
    const base: RedisOptions = { ...baseClientOptions(tuning), ...extra.ioredis }
    const clients: Redis[] = []
    // Only replica reads need it; with role 'master' there is nothing to guard.
    const guard =
      options.role === 'replica'
        ? new ReplicaReadGuard(extra.replicaLagWindowMs ?? SENTINEL_DEFAULTS.replicaLagWindowMs)
        : undefined
    super({
      kind: 'sentinel',
      ...(guard !== undefined ? { onBusMessage: (message: BusMessage) => guard.observe(message) } : {}),
      tuning,
      createClient: (role) => {
        const client = new Redis({
          ...sentinelConnectionOptions(options, 'master', base),
          connectionName: role === 'subscriber' ? 'tiercache:bus' : 'tiercache',
        })
        clients.push(client)
        // A rejected password ends the reconnect loop (AUTH_FAILED); a second socket error cannot crash; a
        // reconnect asks the sentinel that answered last first.
        return haltOnAuthFailure(guardStreams(rewindSentinelSearch(client)))
      },
    })
    this.options = options
    this.#guard = guard
    this.#clients = clients
    this.#baseOptions = base
    this.#writeWaitMs = extra.writeWaitMs ?? SENTINEL_DEFAULTS.writeWaitMs
    this.#invalidationWaitMs = extra.invalidationWaitMs ?? SENTINEL_DEFAULTS.invalidationWaitMs
    this.#journal = new FailoverJournal(extra.failoverWindowMs ?? SENTINEL_DEFAULTS.failoverWindowMs)
    this.#detector = new FailoverDetector(options, {
      onFailover: (notice) => this.#onFailover(notice),
      onSentinelStatus: (sentinel, error) => this.#onSentinelStatus(sentinel, error),
    })
    this.#detector.start()
    this.#identifyNodes(this.client)
    this.client.on('ready', () => {
      this.#sentinelsDown = false
      this.#sentinelsUnreachable = false
      this.#misconfigurationReported = false
      const address = addressOf(this.client)
      if (address !== undefined) this.#detector.observeMaster(address)
      // Landed on another master: start repairing it now rather than at the next command.
      this.#link()
    })
    this.client.on('error', (error: Error) => this.#onClientError(error))
    // Consecutive failures on a connection that looks fine (a paused master answers nothing, and no
    // +switch-master reached us yet): ask the sentinels again rather than wait on a node that may be gone.
    this.breaker.onStateChange((state) => {
      if (state === 'open') this.#reresolve(undefined)
    })
  }

  // ── Failover ─────────────────────────────────────────────────────────────────────────────────────────

  #onFailover(notice: FailoverNotice): void {
    this.#failovers++
    this.#lastFailover = notice
    // Re-invalidation is not started here but when the connection lands on the new master (`#link`): sent
    // now, it would still go to the old master, which may acknowledge it and lose it like the rest.
    const reinvalidated = this.#journal.exposed()
    this.emit({
      type: 'failover',
      detail: { master: this.options.name, from: notice.from, to: notice.to, via: notice.via, reinvalidated },
    })
    // A connection still on the old master (paused, or demoted and answering READONLY) moves now; one
    // that is reconnecting resolves the new master by itself.
    if (notice.via === 'switch-master') this.#reresolve(notice.to)
  }

  /** Drops every ready connection that is not on `master` (all of them when undefined); they re-resolve. */
  #reresolve(master: string | undefined): void {
    const clients = this.#replica ? [...this.#clients, this.#replica] : this.#clients
    for (const client of clients) {
      if (client === this.#replica) {
        // A replica connection that landed on the new master (it was promoted) must find a replica again.
        if (master !== undefined && addressOf(client) === master) client.disconnect(true)
      } else if (
        // 'connect': TCP up, ready check unanswered — e.g. on a paused master.
        (client.status === 'ready' || client.status === 'connect') &&
        (master === undefined || addressOf(client) !== master)
      ) {
        client.disconnect(true)
      }
    }
  }

  // ── Which master answers ─────────────────────────────────────────────────────────────────────────────

  /**
   * Names the master behind each new connection from the INFO reply of ioredis's ready check (no extra
   * round trip): address, `run_id` (changes on restart) and `master_replid` (changes on every promotion and
   * full resync). So "the same node" means "has not lost a write since": a node demoted and promoted again
   * has a new identity. Without that INFO (ACL without INFO, ready check off) every connection counts as
   * another node: safe, at the cost of re-invalidating after every reconnect.
   */
  #identifyNodes(client: Redis): void {
    type Check = (info: Record<string, string>) => boolean
    const connector = (client as unknown as { connector?: { check?: Check } }).connector
    const check = connector?.check
    if (connector === undefined || typeof check !== 'function') return
    connector.check = (info) => {
      const ok = check.call(connector, info)
      if (ok && client.stream && info.run_id && info.master_replid)
        this.#nodes.set(client.stream, `${addressOf(client) ?? '?'} ${info.run_id} ${info.master_replid}`)
      return ok
    }
  }

  /**
   * The connection the next command goes out on and the master behind it (undefined while not connected).
   * When that is another master than before, the journal moves there and the repair starts: everything
   * written within the window, acknowledged by another master, is invalidated again on this one.
   */
  #link(): Link | undefined {
    if (this.client.status !== 'ready') return undefined
    const stream = this.client.stream as object
    let node = this.#nodes.get(stream)
    if (node === undefined) {
      node = `${addressOf(this.client) ?? '?'} #${++this.#anonymousNodes}`
      this.#nodes.set(stream, node)
    }
    if (node !== this.#journal.current) {
      const { repairs, overflowed } = this.#journal.moveTo(node)
      if (overflowed) this.emit({ type: 'invalidation-overflow', dropped: 0 })
      if (repairs > 0) queueMicrotask(() => this.#repair())
    }
    return { stream, node }
  }

  /** The reply of a command sent on `link` came over that same connection (ioredis did not resend it). */
  #sameLink(link: Link | undefined): boolean {
    return link === undefined || this.client.stream === link.stream
  }

  /**
   * Undoes on the current master what a failover may have lost (see FailoverJournal). Goes through the Redis
   * store's invalidation path (retry, then replay queue), bypassing this class's overrides: a pending write
   * is newer than anything in the journal and must not be superseded. Each repair counts once it is
   * acknowledged by the current master (`#acknowledged`); until then its keys read as misses.
   */
  #repair(): void {
    if (this.#abort.signal.aborted) return
    for (const op of this.#journal.repairs()) {
      const run: Promise<InvalidationResult> =
        op.kind === 'delete'
          ? super.delete(op.keys, op.fence)
          : op.kind === 'bumpGenerations'
            ? super.bumpGenerations(op.keys)
            : super.clearPrefix(op.prefix, op.keepPrefix, op.fence)
      run
        .then((result) => (result.status === 'applied' ? undefined : result.replayed))
        .catch((error: unknown) => this.emit({ type: 'error', operation: 'failover-reinvalidate', error }))
    }
  }

  /**
   * Runs one write on the current connection and journals it as acknowledged by that connection's master.
   * A reply that came over another connection (ioredis resends what was in flight when a connection
   * dropped) may come from either node: the write is retried, so the journal never names the wrong one.
   */
  async #acknowledged<T>(op: QueuedInvalidation, run: () => Promise<T>): Promise<T> {
    const link = this.#link()
    if (link === undefined) throw this.#notConnected()
    const result = await run()
    if (!this.#sameLink(link))
      throw new TierCacheError(
        'STORE_UNAVAILABLE',
        `the connection to the master of '${this.options.name}' changed while a write was in flight`,
      )
    this.#journal.record(op, link.node)
    return result
  }

  #onClientError(error: Error): void {
    // ioredis says "All sentinels are unreachable. Retrying from scratch after N ms." — say what it means.
    // Only when the sentinels themselves failed ("Last error: …"); during a failover ioredis says the same
    // without one, when the sentinels answered but the master they named refused the connection.
    const message = error?.message ?? ''
    if (!/All sentinels are unreachable.*Last error/is.test(message)) return
    this.#sentinelsUnreachable = true
    // Refused credentials ("Last error: WRONGPASS …") are already fatal in the Redis store.
    if (toFatalError(error) !== undefined) return
    if (this.#reportMisconfiguredSentinel()) return
    if (this.#sentinelsDown) return
    this.#sentinelsDown = true
    const sentinels = this.options.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')
    this.emit({
      type: 'error',
      operation: 'sentinel',
      error: new TierCacheError(
        'STORE_UNAVAILABLE',
        `none of the sentinels (${sentinels}) answered for master '${this.options.name}'; the cache ` +
          'runs on L1 and loaders (fail-open) and reconnects when a sentinel is back',
        { cause: error },
      ),
    })
  }

  #onSentinelStatus(sentinel: string, error: unknown): void {
    const fatal = error === undefined ? undefined : toFatalError(error, `the sentinel ${sentinel}`)
    if (fatal === undefined) {
      // up, or down for a reason time can fix (refused, reset): no longer a configuration problem
      this.#misconfiguredSentinels.delete(sentinel)
      return
    }
    this.#misconfiguredSentinels.set(sentinel, fatal)
    this.#reportMisconfiguredSentinel()
  }

  /**
   * While the data connection finds no sentinel to answer (it is not ready and has seen "All sentinels are
   * unreachable"), a sentinel that refused our TLS or credentials is the diagnosis: that is misconfiguration,
   * so the store turns fatal (TLS_FAILED / AUTH_FAILED) instead of failing open until `ready()` times out.
   * Handed to the Redis store through the connection's own `error` event, its one path for connection
   * errors (it clears again once the connection is ready).
   */
  #reportMisconfiguredSentinel(): boolean {
    if (this.client.status === 'ready' || !this.#sentinelsUnreachable) return false
    const [fatal] = this.#misconfiguredSentinels.values()
    if (fatal === undefined) return false
    if (!this.#misconfigurationReported) {
      this.#misconfigurationReported = true
      this.client.emit('error', fatal)
    }
    return true
  }

  // ── Reads ────────────────────────────────────────────────────────────────────────────────────────────

  /*
   * Reads and failovers: a key is read only from a master that acknowledged its newest write (or that the
   * failover repair reached), decided when the read is sent; a reply that came back over another connection
   * than the one it was sent on (ioredis resent it after a reconnect, possibly to the new master before the
   * repair) is a miss.
   */

  override async get(key: string): Promise<Uint8Array | undefined> {
    const pending = this.#pending.read(key)
    if (pending !== undefined) return pending
    const link = this.#link()
    if (this.#journal.isSuspect(key, link?.node)) return undefined
    const bytes = await this.#withinReadTimeout(async () => {
      // Asked first in any case: it also opens the replica connection on first use.
      const ready = this.#readyReplica()
      const replica = this.#guard?.needsMaster(key) ? undefined : ready
      if (replica !== undefined) {
        const bytes = await this.#fromReplica(() => replica.getBuffer(key))
        if (bytes !== FALLBACK) return bytes ?? undefined
      }
      return super.get(key)
    })
    return this.#sameLink(link) ? bytes : undefined
  }

  override async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return []
    const pending = keys.map((key) => this.#pending.read(key))
    if (pending.every((bytes) => bytes !== undefined)) return pending
    const link = this.#link()
    const suspect = keys.map((key) => this.#journal.isSuspect(key, link?.node))
    const remote = await this.#withinReadTimeout(async () => {
      const ready = this.#readyReplica()
      const guard = this.#guard
      const replica = guard && keys.some((key) => guard.needsMaster(key)) ? undefined : ready
      if (replica !== undefined) {
        const replies = await this.#fromReplica(() => replica.mgetBuffer(...keys))
        if (replies !== FALLBACK) return replies.map((bytes) => bytes ?? undefined)
      }
      return super.getMany(keys)
    })
    const moved = !this.#sameLink(link)
    return remote.map((bytes, i) => pending[i] ?? (suspect[i] || moved ? undefined : bytes))
  }

  /**
   * A getOrSet read: always from the master (the fence generations must be the master's, which the
   * conditional write is checked against), with the same journal rules as `get`.
   */
  override async getFenced(key: string, fence: readonly string[]): Promise<FencedRead> {
    const link = this.#link()
    const read = await this.#withinReadTimeout(() => super.getFenced(key, fence))
    if (!this.#sameLink(link))
      throw new TierCacheError('STORE_UNAVAILABLE', 'the connection moved to another node during the read')
    const pending = this.#pending.read(key)
    if (pending !== undefined) return { value: pending, generations: read.generations }
    return this.#journal.isSuspect(key, link?.node)
      ? { value: undefined, generations: read.generations }
      : read
  }

  /**
   * A loader's conditional write, journaled like a `set` (a failover that loses it is repaired by deleting
   * the key on the new master). The caller waits at most the command timeout.
   */
  override setFenced(
    entry: StoreEntry,
    fence: readonly string[],
    expected: readonly number[],
  ): Promise<boolean> {
    const landing = this.#withinReadTimeout(() =>
      this.#acknowledged({ kind: 'delete', keys: [entry.key] }, () =>
        super.setFenced(entry, fence, expected),
      ),
    )
    this.#guardAfter(landing, (guard) => guard.touch([entry.key]))
    return landing
  }

  override async getGenerations(keys: readonly string[]): Promise<number[]> {
    // A generation whose re-bump has not landed may be one that the failover rolled back.
    const link = this.#link()
    if (keys.some((key) => this.#journal.isSuspect(key, link?.node)))
      throw new TierCacheError('STORE_UNAVAILABLE', 'tag generations are being re-applied after a failover')
    const generations = await this.#withinReadTimeout(() => super.getGenerations(keys))
    if (!this.#sameLink(link))
      throw new TierCacheError('STORE_UNAVAILABLE', 'the connection moved to another node during the read')
    return generations
  }

  /**
   * One read never waits longer than the command timeout in all. ioredis resends a command that was in
   * flight when its connection dropped (which we do on a switch), with a fresh timeout: without this
   * bound a read caught on a paused master would wait two timeouts.
   */
  #withinReadTimeout<T>(read: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeoutMs = this.tuning.commandTimeoutMs
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new TierCacheError('COMMAND_TIMEOUT', `no answer from the master within ${timeoutMs} ms`)),
        timeoutMs,
      )
    })
    return Promise.race([read(), expired]).finally(() => clearTimeout(timer))
  }

  /** The replica connection when `role: 'replica'` and it is up; undefined → read from the master. */
  #readyReplica(): Redis | undefined {
    if (this.options.role !== 'replica' || this.#abort.signal.aborted) return undefined
    if (this.#replica === undefined) {
      const replica = new Redis({
        ...sentinelConnectionOptions(this.options, 'replica', this.#baseOptions),
        connectionName: 'tiercache:replica',
      })
      haltOnAuthFailure(guardStreams(rewindSentinelSearch(replica))).on('error', () => undefined)
      replica.connect().catch(() => undefined)
      this.#replica = replica
    }
    return this.#replica.status === 'ready' ? this.#replica : undefined
  }

  /** A replica read; a failure that is not a timeout falls back to the master (FALLBACK). */
  async #fromReplica<T>(read: () => Promise<T>): Promise<T | typeof FALLBACK> {
    try {
      return await read()
    } catch (error) {
      // After a timed-out replica read the call has spent its budget: fail open instead of asking again.
      if (/timed out/i.test(String((error as Error)?.message))) throw error
      return FALLBACK
    }
  }

  // ── Writes ───────────────────────────────────────────────────────────────────────────────────────────

  override set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    const px = Math.max(1, Math.ceil(ttlMs))
    const write = this.#pending.begin({ key, value, expiresAt: Date.now() + px })
    const bytes = toBuffer(value)
    const landing = this.#land('set', [write], () => this.client.set(key, bytes, 'PX', px))
    this.#guardAfter(landing, (guard) => guard.touch([key]))
    return this.#callerWait(landing)
  }

  override setMany(entries: readonly StoreEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve()
    const now = Date.now()
    const writes = entries.map((entry) =>
      this.#pending.begin({
        key: entry.key,
        value: entry.value,
        expiresAt: now + Math.max(1, Math.ceil(entry.ttlMs)),
      }),
    )
    const landing = this.#land('setMany', writes, async (live) => {
      const pipeline = this.client.pipeline()
      for (const w of live)
        pipeline.set(w.key, toBuffer(w.value), 'PX', Math.max(1, w.expiresAt - Date.now()))
      const results = await pipeline.exec()
      if (results === null) throw new Error('Connection is closed.')
      for (const [error] of results) if (error) throw error
    })
    this.#guardAfter(landing, (guard) => guard.touch(entries.map((entry) => entry.key)))
    return this.#callerWait(landing)
  }

  /**
   * `role: 'replica'`: the keys are read from the master from now until `replicaLagWindowMs` after the
   * change has landed (or its replay has), so a lagging replica cannot answer with what it replaced.
   */
  #guardAfter(change: Promise<unknown>, touch: (guard: ReplicaReadGuard) => void): void {
    const guard = this.#guard
    if (guard === undefined) return
    const again = () => touch(guard)
    again()
    change.then((result) => {
      again()
      const outcome = result as InvalidationResult | undefined
      if (outcome?.status === 'queued') outcome.replayed.then(again, again)
    }, again)
  }

  /**
   * Retries a write until it lands or `writeDeadlineMs` passes. Each attempt first drops the writes that
   * were superseded meanwhile; it goes straight to the connection (not through the breaker, which is open
   * during a failover) and only when it is connected (the offline queue is off: nothing piles up unseen).
   */
  async #land(
    operation: 'set' | 'setMany',
    writes: readonly PendingWrite[],
    send: (live: readonly PendingWrite[]) => Promise<unknown>,
  ): Promise<void> {
    try {
      await retryWithDeadline(
        async () => {
          const live = writes.filter((w) => this.#pending.isCurrent(w))
          if (live.length === 0) return
          await this.#connected()
          await this.#acknowledged({ kind: 'delete', keys: live.map((w) => w.key) }, () => send(live))
        },
        {
          deadlineMs: this.tuning.writeDeadlineMs,
          baseDelayMs: this.tuning.retryBaseDelayMs,
          maxDelayMs: this.tuning.retryMaxDelayMs,
          signal: this.#abort.signal,
          onRetry: ({ attempt, error }) => this.emit({ type: 'retry', operation, attempt, error }),
        },
      )
      for (const w of writes) this.#pending.end(w)
    } catch (error) {
      const live = writes.filter((w) => this.#pending.isCurrent(w))
      const fatal = toFatalError(error, 'the sentinel master')
      const abandon = fatal === undefined && !this.#abort.signal.aborted && isRetryableRedisError(error)
      if (!abandon || live.length === 0) for (const w of live) this.#pending.end(w)
      if (fatal) throw fatal
      this.emit({ type: 'error', operation, error })
      if (abandon && live.length > 0) this.#invalidateUnlanded(live)
    }
  }

  /**
   * A write that never landed: the master may still hold the value it replaced, so the keys are invalidated
   * instead (a miss, never old data). Until that invalidation lands (or its replay settles), the pending
   * writes keep answering reads of their keys — ending them first would let a read fetch the replaced value
   * from the server in between. A newer set or delete of a key still supersedes its write as usual; this
   * goes around this class's `delete`, which would supersede them at once.
   */
  #invalidateUnlanded(live: readonly PendingWrite[]): void {
    const keys = live.map((w) => w.key)
    const result = this.#bounded('delete', super.delete(keys))
    this.#guardAfter(result, (guard) => guard.touch(keys))
    result
      .then((outcome) => (outcome.status === 'applied' ? undefined : outcome.replayed))
      .catch((reason: unknown) => this.emit({ type: 'error', operation: 'delete', error: reason }))
      .finally(() => {
        for (const w of live) this.#pending.end(w)
      })
  }

  /** The caller waits for the write at most `writeWaitMs`; a fatal error (bad password) still reaches it. */
  #callerWait(landing: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#writeWaitMs)
    })
    return Promise.race([landing, waited]).finally(() => clearTimeout(timer))
  }

  async #connected(): Promise<void> {
    const status = this.client.status
    if (status === 'ready') return
    // Never connected yet (lazy): the first connect is worth waiting for, within the attempt's budget.
    if (status === 'wait') return this.ready()
    throw this.#notConnected()
  }

  #notConnected(): TierCacheError {
    return new TierCacheError(
      'STORE_UNAVAILABLE',
      `not connected to the master of '${this.options.name}' (${this.client.status}; failover in progress?)`,
    )
  }

  // ── Invalidations ────────────────────────────────────────────────────────────────────────────────────

  override delete(keys: readonly string[], fence?: Fence): Promise<InvalidationResult> {
    this.#pending.supersede(keys)
    const result = this.#bounded('delete', super.delete(keys, fence))
    this.#guardAfter(result, (guard) => guard.touch(keys))
    return result
  }

  override bumpGenerations(
    keys: readonly string[],
  ): Promise<InvalidationResult & { generations?: number[] }> {
    return this.#bounded('bumpGenerations', super.bumpGenerations(keys))
  }

  override clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence): Promise<InvalidationResult> {
    this.#pending.supersedePrefix(prefix, keepPrefix)
    const result = this.#bounded('clearPrefix', super.clearPrefix(prefix, keepPrefix, fence))
    this.#guardAfter(result, (guard) => guard.touchPrefix(prefix))
    return result
  }

  /**
   * The caller of an invalidation waits at most `invalidationWaitMs`. The Redis store retries within
   * `invalidationDeadlineMs` and then queues — longer than a caller should wait during a failover — so past
   * the wait the invalidation is reported `queued`, and its `replayed` settles when the retry (or the
   * replay) lands. The engine treats the key as invalidated meanwhile (reads are misses).
   */
  #bounded<R extends InvalidationResult>(operation: string, invalidation: Promise<R>): Promise<R> {
    this.#invalidating++
    // (Journaled by the commands themselves, with the master that acknowledged them: `#acknowledged`.)
    const landed = (result: R) =>
      result.status === 'applied' ? Promise.resolve('applied' as const) : result.replayed
    invalidation.then(landed).then(
      () => this.#invalidating--,
      () => this.#invalidating--,
    )
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<'waited'>((resolve) => {
      timer = setTimeout(resolve, this.#invalidationWaitMs, 'waited')
    })
    return Promise.race([invalidation, waited])
      .then((outcome): R => {
        if (outcome !== 'waited') return outcome
        const replayed = invalidation.then(
          (result) => (result.status === 'applied' ? ('applied' as const) : result.replayed),
          (error: unknown) => {
            this.emit({ type: 'error', operation, error })
            return 'dropped' as const
          },
        )
        this.emit({ type: 'invalidation-queued', operation, queueSize: this.replayQueue.size })
        return { status: 'queued', replayed } as unknown as R
      })
      .finally(() => clearTimeout(timer))
  }

  // The invalidation commands (direct, retried, replayed, repairs) are journaled with the acknowledging master.

  protected override unlinkKeys(keys: readonly string[], fence?: Fence): Promise<void> {
    const op: QueuedInvalidation =
      fence === undefined ? { kind: 'delete', keys: [...keys] } : { kind: 'delete', keys: [...keys], fence }
    return this.#acknowledged(op, async () => {
      await super.unlinkKeys(keys, fence)
      await this.#replicated()
    })
  }

  protected override incrKeys(keys: readonly string[]): Promise<number[]> {
    return this.#acknowledged({ kind: 'bumpGenerations', keys: [...keys] }, async () => {
      const generations = await super.incrKeys(keys)
      await this.#replicated()
      return generations
    })
  }

  protected override scanUnlink(prefix: string, keepPrefix?: string, fence?: Fence): Promise<void> {
    return this.#acknowledged(clearOp(prefix, keepPrefix, fence), async () => {
      await super.scanUnlink(prefix, keepPrefix, fence)
      await this.#replicated()
    })
  }

  /**
   * `consistency: 'replicated'`: WAIT on the same connection (it counts this connection's writes), so the
   * invalidation is on `waitReplicas` replicas before it counts as applied. Too few → a retryable error:
   * the invalidation is retried, then queued and replayed (with WAIT again).
   */
  async #replicated(): Promise<void> {
    const o = this.options
    if (o.consistency !== 'replicated' || o.waitReplicas === 0) return
    const acked = Number(await this.client.wait(o.waitReplicas, o.waitTimeoutMs))
    if (acked < o.waitReplicas) {
      throw new TierCacheError(
        'STORE_UNAVAILABLE',
        `only ${acked} of ${o.waitReplicas} replica(s) acknowledged the invalidation within ${o.waitTimeoutMs} ms (WAIT)`,
      )
    }
  }

  // ── Health, close ────────────────────────────────────────────────────────────────────────────────────

  override health(): StoreHealth {
    const health = super.health()
    return {
      ...health,
      detail: {
        ...health.detail,
        masterName: this.options.name,
        master: this.#detector.master,
        role: this.options.role,
        consistency: this.options.consistency,
        sentinels: this.options.sentinels.map((s) => `${s.host}:${s.port}`),
        failovers: this.#failovers,
        ...(this.#lastFailover ? { lastFailover: { ...this.#lastFailover } } : {}),
        pendingWrites: this.#pending.size,
        invalidationsInFlight: this.#invalidating,
        reinvalidating: this.#journal.suspects,
        ...(this.#replica ? { replica: this.#replica.status } : {}),
      },
    }
  }

  override async close(): Promise<void> {
    this.#abort.abort()
    this.#pending.clear()
    this.#detector.close()
    this.#replica?.disconnect()
    await super.close()
  }
}

/** Sentinel-only settings on top of the Redis store's tuning. */
export interface SentinelExtras {
  /** How long `set`/`setMany` wait for the write before returning (it keeps retrying). Default 250 ms. */
  readonly writeWaitMs?: number
  /**
   * How long `delete`/`invalidateTags`/`clear` wait before they report `queued` (they keep retrying, then
   * replay). Default 750 ms.
   */
  readonly invalidationWaitMs?: number
  /** How far back writes are re-invalidated after a failover (see FailoverJournal). Default 10 000 ms. */
  readonly failoverWindowMs?: number
  /** `role: 'replica'`: how long recently changed keys are read from the master (ReplicaReadGuard). */
  readonly replicaLagWindowMs?: number
  /** Extra ioredis options for every data connection (escape hatch). */
  readonly ioredis?: RedisOptions
}

/**
 * Defaults that differ from the standalone store's: a failover on a 1–30 s down-after is expected, not
 * exceptional, so writes keep retrying through it in the background (`writeDeadlineMs`), while callers
 * wait at most `writeWaitMs` / `invalidationWaitMs` (then the work goes on behind them), keeping calls
 * bounded by the read timeout.
 */
export const SENTINEL_DEFAULTS = Object.freeze({
  writeWaitMs: 250,
  invalidationWaitMs: 750,
  failoverWindowMs: 10_000,
  replicaLagWindowMs: 2_000,
  writeDeadlineMs: 15_000,
})

const FALLBACK = Symbol('fallback to master')

/** A connection (ioredis stream, replaced on every reconnect) and the master it talks to. */
interface Link {
  readonly stream: object
  readonly node: string
}

/** `host:port` of the node a connection is on, as the sentinels name it. */
function addressOf(client: Redis): string | undefined {
  const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined
  if (!stream?.remoteAddress || !stream.remotePort) return undefined
  return `${stream.remoteAddress.replace(/^::ffff:/, '')}:${stream.remotePort}`
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function unlimitedAbortController(): AbortController {
  const controller = new AbortController()
  // Many writes may wait on their backoff at once during a failover: each adds an abort listener.
  setMaxListeners(0, controller.signal)
  return controller
}
